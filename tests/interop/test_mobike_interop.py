"""MOBIKE (RFC 4555) against strongSwan 5.9 in namespaces on this machine's kernel.

A (strongSwan, a road warrior with a virtual address) reaches B (iked, responder) through a
router R; A changes its address twice, the second time behind a NAT that R now applies, and
strongSwan sends UPDATE_SA_ADDRESSES itself each time.  This kernel has no ESP, so B's CHILD_SA
SAs never install (strongSwan's are in libipsec); what moves on B is the IKE SA and the
tunnel policies spmd installed for the client (XFRM_MSG_MIGRATE through spmd's MIGRATE).
libipsec needs ESP in UDP, so strongSwan fakes a NAT from the start (B sees "NAT: the peer"
on every path) and rekeys its CHILD_SA after each move; a NAT that appears or goes (ESP in
UDP switched on or off) is tests/pair/test_mobike.py's.

    A 192.0.2.1 -> .5 -> .6  --  192.0.2.254 R 198.51.100.254  --  198.51.100.2 B (lo 203.0.113.17)
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import (
    CBC_MODP,
    Racoon2,
    RoutedNamespaces,
    StrongSwan,
    algorithm_lines,
    auth_lines,
    esp_lines,
    iked_conf,
    wait_until,
)


class MobileNamespaces(RoutedNamespaces):
    """A and B joined through the router R, which masquerades towards B once asked to; B
    routes to A's network, and A keeps its next address when the first goes."""

    def __init__(self) -> None:  # noqa: D107 (the class docstring says it)
        super().__init__("mobk", """\
ip netns exec {p}A sysctl -qw net.ipv4.conf.all.promote_secondaries=1
ip netns exec {p}A sysctl -qw net.ipv4.conf.{p}a.promote_secondaries=1
ip -n {p}B route add 192.0.2.0/24 via 198.51.100.254""")

    def move_a(self, old: str, new: str) -> None:
        """A's address changes: the new one first, then the old one goes."""
        for argv in (("ip", "addr", "add", f"{new}/24", "dev", f"{self.prefix}a"),
                     ("ip", "addr", "del", f"{old}/24", "dev", f"{self.prefix}a"),
                     ("ip", "route", "replace", "default", "via", "192.0.2.254")):
            done = self.run("A", *argv)
            assert done.returncode == 0, done.stderr


@pytest.fixture
def mobile() -> Iterator[MobileNamespaces]:
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: tests/harness/setup-host.sh installs nftables")
    ns = MobileNamespaces()
    try:
        yield ns
    finally:
        ns.close()


def responder_conf(d: Path, extra: str = "") -> str:
    """iked on B: road warriors from anywhere (IP_RW), a virtual address from a pool, a tunnel
    to 203.0.113.16/28 whose far end is the client's IKE address; ``extra`` in its ikev2
    block."""
    return iked_conf(d, "198.51.100.2", "rw", f"""my_id ipaddr "198.51.100.2";
        peers_id ipaddr "192.0.2.1";
        peers_ipaddr IP_RW;
        {algorithm_lines(CBC_MODP)}
        {auth_lines(d)}
        provide {{ addresspool pool; }};
        mobike on;
        {extra}""", ("203.0.113.16/28", "IP_RW"), ("198.51.100.2", "IP_RW"),
                     esp_lines(CBC_MODP), "addresspool pool { 203.0.113.100 - 203.0.113.110; };")


def test_strongswan_client_moves_and_goes_behind_a_nat(mobile: MobileNamespaces,
                                                       tmp_path: Path) -> None:
    ss, r2 = StrongSwan(mobile, "A", tmp_path / "ss"), Racoon2(mobile, "B", tmp_path / "r2")
    hook, out = tmp_path / "hook.sh", tmp_path / "hook.out"
    hook.write_text(f'#!/bin/sh\necho "$1 $OLD_SRC $OLD_DST $NEW_SRC $NEW_DST" >> {out}\n')
    hook.chmod(0o755)

    def policies() -> str:
        return mobile.run("B", "ip", "xfrm", "policy").stdout

    try:
        r2.start(responder_conf(r2.d, f'script {{ migration "{hook}"; }};'))
        ss.start(4, True, CBC_MODP, initiator=True, ends=("192.0.2.1", "198.51.100.2"),
                 nets=("dynamic", "203.0.113.16/28"),
                 extra_conn="vips = 0.0.0.0\n    local_addrs = %any",
                 extra_charon="install_virtual_ip = yes")
        ss.initiate()
        wait_until(lambda: "tmpl src 198.51.100.2 dst 192.0.2.1" in policies(), 20,
                   "the client's tunnel policies: " + r2.log())
        log = ss.log()
        assert re.search(r"parsed IKE_AUTH response .*N\(MOBIKE_SUP\)", log), log

        # 1. A new address (no NAT but strongSwan's fake one): strongSwan tells iked (a path
        #    check, then UPDATE_SA_ADDRESSES), the tunnel's far end follows.
        mobile.move_a("192.0.2.1", "192.0.2.5")
        wait_until(lambda: "tmpl src 198.51.100.2 dst 192.0.2.5" in policies(), 20,
                   "the policies moved to 192.0.2.5: " + r2.log() + ss.log())
        assert re.search(r"IKE SA \S+ moved from 198\.51\.100\.2\[4500\]<=>192\.0\.2\.1\[4500\] "
                         r"to 198\.51\.100\.2\[4500\]<=>192\.0\.2\.5\[4500\] \(NAT: the peer\)",
                         r2.log()), r2.log()
        assert "tmpl src 198.51.100.2 dst 192.0.2.1" not in policies()
        assert re.search(r"sending .*INFORMATIONAL request .*N\(UPD_SA_ADDR\)", ss.log()) or \
            "UPD_SA_ADDR" in ss.log(), ss.log()

        # 2. Behind a NAT: A's next address reaches B as 198.51.100.254.
        mobile.masquerade()
        mobile.move_a("192.0.2.5", "192.0.2.6")
        wait_until(lambda: "<=>198.51.100.254[" in r2.log(), 20,
                   "the move behind the NAT: " + r2.log() + ss.log())
        wait_until(lambda: "tmpl src 198.51.100.2 dst 198.51.100.254" in policies(), 10,
                   "the policies moved to the NAT's address: " + r2.log())
        assert re.search(r"moved from \S+<=>192\.0\.2\.5\[4500\] to "
                         r"198\.51\.100\.2\[4500\]<=>198\.51\.100\.254\[\d+\] \(NAT: the peer\)",
                         r2.log()), r2.log()
        # The migration hook, once per move: our address, then the peer's, old and new.
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2, 10,
                   "the migration hooks")
        assert out.read_text().splitlines() == [
            "migration 198.51.100.2 192.0.2.1 198.51.100.2 192.0.2.5",
            "migration 198.51.100.2 192.0.2.5 198.51.100.2 198.51.100.254"]
        # spmd migrated the tunnel's policies (XFRM_MSG_MIGRATE) at each move.
        assert r2.log("spmd").count("Migrate out") == 2, r2.log("spmd")
        assert "cannot migrate" not in r2.log()
        # strongSwan's view: COOKIE2 came back, with NAT detection of the new path.
        assert len(re.findall(r"parsed INFORMATIONAL response \d+ \[ N\(COOKIE2\) "
                              r"N\(NATD_S_IP\) N\(NATD_D_IP\) \]", ss.log())) == 2, ss.log()
        assert "remote endpoint changed" not in ss.log()  # iked stayed where it was
        assert "ESTABLISHED => DELETING" not in ss.log()
    finally:
        r2.stop()
        ss.stop()


def initiator_conf(d: Path) -> str:
    """iked on A: speaks from whatever address A has (MY_IPV4), its tunnel end too."""
    return iked_conf(d, "MY_IPV4", "gw", f"""my_id ipaddr "192.0.2.1";
        peers_id ipaddr "198.51.100.2";
        peers_ipaddr "198.51.100.2" port 500;
        {algorithm_lines(CBC_MODP)}
        {auth_lines(d)}
        interval_to_send 1 sec;""", ("203.0.113.0/28", "203.0.113.16/28"),
                     ("MY_IPV4", "198.51.100.2"), esp_lines(CBC_MODP))


def test_iked_initiator_moves_and_strongswan_follows(mobile: MobileNamespaces,
                                                     tmp_path: Path) -> None:
    """iked initiated; A's address changes: iked sends UPDATE_SA_ADDRESSES from the new one
    (NAT detection, COOKIE2) and strongSwan moves its IKE SA and CHILD_SA there."""
    ss, r2 = StrongSwan(mobile, "B", tmp_path / "ss"), Racoon2(mobile, "A", tmp_path / "r2")
    try:
        ss.start(4, True, CBC_MODP, initiator=False, ends=("198.51.100.2", "192.0.2.1"),
                 nets=("203.0.113.16/28", "203.0.113.0/28"))
        r2.start(initiator_conf(r2.d), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log() + ss.log())
        wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())
        assert re.search(r"parsed IKE_AUTH request .*N\(MOBIKE_SUP\)", ss.log()), ss.log()
        mobile.move_a("192.0.2.1", "192.0.2.5")
        wait_until(lambda: "moved from" in r2.log(), 20, "iked's move: " + r2.log() +
                   mobile.run("A", "ip", "xfrm", "policy").stdout)
        assert re.search(r"IKE SA \S+ moved from 192\.0\.2\.1\[4500\]<=>198\.51\.100\.2\[4500\] "
                         r"to 192\.0\.2\.5\[4500\]<=>198\.51\.100\.2\[4500\]", r2.log()), r2.log()
        log = ss.log()
        assert re.search(r"parsed INFORMATIONAL request \d+ \[ N\(UPD_SA_ADDR\) N\(NATD_S_IP\) "
                         r"N\(NATD_D_IP\) N\(COOKIE2\) \]", log), log
        assert "remote endpoint changed from 192.0.2.1[4500] to 192.0.2.5[4500]" in log, log
        assert "192.0.2.5" in ss.ctl("--list-sas")
        # spmd's MIGRATE: the template's source is MY_IPV4's wildcard, so the kernel keeps it
        # and would move the SAs (none here: no ESP on this kernel).
        assert "Migrate out" in r2.log("spmd") and "cannot migrate" not in r2.log(), r2.log()
        policies = mobile.run("A", "ip", "xfrm", "policy").stdout
        assert "tmpl src 192.0.2.5 dst 198.51.100.2" in policies, policies
    finally:
        r2.stop()
        ss.stop()


def test_nat_detection_on_each_new_path(mobile: MobileNamespaces, tmp_path: Path) -> None:
    """strongSwan on this host's XFRM (kernel-netlink: no fake NAT, and its CHILD_SA fails to
    install, so only the IKE SA moves): no NAT on the first new path, a NAT on the second;
    iked detects both from the NAT_DETECTION notifies of each UPDATE_SA_ADDRESSES."""
    ss, r2 = StrongSwan(mobile, "A", tmp_path / "ss"), Racoon2(mobile, "B", tmp_path / "r2")
    try:
        r2.start(responder_conf(r2.d))
        ss.start(4, True, CBC_MODP, initiator=True, ends=("192.0.2.1", "198.51.100.2"),
                 nets=("dynamic", "203.0.113.16/28"), kernel="netlink",
                 extra_conn="vips = 0.0.0.0\n    local_addrs = %any")
        ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log())
        assert "NAT detected" not in r2.log()
        mobile.move_a("192.0.2.1", "192.0.2.5")
        wait_until(lambda: "moved from" in r2.log(), 20, "the move: " + r2.log() + ss.log())
        mobile.masquerade()
        mobile.move_a("192.0.2.5", "192.0.2.6")
        wait_until(lambda: r2.log().count("moved from") == 2, 20,
                   "the move behind the NAT: " + r2.log() + ss.log())
        moves = re.findall(r"moved from (\S+) to (\S+) \(NAT: ([^)]+)\)", r2.log())
        assert moves == [
            ("198.51.100.2[4500]<=>192.0.2.1[4500]", "198.51.100.2[4500]<=>192.0.2.5[4500]",
             "none"),
            ("198.51.100.2[4500]<=>192.0.2.5[4500]", moves[1][1], "the peer")], moves
        assert moves[1][1].startswith("198.51.100.2[4500]<=>198.51.100.254["), moves
        assert "ESTABLISHED => DELETING" not in ss.log()
    finally:
        r2.stop()
        ss.stop()
