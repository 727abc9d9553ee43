"""iked's ``eap { method radius; }`` with FreeRADIUS running the method (RFC 3579), for
strongSwan's charon as the client, in network namespaces: FreeRADIUS (B, beside iked, on
loopback) has the users; iked relays EAP-MSCHAPv2 to it, takes the MSK from the
MS-MPPE keys of the Access-Accept (both AUTHs verify with it), leases the
Framed-IP-Address the server gives and accounts the session (Start, then Stop when charon
ends it).  bob's wrong password is refused by FreeRADIUS: EAP Failure, one log line with his
name, no IKE SA.  EAP-TLS: FreeRADIUS (with iked's certificate) checks charon's
certificate; the MSK again from the MS-MPPE keys, and iked's SIGTERM sends the Stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from compat import Row, record, suite
from freeradius import BINARY, SECRET, FreeRadius
from peers import Namespaces, Racoon2, StrongSwan, wait_until
from test_eap_interop import (
    charon,
    refused_bob,
    server_conf,
    settled,
    start_client,
    tls_conn,
    tls_files,
)
from test_iked_interop import pki_files

USERS = """alice Cleartext-Password := "alice-password"
\tFramed-IP-Address = 198.51.100.77
bob Cleartext-Password := "bob-password"
"""


@pytest.fixture
def radius_pair() -> Iterator[Namespaces]:
    """The namespaces under this file's own prefix."""
    if not BINARY.exists():
        pytest.fail("FreeRADIUS is missing: tests/harness/setup-host.sh installs it")
    ns = Namespaces("rad")
    try:
        yield ns
    finally:
        ns.close()


def radius_conf(r2: Racoon2, files: tuple[str, str, str]) -> str:
    """iked on B as test_eap_interop's, its eap { } relayed to FreeRADIUS on 127.0.0.1."""
    secret = r2.d / "radius.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    text = server_conf(r2, "mschapv2", files)
    old = f'eap {{ method mschapv2; users "{r2.d / "eap.users"}"; }}'
    assert old in text
    return text.replace(old, f'eap {{ method radius; radius_server 127.0.0.1 radius_secret '
                             f'"{secret}"; radius_nas_identifier "racoon2-test"; }}')


def test_strongswan_eap_via_freeradius(radius_pair: Namespaces, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       request: pytest.FixtureRequest) -> None:
    files = pki_files(tmp_path, "ecdsa")
    radius = FreeRadius(tmp_path / "radius", USERS, "127.0.0.1", "127.0.0.1")
    r2 = Racoon2(radius_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        radius.start(radius_pair, "B")
        r2.start(radius_conf(r2, files["B"]))
        ss = start_client(radius_pair, tmp_path, "mschapv2", files["B"][2], monkeypatch)
        refused_bob(r2, ss, "EAP via RADIUS user 'bob' refused: RADIUS Access-Reject")
        # alice: MSK from the MS-MPPE keys, FreeRADIUS's address, CHILD_SA refused here.
        settled(r2, ss)
        log = r2.log()
        assert "EAP via RADIUS user 'alice' authenticated by RADIUS" in log, log
        ss_log = ss.log()
        assert "EAP method EAP_MSCHAPV2 succeeded, MSK established" in ss_log, ss_log
        assert "authentication of '192.0.2.2' with EAP successful" in ss_log, ss_log
        assert "virtual IP 198.51.100.77" in ss_log, ss_log
        wait_until(lambda: "Acct-Status-Type = Start" in radius.detail(), 10,
                   "accounting Start: " + radius.log()[-3000:])
        ss.ctl("--terminate", "--ike", "r2", "--timeout", "10")
        wait_until(lambda: "Acct-Status-Type = Stop" in radius.detail(), 10,
                   "accounting Stop: " + radius.detail())
        detail = radius.detail()
        assert 'User-Name = "alice"' in detail and "Framed-IP-Address = 198.51.100.77" in \
            detail, detail
        assert 'NAS-Identifier = "racoon2-test"' in detail, detail
        assert "Acct-Session-Time = " in detail, detail  # in the Stop
        assert "Traceback" not in r2.log()
        record(request, [
            Row("strongSwan 5.9", suite(ss_log), "EAP-MSCHAPv2 via FreeRADIUS 3.2",
                "up, Framed-IP-Address leased, CHILD_SA negotiated, accounting Start/Stop"),
            Row("strongSwan 5.9", "", "EAP-MSCHAPv2 via FreeRADIUS 3.2, wrong password",
                "Access-Reject: EAP Failure, logged once with the user's name, no IKE SA")])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
        radius.stop()


def test_strongswan_eap_tls_via_freeradius(radius_pair: Namespaces, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           request: pytest.FixtureRequest) -> None:
    files = pki_files(tmp_path, "ecdsa")
    # FreeRADIUS is the TLS server: iked's certificate (charon checks it names the
    # gateway), the CA of charon's.
    radius = FreeRadius(tmp_path / "radius", USERS, "127.0.0.1", "127.0.0.1",
                        tls=(files["B"][0], files["B"][1], files["A"][2]))
    r2 = Racoon2(radius_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        radius.start(radius_pair, "B")
        r2.start(radius_conf(r2, files["B"]))
        ss = charon(radius_pair, tmp_path / "ss", [tls_conn("r2", "good.pem")],
                    "eap-identity eap-tls", monkeypatch, tls_files(files))
        ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log() +
                   radius.log()[-4000:])
        ss_log = ss.log()
        assert "EAP method EAP_TLS succeeded, MSK established" in ss_log, ss_log
        assert "authentication of '192.0.2.2' with EAP successful" in ss_log, ss_log
        assert "Traceback" not in r2.log()
        # iked's SIGTERM deletes the IKE SA; its accounting Stop goes out before iked exits
        wait_until(lambda: "Acct-Status-Type = Start" in radius.detail(), 10,
                   "accounting Start: " + radius.detail())
        assert r2.stop() == {"iked": 0, "spmd": 0}
        assert "Acct-Status-Type = Stop" in radius.detail(), radius.detail()
        record(request, [Row("strongSwan 5.9", suite(ss_log), "EAP-TLS via FreeRADIUS 3.2",
                             "up, MSK from RADIUS, accounting Start/Stop")])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
        radius.stop()
