"""100 clients with EAP-MSCHAPv2 at once (issue 19): one strongSwan 5.9 charon in namespace A
loads 100 connections with ``start_action = start``, so it starts all 100 IKE SAs together,
each with an IKE identity and an EAP identity of its own (``user1`` .. ``user100``) and a
virtual IP request; iked in B proves itself with its certificate and checks the passwords from
a users file of 100.  Asserted: each user authenticated once, all 100 IKE SAs established in
``ikedctl --json sa list``, each with its own address from the pool; charon reports the 100
virtual IPs.  The CHILD_SAs are negotiated and refused by this host's kernel (no ESP), as in the
other EAP tests; the IKE SAs stay up.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from compat import Row, record, suite
from peers import ADDR, BIN, CBC_MODP, Namespaces, Racoon2, StrongSwan, wait_until
from test_eap_interop import conn, server_conf
from test_iked_interop import pki_files

COUNT = 100
POOL = ("198.51.100.100", "198.51.100.227")  # 128 addresses
SECRET = """  eap-{n} {{
    id = user{n}
    secret = "password-of-user{n}"
  }}
"""


def _sas(r2: Racoon2) -> list[dict[str, Any]]:
    done = subprocess.run([str(BIN / "ikedctl"), "-s", str(r2.d / "iked.ctl"), "--json", "sa",
                           "list"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    sas = json.loads(done.stdout)["sas"]
    assert isinstance(sas, list)
    return sas


def test_a_hundred_eap_mschapv2_clients_at_once(eap_pair: Namespaces, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                request: pytest.FixtureRequest) -> None:
    files = pki_files(tmp_path, "ecdsa")
    r2 = Racoon2(eap_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        text = server_conf(r2, "mschapv2", files["B"])
        (r2.d / "eap.users").write_text("".join(f"user{n} plain:password-of-user{n}\n"
                                                for n in range(1, COUNT + 1)))
        # any client ID (each user has its own), a pool for all of them
        for old, new in (('peers_id ipaddr "192.0.2.1";', ""),
                         ("addresspool rwpool { 198.51.100.100 - 198.51.100.110; };",
                          f"addresspool rwpool {{ {POOL[0]} - {POOL[1]}; }};")):
            assert old in text, old
            text = text.replace(old, new)
        r2.start(text)
        d = tmp_path / "ss"
        (d / "x509ca").mkdir(parents=True)
        (d / "x509ca" / "ca.pem").write_bytes(Path(files["B"][2]).read_bytes())
        # test_eap_interop's connection, with the user's name as its IKE identity too (each
        # client its own, so no INITIAL_CONTACT of one ends another's SA) and started at load
        conns = "".join(conn(f"c{n}", f"auth = eap-mschapv2\n      eap_id = user{n}")
            .replace(f"id = {ADDR[('A', 4)]}\n", f"id = user{n}\n")
            .replace("start_action = none", "start_action = start") + "\n"
            for n in range(1, COUNT + 1))
        secrets = "".join(SECRET.format(n=n) for n in range(1, COUNT + 1))
        path = tmp_path / "swanctl.conf"
        path.write_text(f"connections {{\n{conns}}}\nsecrets {{\n{secrets}}}\n")
        monkeypatch.setenv("SWANCTL_CONF", str(path))
        began = time.monotonic()
        ss = StrongSwan(eap_pair, "A", d, plugins="eap-identity eap-mschapv2")
        ss.start(4, True, CBC_MODP, initiator=True, kernel="netlink")
        wait_until(lambda: len(r2.established()) >= COUNT, 240,
                   "100 IKE SAs: " + r2.log()[-5000:])
        seconds = time.monotonic() - began
        wait_until(lambda: len(re.findall(r"cannot install outbound|CHILD_SA failed",
                                          r2.log())) >= COUNT, 60, "the CHILD_SAs settled")
        print(f"{COUNT} EAP-MSCHAPv2 IKE SAs up in {seconds:.1f} s")
        log = r2.log()
        for n in range(1, COUNT + 1):
            assert log.count(f"EAP-MSCHAPv2 user 'user{n}' authenticated") == 1, (n, log)
        up = [sa for sa in _sas(r2) if sa["state"] == "established"]
        assert len(up) == COUNT, up
        leased = {sa["leased_to_peer"] for sa in up}
        assert len(leased) == COUNT and None not in leased, up
        pool = range(int(ipaddress.ip_address(POOL[0])), int(ipaddress.ip_address(POOL[1])) + 1)
        assert all(int(ipaddress.ip_address(a)) in pool for a in leased), leased
        assert len({sa["peer_id"] for sa in up}) == COUNT, up
        assert len(set(re.findall(r"installing new virtual IP (\S+)", ss.log()))) == COUNT \
            or len(set(re.findall(r"virtual IP (198\.51\.100\.\d+)", ss.log()))) == COUNT, \
            ss.log()[-5000:]
        assert "Traceback" not in log
        record(request, [Row(f"strongSwan 5.9, {COUNT} connections started at once",
                             suite(ss.log()), f"EAP-MSCHAPv2, {COUNT} users",
                             f"all {COUNT} up, each with its own leased address")])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
