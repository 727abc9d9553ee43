"""A dead peer (RFC 7296 §2.4) between two racoon2s in namespaces: A checks B's liveness after
``dpd_delay``, B goes silent (nftables drops everything it receives on UDP 500 and 4500), A
gives up after its retransmissions, removes the SAs, runs its down hooks and logs the peer; once B
answers again the next packet's ACQUIRE brings a fresh IKE SA."""

from __future__ import annotations

import re
from pathlib import Path

from peers import CBC_MODP, Namespaces, Racoon2, racoon2_conf, wait_until


def test_a_dead_peer_is_removed_and_comes_back(pair: Namespaces, tmp_path: Path) -> None:
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    hook = tmp_path / "hook.sh"
    out = tmp_path / "hook.out"
    hook.write_text(f'#!/bin/sh\necho "$1" >> {out}\n')
    hook.chmod(0o755)
    scripts = f'script {{ phase1_down "{hook}"; phase2_down "{hook}"; }};'
    # Without ESP here the kernel's larval state of the first ACQUIRE is never replaced by an
    # installed SA and stops further ACQUIREs until it expires (30 s by default): 3 s.
    assert pair.run("A", "sysctl", "-qw", "net.core.xfrm_acq_expires=3").returncode == 0
    try:
        b.start(racoon2_conf(b.d, "B", 4, False, CBC_MODP))
        a.start(racoon2_conf(a.d, "A", 4, False, CBC_MODP).replace(
            "max_retry_to_send 3;", f"max_retry_to_send 2; dpd_delay 2 sec; {scripts}"))
        pair.run("A", "ping", "-c1", "-W1", "192.0.2.2")  # ACQUIRE
        wait_until(lambda: bool(a.established() and b.established()), 20, "the IKE SA")
        wait_until(a.child_settled, 10, "the CHILD_SA")
        (first,) = a.established()
        # B hears nothing more: A's check (2 s after B's last message) and its two
        # retransmissions (1 s, 2 s, then 4 s to wait) go unanswered.
        for cmd in ("add table inet deaf",
                    "add chain inet deaf input { type filter hook input priority 0 ; }",
                    "add rule inet deaf input udp dport { 500, 4500 } drop"):
            assert pair.run("B", "nft", cmd).returncode == 0, cmd
        wait_until(lambda: "peer not responding" in a.log(), 20, "A declaring B dead")
        # (port 4500: with MOBIKE the initiator moved there in IKE_AUTH, RFC 4555 §3.2)
        assert re.search(rf"IKE SA {first} with 192\.0\.2\.2\[4500\] deleted: peer not "
                         r"responding \(dead after 2 retransmissions\)", a.log()), a.log()
        wait_until(lambda: out.exists() and "phase1_down" in out.read_text(), 10, "the hook")
        assert sorted(out.read_text().split()) == ["phase1_down", "phase2_down"]
        # The inbound SPI A held is gone (the kernel's own larval ACQUIRE states have SPI 0).
        state = pair.run("A", "ip", "xfrm", "state").stdout
        assert set(re.findall(r"spi (0x[0-9a-f]+)", state)) <= {"0x00000000"}, state
        # B answers again; the policy stays (spmd's), so a packet means a new ACQUIRE.
        assert pair.run("B", "nft", "delete", "table", "inet", "deaf").returncode == 0
        wait_until(lambda: "spi 0x00000000" not in pair.run("A", "ip", "xfrm", "state").stdout,
                   10, "the larval state's end")
        pair.run("A", "ping", "-c1", "-W1", "192.0.2.2")
        wait_until(lambda: len(a.established()) == 2, 20, "a fresh IKE SA")
        assert a.log().count("ACQUIRE for 192.0.2.1/32") == 2
        assert a.established()[1] != first
    finally:
        a.stop()
        b.stop()
