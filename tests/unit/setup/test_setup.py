"""racoon2-setup: every case's racoon2.conf passes the daemons' checks, golden outputs for
three, errors as FILE:LINE: found …, expected …, the schema file, and the writer's rules
(0600 secrets, never overwrite without --force, --diff, certificates with the EKUs and SANs
native clients need)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

import racoon2.setup
from racoon2.config import load_config, loads
from racoon2.config.check import check_config
from racoon2.eap.mschapv2 import nt_password_hash
from racoon2.errors import ConfigError
from racoon2.setup.cli import _prompted, main
from racoon2.setup.conf import render
from racoon2.setup.model import load
from racoon2.setup.schema import SCHEMA

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "host-to-host": "case: host-to-host\nlocal: 192.0.2.1\npeer: 192.0.2.2\n",
    "host-to-host-v6-certs": "case: host-to-host\nlocal: 2001:db8::1\npeer: 2001:db8::2\n"
                             "auth: certificates\nlocal_id: a.example.net\n"
                             "peer_id: b.example.net\n",
    "site-to-site": "case: site-to-site\nlocal: 192.0.2.1\npeer: 192.0.2.2\n"
                    "local_nets: [198.51.100.0/28, '2001:db8:1::/64']\n"
                    "peer_nets: [198.51.100.16/28, '2001:db8:2::/64']\n",
    "vpn-server": "case: vpn-server\nlocal: 203.0.113.1\nserver_id: vpn.example.net\n"
                  "nets: [192.0.2.0/24]\npool: {first: 198.51.100.10, last: 198.51.100.250}\n"
                  "dns: [192.0.2.53]\nlegacy_windows: true\n",
    "vpn-client": "case: vpn-client\nserver: 203.0.113.1\nserver_id: vpn.example.net\n"
                  "local_id: alice@example.net\n",
    "kink-host": "case: kink-host\nlocal: 192.0.2.1\npeer: 192.0.2.2\n"
                 "local_principal: kink/a.example.com@EXAMPLE.COM\n"
                 "peer_principal: kink/b.example.com@EXAMPLE.COM\n",
    "l2tp-server": "case: l2tp-server\nlocal: 203.0.113.1\n",
    "vpn-server-eap": "case: vpn-server\nlocal: 203.0.113.1\nserver_id: vpn.example.net\n"
                      "nets: [192.0.2.0/24]\npool: {first: 198.51.100.10, last: 198.51.100.250}"
                      "\nauth: eap\nclients: [alice, bob@example.net]\n",
}


def checked(text: str, kink: bool = False) -> list[str]:
    """The daemons' -n verdict on ``text``: its warnings (a refusal raises)."""
    config = loads(text, "generated.conf")
    daemons = ("kinkd", "spmd") if kink else ("iked", "spmd")
    return [str(w) for d in daemons for w in check_config(config, d)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_passes_the_checks_both_ends(name: str) -> None:
    setup = load(CASES[name], f"{name}.yaml")
    sides = [setup, setup.mirrored()] if name in ("host-to-host", "site-to-site",
                                                  "kink-host") else [setup]
    for side in sides:
        warnings = checked(render(side), kink=name == "kink-host")
        # Only the files not deployed yet (the writer makes them) and what L2TP's IKEv1
        # engine does not run yet.
        assert all("does not exist yet" in w or "by iked's IKEv1 engine yet" in w
                   for w in warnings), warnings


@pytest.mark.parametrize("name", ["host-to-host", "site-to-site", "vpn-server"])
def test_golden(name: str) -> None:
    assert render(load(CASES[name], "x.yaml")) == (GOLDEN / f"{name}.conf").read_text()


def test_site_to_site_pairs_only_networks_of_one_family() -> None:
    setup = load(CASES["site-to-site"], "x.yaml")
    assert setup.pairs() == [("198.51.100.0/28", "198.51.100.16/28"),
                             ("2001:db8:1::/64", "2001:db8:2::/64")]


@pytest.mark.parametrize("text, error", [
    ("case: host-to-host\nlocal: 192.0.2.1\n", "x.yaml:1: found no 'peer', expected 'peer' in "
     "the setup"),
    ("case: host-to-host\nlocal: 192.0.2.1\npeer: 192.0.2.300\n",
     "x.yaml:3: found '192.0.2.300', expected an IPv4 or IPv6 address such as 192.0.2.1 or "
     "2001:db8::1 for 'peer'"),
    ("case: host-to-host\nlocal: 192.0.2.1\npeer: 2001:db8::2\n",
     "x.yaml:3: found 2001:db8::2 (IPv6), expected an IPv4 address like local"),
    ("case: site-to-site\nlocal: 192.0.2.1\npeer: 192.0.2.2\nlocal_nets: [192.0.2.1/24]\n"
     "peer_nets: [198.51.100.0/24]\n",
     "x.yaml:4: found '192.0.2.1/24', expected a network address without host bits "
     "(192.0.2.0/24) for 'local_nets'"),
    ("case: host-to-host\nlocal: 192.0.2.1\npeer: 192.0.2.2\ncolour: blue\n",
     "x.yaml:4: found key 'colour', expected one of case, confdir, run_dir, local, peer, auth,"
     " name, local_id, peer_id"),
    ("case: tunnel\n", "x.yaml:1: found 'tunnel', expected one of host-to-host, site-to-site,"
     " vpn-server, vpn-client, kink-host, l2tp-server for 'case'"),
    ("case: host-to-host\nlocal: 192.0.2.1\n  peer: 192.0.2.2\n",
     # libyaml says "in this context", pyyaml's Python parser "here"
     "x.yaml:3: found a YAML syntax error (mapping values are not allowed …"),
    ("case: vpn-server\nlocal: 203.0.113.1\nnets: [192.0.2.0/24]\n"
     "pool: {first: 198.51.100.20, last: 198.51.100.10}\n",
     "x.yaml:4: found first 198.51.100.20 after last 198.51.100.10, expected first <= last"),
    ("case: vpn-server\nlocal: 203.0.113.1\nnets: [192.0.2.0/24]\n"
     "pool: {first: 198.51.100.10, last: 198.51.100.20}\nauth: eap\n",
     "x.yaml:5: found auth: eap without 'clients', expected the EAP user names in 'clients' "
     "(each is given a password)"),
    ("case: site-to-site\nlocal: 192.0.2.1\npeer: 192.0.2.2\nlocal_nets: [192.0.2.0/28]\n"
     "peer_nets: [192.0.2.16/28]\nauth: eap\n",
     "x.yaml:6: found 'eap', expected one of psk, certificates for 'auth' (EAP user names and "
     "passwords are for case vpn-server: auth: eap, the users in clients)"),
])
def test_errors_name_file_and_line(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(text, "x.yaml")
    if error.endswith("…"):
        assert str(e.value).startswith(error[:-1]) and str(e.value).endswith(
            "), expected valid YAML"), e.value
    else:
        assert str(e.value) == error


def test_the_shipped_schema_is_the_one_used() -> None:
    shipped = Path(racoon2.setup.__file__).with_name("schema.json")
    assert json.loads(shipped.read_text()) == SCHEMA


def test_writer_psk_modes_rerun_force_and_diff(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    answers = tmp_path / "a.yaml"
    answers.write_text(CASES["site-to-site"] + f"confdir: {out}\nrun_dir: {tmp_path}/run\n")
    assert main([str(answers)]) == 0
    assert "every racoon2.conf passed the daemons' -n checks" in capsys.readouterr().out
    for rel in ("spmd.pwd", "psk/peer.psk", "peer/psk/peer.psk", "peer/swanctl.conf"):
        assert (out / rel).stat().st_mode & 0o777 == 0o600, rel
    key = (out / "psk/peer.psk").read_bytes()
    assert key == (out / "peer/psk/peer.psk").read_bytes() and len(key) == 32
    assert f'secret = "{key.decode()}"' in (out / "peer/swanctl.conf").read_text()
    for conf in (out / "racoon2.conf", out / "peer/racoon2.conf"):
        for daemon in ("iked", "spmd"):
            check_config(load_config(str(conf)), daemon)  # as written: raises on refusal
    assert main([str(answers)]) == 0  # a second run changes nothing, keeps the key
    assert "0 files written" in capsys.readouterr().out
    assert main([str(answers), "--set", "peer=192.0.2.3"]) == 1
    assert "exist with other contents" in capsys.readouterr().err
    assert main([str(answers), "--set", "peer=192.0.2.3", "--diff"]) == 0
    diff = capsys.readouterr().out
    assert '+\t\tpeers_ipaddr "192.0.2.3" port 500;' in diff
    assert key.decode() not in diff  # secrets are named, never shown
    assert (out / "psk/peer.psk").read_bytes() == key
    assert main([str(answers), "--set", "peer=192.0.2.3", "--force"]) == 0
    assert '"192.0.2.3"' in (out / "racoon2.conf").read_text()
    assert (out / "psk/peer.psk").read_bytes() == key


def test_writer_certificates_for_native_clients(tmp_path: Path) -> None:
    out = tmp_path / "etc"
    answers = tmp_path / "a.yaml"
    answers.write_text(CASES["vpn-server"].replace("legacy_windows: true\n", "") +
                       f"auth: certificates\nclients: [alice@example.net]\nconfdir: {out}\n")
    assert main([str(answers)]) == 0
    server = x509.load_pem_x509_certificate((out / "certs/host.pem").read_bytes())
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["vpn.example.net"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["203.0.113.1"]
    client_dir = out / "clients/alice@example.net"
    client = x509.load_pem_x509_certificate((client_dir / "certs/host.pem").read_bytes())
    assert client.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name) == [
            "alice@example.net"]
    assert (client_dir / "alice@example.net.p12").stat().st_mode & 0o777 == 0o600
    assert (out / "ca/ca.key").stat().st_mode & 0o777 == 0o600
    assert 'request { ip4; ip4_dns; };' in (client_dir / "racoon2.conf").read_text()
    assert "vips = 0.0.0.0" in (client_dir / "swanctl.conf").read_text()


def test_writer_eap_users_for_native_clients(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "etc"
    answers = tmp_path / "a.yaml"
    answers.write_text(CASES["vpn-server-eap"] + f"confdir: {out}\n")
    assert main([str(answers)]) == 0
    summary = capsys.readouterr().out
    # The server proves itself with a certificate Windows and Apple accept (serverAuth, its
    # name and address), the clients with a password: no client certificate, no PSK.
    server = x509.load_pem_x509_certificate((out / "certs/host.pem").read_bytes())
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    conf = (out / "racoon2.conf").read_text()
    assert "kmp_auth_method { rsasig; };" in conf and "peers_public_key" not in conf
    assert 'eap { method mschapv2; users "${CONFDIR}/eap.users"; };' in conf
    assert not (out / "psk").exists()
    users = {}
    for line in (out / "eap.users").read_text().splitlines():
        if not line.startswith("#"):
            name, secret = line.split()
            users[name] = secret
    assert (out / "eap.users").stat().st_mode & 0o777 == 0o600
    assert sorted(users) == ["alice", "bob@example.net"]
    for user in users:
        bundle = out / "clients" / user
        password = (bundle / "password.txt").read_text()
        assert (bundle / "password.txt").stat().st_mode & 0o777 == 0o600
        assert users[user] == f"nthash:{nt_password_hash(password).hex()}"
        swanctl = (bundle / "swanctl.conf").read_text()
        assert "auth = eap-mschapv2" in swanctl and f"eap_id = {user}" in swanctl
        assert f'secret = "{password}"' in swanctl and "id = vpn.example.net" in swanctl
        assert (bundle / "certs/ca.pem").read_bytes() == (out / "ca/ca.pem").read_bytes()
        assert not (bundle / "racoon2.conf").exists()  # iked is no EAP client
        assert 'Type "IKEv2/IPSec MSCHAPv2", Server address 203.0.113.1' in summary
        assert f"Username {user}, Password: the password." in summary
    assert "-AuthenticationMethod Eap" in summary
    # The users file as iked reads it at start: MSCHAPv2 can use every entry.
    check_config(load_config(str(out / "racoon2.conf")), "iked")
    assert main([str(answers)]) == 0  # a second run keeps the passwords: nothing changes
    assert "0 files written" in capsys.readouterr().out


def test_cli_refuses_nothing_to_read(capsys: pytest.CaptureFixture[str]) -> None:
    if os.isatty(0):
        pytest.skip("stdin is a terminal here: racoon2-setup would prompt")
    assert main([]) == 2
    assert "give a YAML file" in capsys.readouterr().err


def test_every_answer_is_documented() -> None:
    doc = (Path(__file__).parents[3] / "doc" / "setup.md").read_text()
    for branch in SCHEMA["oneOf"]:
        for key in branch["properties"]:
            assert f"`{key}`" in doc, key


def test_prompts_ask_the_required_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["host-to-host", "192.0.2.1", "192.0.2.2", "psk"])
    monkeypatch.setattr("click.prompt", lambda *args, **kwargs: next(answers))
    setup = load(_prompted(), "<answers>")
    assert (setup.case, setup.local, setup.peer, setup.auth) == ("host-to-host", "192.0.2.1",
                                                                 "192.0.2.2", "psk")
