"""iked's IKEv1 NAT traversal (RFC 3947) against strongSwan, one side behind a masquerading
router (:class:`peers.NatNamespaces`): both detect the NAT, IKE floats to port 4500, Quick
Mode agrees on UDP-encapsulated ESP (tunnel, and transport with NAT-OA), and iked, the side
behind the NAT, sends its keepalive octet to port 4500 every 20 s (RFC 3948 §2.3).  charon runs with
kernel-libipsec, which takes ESP in UDP: its tunnel SAs install.  This host's kernel has no
ESP: ours are refused, and the refusal names the UDP ports of the encapsulation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pair.ikev1.conf import ikev1_conf
from peers import PSK, NatNamespaces, Racoon2, StrongSwan, wait_until
from test_iked_interop import HAS_ESP
from test_ikev1_interop import IKEV1, charon  # noqa: F401 (the fixture: charon speaks IKEv1)

#: The namespaces' addresses: A behind R, R's outside address, B; the tunnels' networks.
A, R, B = "192.0.2.1", "198.51.100.254", "198.51.100.2"
NET_A, NET_B = "203.0.113.0/28", "203.0.113.16/28"


def nat_conf(r2: Racoon2, me: str, peer: str, tunnel: bool, nets: tuple[str, str]) -> str:
    """iked with NAT-T, IKE on ports 500 and 4500 of ``me``."""
    text = ikev1_conf(r2.d, me, peer, psk=PSK.encode(), tunnel=tunnel,
                      **({"src": nets[0], "dst": nets[1]} if tunnel else {}),
                      extra="\t\tnat_traversal on;")
    return text.replace(f"ike {{ {me} port 500; }}", f"ike {{ {me} port 500; {me} port 4500; }}")


def assert_encapsulated(r2: Racoon2, ours: int, theirs: int) -> None:
    """iked's IPsec SAs: up, or refused by this kernel, in UDP between the given ports."""
    log = r2.log()
    if HAS_ESP:
        assert "CHILD_SA of policy pol up" in log, log
        return
    refusals = re.findall(r"cannot install (inbound|outbound) SA spi 0x[0-9a-f]{8} \(ESP in "
                          rf"UDP {ours} <=> {theirs}\): (UPDSA|NEWSA) SA ESP .*: Protocol not "
                          "supported", log)
    assert sorted(r[0] for r in refusals) == ["inbound", "outbound"], log
    assert "Traceback" not in log


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize("tunnel", [True, False], ids=["tunnel", "transport"])
def test_iked_behind_nat_initiates_to_strongswan(nat: NatNamespaces, tmp_path: Path,
                                                 tunnel: bool) -> None:
    ss, r2 = StrongSwan(nat, "B", tmp_path / "ss"), Racoon2(nat, "A", tmp_path / "r2")
    # B counts the one-octet UDP datagrams (8 octets of header + 0xff) that reach its 4500.
    for cmd in ("add table inet r2ka", "add chain inet r2ka in { type filter hook input "
                "priority 0 ; }", "add rule inet r2ka in udp dport 4500 udp length 9 counter"):
        assert nat.run("B", "nft", cmd).returncode == 0, cmd
    try:
        ss.start(4, tunnel, IKEV1, initiator=False, ends=(B, A), nets=(NET_B, NET_A))
        r2.start(nat_conf(r2, A, B, tunnel, (NET_A, NET_B)), "-S", "sel_out")
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + ss.log()[-2000:])
        assert "nat_traversal is not run" not in r2.log()
        wait_until(r2.child_settled, 10, "the IPsec SA")
        log, sslog = r2.log(), ss.log()
        assert re.search(r"NAT detected in front of this host", log), log
        assert re.search(rf"established with {B}\[4500\]", log), log
        assert "remote host is behind NAT" in sslog, sslog
        assert "selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96" in sslog, sslog
        sas = ss.ctl("--list-sas")
        assert f"{R}[4500]" in sas, sas
        if tunnel:
            assert "INSTALLED, TUNNEL-in-UDP" in sas, sas + sslog
        else:
            # RFC 3947 §5.2: charon takes our NAT-OAi and NAT-OAr, agrees, and then
            # kernel-libipsec refuses the SA: it has no transport mode.
            assert sslog.count("parsing NAT_OA_V1 payload finished") == 2, sslog
            # (after our QM3, which may still be on its way)
            wait_until(lambda: "IPsec SA: unsupported mode" in ss.log(), 5,
                       "charon's refusal: " + sslog[-2000:])
        assert_encapsulated(r2, 4500, 4500)
        if tunnel:  # once is proof enough: the 20 s wait is not repeated for transport
            wait_until(lambda: keepalives(nat) >= 1, 25, "iked's NAT keepalive")
    finally:
        nat.run("B", "nft", "delete", "table", "inet", "r2ka")
        r2.stop()
        ss.stop()


def keepalives(nat: NatNamespaces) -> int:
    """How many keepalive octets B's port 4500 has received."""
    rules = nat.run("B", "nft", "list", "table", "inet", "r2ka").stdout
    found = re.search(r"counter packets (\d+)", rules)
    return int(found.group(1)) if found else 0


@pytest.mark.usefixtures("charon")
def test_strongswan_behind_nat_initiates_to_iked(nat: NatNamespaces, tmp_path: Path) -> None:
    ss, r2 = StrongSwan(nat, "A", tmp_path / "ss"), Racoon2(nat, "B", tmp_path / "r2")
    try:
        r2.start(nat_conf(r2, B, R, True, (NET_B, NET_A)))
        ss.start(4, True, IKEV1, initiator=True, ends=(A, B), nets=(NET_A, NET_B))
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + out + r2.log())
        wait_until(r2.child_settled, 10, "the IPsec SA")
        log = r2.log()
        assert re.search(r"NAT detected in front of the peer", log), log
        sas = ss.ctl("--list-sas")
        assert "INSTALLED, TUNNEL-in-UDP" in sas or not HAS_ESP, sas + ss.log()
        port = re.search(rf"established with {R}\[(\d+)\]", log)
        assert port is not None and port.group(1) != "500", log
        assert_encapsulated(r2, 4500, int(port.group(1)))
    finally:
        r2.stop()
        ss.stop()
