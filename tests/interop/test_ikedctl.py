"""ikedctl against a running iked with an SA to strongSwan 5.9 (issue 20 item 3): every
command, as a table and as --json, checked against ``swanctl --list-sas`` and charon's log.

One iked (side A, no SA at start) and one charon (side B, responder, libipsec) serve every
case in order: ``initiate`` brings the SA up, ``rekey`` rekeys the CHILD_SA and the IKE SA,
``terminate`` sends the Delete charon logs.  This host's kernel has no ESP: iked's CHILD_SAs
are negotiated but their kernel SAs refused, which ``sa list`` says (``"kernel": "absent"``,
no counters); tests/vm checks the counters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from peers import BIN, CBC_MODP, Namespaces, Racoon2, StrongSwan, racoon2_conf, wait_until


@dataclass
class Setup:
    """The shared daemons."""

    ns: Namespaces
    r2: Racoon2
    ss: StrongSwan
    sock: str

    def ctl(self, *words: str, check: bool = True, user: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """ikedctl WORDS (as ``user`` through setpriv when given)."""
        argv = [str(BIN / "ikedctl"), "-s", self.sock, *words]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr + self.r2.log()
        return done

    def doc(self, *words: str) -> Any:
        """ikedctl --json WORDS, parsed."""
        return json.loads(self.ctl("--json", *words).stdout)

    def sas(self) -> list[dict[str, Any]]:
        """sa list's IKE SAs."""
        sas = self.doc("sa", "list")["sas"]
        assert isinstance(sas, list)
        return sas


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if os.geteuid() != 0:
        pytest.skip("interop tests need root to create network namespaces")
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    d = tmp_path_factory.mktemp("ikedctl")
    ns = Namespaces()
    r2, ss = Racoon2(ns, "A", d / "r2"), StrongSwan(ns, "B", d / "ss")
    # A directory others may enter (not the pytest one): the socket's own mode is the lock.
    run = tempfile.mkdtemp(prefix="ikedctl-")
    os.chmod(run, 0o711)
    sock = f"{run}/iked.ctl"
    try:
        ss.start(4, True, CBC_MODP, initiator=False)
        r2.start(racoon2_conf(r2.d, "A", 4, True, CBC_MODP), "--ctl-socket", sock)
        wait_until(lambda: os.path.exists(sock), 10, "the control socket")
        yield Setup(ns, r2, ss, sock)
    finally:
        r2.stop()
        ss.stop()
        ns.close()
        shutil.rmtree(run, ignore_errors=True)


def _established(s: Setup) -> dict[str, Any] | None:
    up = [sa for sa in s.sas() if sa["state"] == "established" and sa["children"]]
    return up[0] if up else None


def _swan_ike(s: Setup) -> tuple[str, str]:
    """(initiator SPI, responder SPI) of charon's established IKE SA."""
    sas = s.ss.ctl("--list-sas")
    m = re.search(r"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", sas)
    assert m, sas
    return m.group(1), m.group(2)


def _swan_child(s: Setup) -> tuple[str, str]:
    """(charon's inbound SPI, outbound SPI) of its installed CHILD_SA."""
    sas = s.ss.ctl("--list-sas")
    m = re.search(r"INSTALLED, TUNNEL.*?\n.*?in\s+([0-9a-f]{8}),.*?\n\s+out\s+([0-9a-f]{8})",
                  sas, re.S)
    assert m, sas
    return m.group(1), m.group(2)


def test_status_before_any_sa(setup: Setup) -> None:
    doc = setup.doc("status")
    assert doc["daemon"] == "iked" and doc["ike_sas"] == 0 and doc["spmd"] is True
    assert doc["config"] == str(setup.r2.conf)
    assert "192.0.2.1[500]" in doc["sockets"]
    table = setup.ctl("status").stdout
    assert re.search(r"^daemon\s+iked$", table, re.M) and re.search(r"^ike_sas\s+0$", table,
                                                                   re.M), table
    assert setup.ctl("sa", "list").stdout.strip() == "no SA"


def test_initiate_brings_the_sa_up_as_swanctl_shows_it(setup: Setup) -> None:
    doc = setup.doc("initiate", "peer")  # a remote: its first selector
    assert doc == {"initiated": "out"}
    wait_until(lambda: _established(setup) is not None, 20, "the IKE SA")
    sa = _established(setup)
    assert sa is not None
    spi_i, spi_r = _swan_ike(setup)
    assert sa["name"] == f"{spi_i}:{spi_r}" and sa["initiator"] is True
    sas = setup.ss.ctl("--list-sas")
    assert (sa["version"], sa["remote"]) == (2, "peer")
    # Both moved to port 4500 with IKE_AUTH (RFC 7296 §2.23), as charon shows them.
    assert (sa["local"], sa["peer"]) == ("192.0.2.1[4500]", "192.0.2.2[4500]")
    assert "remote '192.0.2.1' @ 192.0.2.1[4500]" in sas, sas
    assert (sa["local_id"], sa["peer_id"]) == ("192.0.2.1", "192.0.2.2")
    assert sa["algorithms"] == "ENCR_AES_CBC-128/AUTH_HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/" \
        "MODP_2048", sa
    assert "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048" in sas, sas
    # charon with libipsec fakes a NAT in front of itself, to have ESP in UDP.
    assert "faking NAT situation" in setup.ss.log()
    assert sa["nat"] == {"detected": True, "local_behind": False}
    assert sa["established"] and sa["rekey"] and sa["rekey"] > sa["established"]
    child = sa["children"][0]
    swan_in, swan_out = _swan_child(setup)
    assert (child["spi_in"], child["spi_out"]) == (swan_out, swan_in), (child, sas)
    assert (child["policy"], child["mode"], child["protocol"]) == ("pol", "tunnel", "esp")
    assert (child["local_ts"], child["remote_ts"]) == ("198.51.100.0/28", "198.51.100.16/28")
    assert "198.51.100.16/28" in sas
    # The host refuses ESP: iked has the keys, the kernel not the SAs, and says so.
    assert (child["kernel"], child["in"], child["out"]) == ("absent", None, None), child
    table = setup.ctl("sa", "list").stdout
    assert re.search(rf"^\s+{sa['id']} IKEv2\s+peer\s+192\.0\.2\.2\[4500\]\s+established", table,
                     re.M), table
    assert f"in 0x{swan_out} out 0x{swan_in}" in table and "kernel SAs absent" in table, table


def test_sa_show_by_number_name_and_spi(setup: Setup) -> None:
    sa = _established(setup)
    assert sa is not None
    spi = sa["children"][0]["spi_in"]
    for ident in (str(sa["id"]), sa["name"], f"0x{spi}"):
        assert setup.doc("sa", "show", ident)["sa"]["name"] == sa["name"]
    table = setup.ctl("sa", "show", str(sa["id"])).stdout
    assert f"IKE SA #{sa['id']} (IKEv2) {sa['name']}" in table
    assert "identities  192.0.2.1 <=> 192.0.2.2" in table and "CHILD_SA pol: ESP" in table
    bad = setup.ctl("sa", "show", "999", check=False)
    assert bad.returncode == 1 and "no SA '999'" in bad.stderr


def test_stats_and_prometheus(setup: Setup) -> None:
    doc = setup.doc("stats")
    assert doc["ike_sas"] >= 1 and doc["child_sas"] >= 1
    assert doc["exchanges"]["initiated"]["IKE_SA_INIT"] >= 1
    assert doc["exchanges"]["initiated"]["IKE_AUTH"] >= 1
    assert doc["events"]["IkeSaUp"] >= 1 and set(doc["dropped"]) >= {"malformed", "bad_icv"}
    prom = setup.ctl("stats", "--prometheus").stdout
    assert "# TYPE racoon2_iked_ike_sas gauge" in prom
    assert 'racoon2_iked_exchanges_total{role="initiated",exchange="IKE_AUTH"}' in prom
    assert re.search(r'^racoon2_iked_dropped_total\{reason="malformed"\} \d+$', prom, re.M)
    assert "retransmits" in setup.ctl("stats").stdout


def test_rekey_child_then_ike_sa(setup: Setup) -> None:
    sa = _established(setup)
    assert sa is not None
    old_child = sa["children"][0]["spi_in"]
    doc = setup.doc("rekey", f"0x{old_child}")
    assert doc["rekeying"][0]["child"] == old_child
    wait_until(lambda: (c := _established(setup)) is not None and any(
        x["spi_in"] != old_child and x["state"] == "installed" for x in c["children"]), 15,
        "the rekeyed CHILD_SA")
    assert re.search(r"parsed CREATE_CHILD_SA request \d+ \[ N\(REKEY_SA\)", setup.ss.log())
    new = _established(setup)
    assert new is not None
    wait_until(lambda: _swan_child(setup)[1] in {c["spi_in"] for c in new["children"]}, 10,
               "charon's new CHILD_SA")
    old_name = new["name"]
    setup.doc("rekey", str(new["id"]))
    wait_until(lambda: (x := _established(setup)) is not None and x["name"] != old_name, 15,
               "the rekeyed IKE SA")
    wait_until(lambda: "_".join(_swan_ike(setup)) != old_name.replace(":", "_"), 10,
               "charon's new IKE SA")
    now = _established(setup)
    assert now is not None and now["name"] == ":".join(_swan_ike(setup))


def test_log_level_and_reload(setup: Setup) -> None:
    assert setup.doc("log-level", "debug")["log_level"] == "debug"
    assert setup.doc("status")["log_level"] == "debug"
    assert setup.doc("log-level", "info") == {"log_level": "info", "was": "debug"}
    bad = setup.ctl("log-level", "loud", check=False)
    assert bad.returncode == 1 and "unknown log level 'loud'" in bad.stderr
    doc = setup.doc("reload")
    assert doc["reloaded"] == str(setup.r2.conf) and "kept, 0 deleted" in doc["message"]
    assert "reloaded" in setup.ctl("reload").stdout


def test_non_root_is_refused(setup: Setup) -> None:
    done = setup.ctl("status", check=False, user="nobody")
    assert done.returncode == 1 and "permission denied" in done.stderr, done
    # Past the file mode, the daemon's own check (SO_PEERCRED) refuses too.
    os.chmod(setup.sock, 0o666)
    try:
        done = setup.ctl("--json", "status", check=False, user="nobody")
    finally:
        os.chmod(setup.sock, 0o600)
    assert done.returncode == 1, done
    assert "uid 65534 is neither root nor the daemon's user" in json.loads(done.stdout)["error"]
    assert "refused a client of uid 65534" in setup.r2.log()


def test_malformed_and_oversized_requests_get_errors_and_the_next_works(setup: Setup) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(setup.sock)
        f = s.makefile("rwb")
        for line in (b'{"command": 5}', b"\xff\xfe", b"x" * 10000, b"frobnicate",
                     b"status"):
            f.write(line + b"\n")
        f.flush()
        answers = [json.loads(f.readline()) for _ in range(5)]
    assert [a["ok"] for a in answers] == [False, False, False, False, True], answers
    assert "longer than 4096" in answers[2]["error"]
    assert "unknown command 'frobnicate'" in answers[3]["error"]
    assert answers[4]["result"]["daemon"] == "iked"


def test_terminate_sends_the_delete_charon_logs(setup: Setup) -> None:
    sa = _established(setup)
    assert sa is not None
    doc = setup.doc("terminate", "peer")  # by remote: every SA of it
    assert [t["name"] for t in doc["terminated"]] == [sa["name"]], doc
    wait_until(lambda: "received DELETE for IKE_SA" in setup.ss.log(), 10, "charon's Delete")
    wait_until(lambda: "ESTABLISHED" not in setup.ss.ctl("--list-sas"), 10,
               "charon's SA gone")
    wait_until(lambda: not setup.sas(), 10, "iked's SA gone")
    assert setup.doc("stats")["events"]["IkeSaDown"] >= 1


def test_ikev1_sas_appear_and_obey(pair: Namespaces, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An ISAKMP SA with charon (IKEv1 Main Mode): listed with its IPsec SA as charon lists
    them, its IPsec SA rekeyed by a new Quick Mode, the ISAKMP SA terminated with a Delete."""
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    from test_ikev1_interop import IKEV1, KERNEL, conf

    monkeypatch.setenv("VERSION", "1")
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    s = Setup(pair, r2, ss, str(tmp_path / "r2" / "iked.ctl"))
    try:
        ss.start(4, True, IKEV1, initiator=False, kernel=KERNEL)
        r2.start(conf(r2), "--ctl-socket", s.sock)
        assert s.doc("initiate", "sel_out") == {"initiated": "sel_out"}
        wait_until(lambda: _established_v1(s) is not None, 20, "the ISAKMP SA")
        sa = _established_v1(s)
        assert sa is not None and sa["version"] == 1 and sa["remote"] == "peer"
        listed = ss.ctl("--list-sas")
        m = re.search(r"ESTABLISHED, IKEv1, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", listed)
        assert m and sa["name"] == f"{m.group(1)}:{m.group(2)}", (sa, listed)
        # charon's IPsec SAs fail on this kernel (netlink, no ESP), unlisted: its log has them.
        child = sa["children"][0]
        assert child["algorithms"] == "ENCR_AES_CBC-128/AUTH_HMAC_SHA1_96", child
        quick = ss.log().count("selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96")
        assert quick == 1 and "IKEv1" in s.ctl("sa", "list").stdout
        s.doc("rekey", f"0x{child['spi_in']}")
        wait_until(lambda: (x := _established_v1(s)) is not None and any(
            c["spi_in"] != child["spi_in"] for c in x["children"]), 15, "the new Quick Mode")
        assert ss.log().count("selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96") == 2
        s.doc("terminate", str(sa["id"]))
        wait_until(lambda: "received DELETE for IKE_SA" in ss.log(), 10, "charon's Delete")
    finally:
        r2.stop()
        ss.stop()


def _established_v1(s: Setup) -> dict[str, Any] | None:
    up = [sa for sa in s.sas() if sa["version"] == 1 and sa["children"] and
          sa["established"] is not None]
    return up[0] if up else None
