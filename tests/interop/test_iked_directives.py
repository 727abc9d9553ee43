"""Directives with their effect on running daemons (issue 15 §2): an infinite lifetime with
-S, a pre-shared key that ends in a newline against strongSwan, and iked without an
``interface ike`` line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from peers import (
    BIN,
    CBC_MODP,
    PSK,
    Namespaces,
    Racoon2,
    StrongSwan,
    racoon2_conf,
    stop_daemons,
    wait_until,
)
from test_iked_interop import assert_strongswan, charon  # noqa: F401 (a fixture)

INFINITE = ("ipsec_sa_lifetime_time 1 hour;",
            "ipsec_sa_lifetime_time infinite; ipsec_sa_lifetime_byte infinite;")
TIMES = ("max_retry_to_send 3;", "max_retry_to_send 3; kmp_sa_lifetime_time infinite; "
         "kmp_sa_lifetime_byte infinite; kmp_sa_nego_time_limit infinite; dpd_delay infinite;")


def test_forced_initiation_with_infinite_lifetimes(pair: Namespaces, tmp_path: Path) -> None:
    """-S on a policy whose SAs have no time or byte limit: both ikeds (-D 0x8, one address,
    told apart by their ports) bring the CHILD_SA up; it used to end in a TypeError."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for me, peer, flags in ((15500, 15501, ()), (15501, 15500, ("-S", "out"))):
            d = tmp_path / str(me)
            d.mkdir()
            key = d / "peer.psk"
            key.write_text(PSK)
            key.chmod(0o600)
            conf = racoon2_conf(d, "A", 4, False, CBC_MODP).replace(
                'ike { "192.0.2.1" port 500; "192.0.2.1" port 4500; };', 'ike { "192.0.2.1"; };'
            ).replace('peers_ipaddr "192.0.2.2" port 500;',
                      f'peers_ipaddr "192.0.2.1"; peers_kmp_port {peer};').replace(
                '"192.0.2.2"', '"192.0.2.1"').replace(*INFINITE).replace(*TIMES)
            (d / "racoon2.conf").write_text(conf)
            check = subprocess.run([str(BIN / "iked"), "-n", "-f", str(d / "racoon2.conf")],
                                   capture_output=True, text=True, check=False)
            assert check.returncode == 0, check.stderr
            log = d / "iked.log"
            logs.append(log)
            with open(log, "wb") as out:
                # No -t: the destination port is peers_kmp_port's.
                procs[str(me)] = subprocess.Popen(
                    ["ip", "netns", "exec", pair.name("A"), str(BIN / "iked"), "-j", "1",
                     "-F", "-D",
                     "0x8", "-p", str(me), "-f", str(d / "racoon2.conf"), *flags],
                    stdout=out, stderr=subprocess.STDOUT)
            wait_until(lambda log=log: "listening on" in log.read_text(), 15, "iked")
        wait_until(lambda: all("CHILD_SA of policy pol up" in p.read_text() for p in logs), 20,
                   "both CHILD_SAs (logged only, -D 0x8)")
        text = logs[1].read_text()
        assert "established with 192.0.2.1[15500] (remote peer, initiator)" in text
        assert all("Traceback" not in p.read_text() for p in logs)
    finally:
        stop_daemons(procs, list(procs))


@pytest.mark.usefixtures("charon")
def test_psk_ending_in_newline_with_strongswan(pair: Namespaces, tmp_path: Path) -> None:
    """The key file's last byte is a newline, and strongSwan is given exactly those bytes
    (hex): the newline is part of the key on both sides, so IKE_AUTH succeeds."""
    key = PSK.encode() + b"\n"
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    plain_env = ss._env
    ss._env = lambda **kw: plain_env(**kw, PSK="0x" + key.hex())  # type: ignore[method-assign]
    try:
        ss.start(4, True, CBC_MODP, initiator=False)
        (r2.d / "peer.psk").write_bytes(key)
        r2.start(racoon2_conf(r2.d, "A", 4, True, CBC_MODP), "-S", "out")
        wait_until(lambda: bool(r2.established()) or "AUTHENTICATION_FAILED" in r2.log(), 20,
                   "the IKE SA")
        assert r2.established(), r2.log()
        wait_until(r2.child_settled, 10, "the CHILD_SA")
        assert_strongswan(ss, True, CBC_MODP)
    finally:
        r2.stop()
        ss.stop()


def test_iked_without_interface_ike_refuses_to_start(tmp_path: Path) -> None:
    """No ``interface ike``: iked binds nothing (as the original, which opens sockets only
    there), so both -n and the daemon itself stop with the file:line that says why."""
    key = tmp_path / "peer.psk"
    key.write_text(PSK)
    key.chmod(0o600)
    conf = tmp_path / "racoon2.conf"
    conf.write_text(racoon2_conf(tmp_path, "A", 4, False, CBC_MODP).replace(
        'ike { "192.0.2.1" port 500; "192.0.2.1" port 4500; };', ""))
    want = (f"{conf}:2: found no 'interface {{ ike … }}', expected the addresses iked listens "
            "on")
    for flags in (("-n",), ("-F", "-D", "0x8")):
        done = subprocess.run([str(BIN / "iked"), *flags, "-f", str(conf)], capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 1
        assert want in done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
