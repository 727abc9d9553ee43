"""The corpus: real racoon.conf files nobody here wrote (tests/convert/corpus/SOURCES).  Each
converts, every statement gets a report line, and the result passes the daemons' own checks
(spmd -n, iked -n); a dozen have a hand-checked expected output in tests/convert/golden/.

R2_REGEN_GOLDEN=1 rewrites the golden files (then read the diff before committing it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from racoon2.convert import convert_text
from racoon2.convert.cli import check_result
from racoon2.convert.output import Outcome
from racoon2.convert.spd import parse_spd
from racoon2.errors import RacoonConfError

CORPUS = Path(__file__).resolve().parents[2] / "convert" / "corpus"
GOLDEN = CORPUS.parent / "golden"

#: Every racoon.conf of the corpus racoon itself reads (the one it refuses is below).
CONFS = sorted(p.name for p in CORPUS.iterdir()
               if p.name.endswith(".conf") or ".conf." in p.name
               if p.name != "racoon-ipsec-tools-roadwarrior-server.conf")

#: golden name → (racoon.conf, SPD or None).
GOLDENS = {
    "sample": ("ipsec-tools-racoon.conf.sample", None),
    "sample-tunnel": ("ipsec-tools-racoon.conf.sample", "tunnel-gateway.setkey"),
    "in-policy02": ("ipsec-tools-racoon.conf.in", "ipsec-tools-setkey-sample-policy02.cf"),
    "in-policy01": ("ipsec-tools-racoon.conf.in", "ipsec-tools-setkey-sample-policy01.cf"),
    "gssapi": ("ipsec-tools-racoon.conf.sample-gssapi", None),
    "inherit": ("ipsec-tools-racoon.conf.sample-inherit", None),
    "natt": ("ipsec-tools-racoon.conf.sample-natt", "tunnel-gateway.setkey"),
    "plainrsa": ("ipsec-tools-racoon.conf.sample-plainrsa", None),
    "roadwarrior-client": ("ipsec-tools-roadwarrior-client.conf", None),
    "roadwarrior-server": ("ipsec-tools-roadwarrior-server.conf", None),
    "roadwarrior-radius": ("ipsec-tools-roadwarrior-server-radius.conf", None),
    "debian": ("racoon-ipsec-tools-debian.conf", None),
    "modern-client": ("racoon-ipsec-tools-roadwarrior-client.conf", None),
    "man-psk-dump": ("racoon.conf.5-example-psk.conf", "tunnel-gateway.setkey-DP"),
    "man-plainrsa": ("racoon.conf.5-example-plainrsa.conf", None),
    "rancher": ("rancher-cattle-racoon.conf", "tunnel-gateway.setkey"),
    "rpi-xauth-rsa": ("racoon-rpi-docker-xauth-rsa.conf", None),
    "guide-freebsd": ("guide-freebsd-handbook-vpn-ipsec.conf",
                      "guide-freebsd-handbook-vpn-ipsec.setkey"),
    "guide-ipv6-howto": ("guide-linux-ipv6-howto-racoon.conf",
                         "guide-linux-ipv6-howto-transport.setkey"),
}


def _convert(conf: str, spd: str | None) -> tuple[str, str]:
    entries = parse_spd((CORPUS / spd).read_text(), spd) if spd else None
    result = convert_text((CORPUS / conf).read_text(), conf, spd=entries)
    return result.text, result.report.render()


@pytest.mark.parametrize("conf", CONFS)
def test_every_corpus_file_converts_and_passes_the_checks(conf: str) -> None:
    result = convert_text((CORPUS / conf).read_text(), conf)
    check_result(result.text, f"{conf}.racoon2")  # raises ConfigError if -n would refuse it
    assert not [e for e in result.report.entries if e.became == "not converted"]


@pytest.mark.parametrize("conf", CONFS)
def test_every_statement_has_a_report_line(conf: str) -> None:
    text = (CORPUS / conf).read_text()
    result = convert_text(text, conf)
    lines = {int(e.where.rsplit(":", 1)[1]) for e in result.report.entries}
    # every line that starts a statement (a directive word at its start) is in the report
    for number, line in enumerate(text.splitlines(), 1):
        word = line.split("#")[0].strip().rstrip(";").split(" ")[0].split("\t")[0]
        if word and word not in ("{", "}", "};") and not word.startswith(("/*", "*")):
            assert number in lines, f"{conf}:{number}: {line.strip()}"


@pytest.mark.parametrize("golden", sorted(GOLDENS))
def test_golden(golden: str) -> None:
    text, report = _convert(*GOLDENS[golden])
    check_result(text, golden)
    for suffix, produced in ((".racoon2.conf", text), (".report", report)):
        path = GOLDEN / f"{golden}{suffix}"
        if os.environ.get("R2_REGEN_GOLDEN"):
            path.write_text(produced)
        assert produced == path.read_text(), f"{path} differs (R2_REGEN_GOLDEN=1 rewrites it)"


def test_the_corpus_file_racoon_refuses_is_refused_with_its_line() -> None:
    # The racoon-ipsec-tools roadwarrior server template writes ldap_cfg, which its own
    # lexer (cftoken.l: ldapcfg) does not know either.
    name = "racoon-ipsec-tools-roadwarrior-server.conf"
    with pytest.raises(RacoonConfError) as e:
        convert_text((CORPUS / name).read_text(), name)
    assert str(e.value).startswith(f"{name}:226: found 'ldap_cfg' in the top level, expected "
                                   "one of ")
    assert "ldapcfg" in str(e.value)


def test_a_radius_gateway_is_left_out_with_what_to_do() -> None:
    # auth_source radius: racoon2 has no RADIUS client, and a remote without its XAuth would
    # let in anyone with the gateway's certificate trust, so the remote is not written
    name = "ipsec-tools-roadwarrior-server-radius.conf"
    result = convert_text((CORPUS / name).read_text(), name)
    assert "remote" not in result.text.split("interface", 1)[1].split("sa ", 1)[0]
    assert "addresspool" not in result.text
    entries = {e.text: e for e in result.report.entries}
    assert entries["auth_source radius"].outcome is Outcome.NONE
    assert "pam_radius_auth" in entries["authentication_method hybrid_rsa_server"].note


@pytest.mark.parametrize("golden", ["sample-tunnel", "in-policy02", "guide-freebsd"])
def test_the_daemons_own_check_mode_accepts_the_golden_output(golden: str,
                                                              tmp_path: Path) -> None:
    conf = tmp_path / "racoon2.conf"
    conf.write_text((GOLDEN / f"{golden}.racoon2.conf").read_text())
    for daemon in ("spmd", "iked"):
        done = subprocess.run([sys.executable, "-m", daemon, "-n", "-f", str(conf)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0 and done.stdout == f"{conf}: configuration OK\n", \
            done.stderr
