"""iked's IKEv1 Dead Peer Detection (RFC 3706) against strongSwan in network namespaces:
both probe and answer; a peer that vanishes (nftables drops its IKE) is declared dead within
``dpd_delay + dpd_retry * dpd_maxfail``, its SAs go, the phase 1 and phase 2 down hooks run
with the dead peer's address, and the next ACQUIRE negotiates anew.
charon uses the host's XFRM (no ESP here: its IPsec SA fails, the ISAKMP SA is what DPD
watches)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from peers import ADDR, Namespaces, Racoon2, StrongSwan, wait_until
from test_ikev1_interop import IKEV1, KERNEL, charon, conf  # noqa: F401 (charon: the fixture)

DELAY, RETRY, MAXFAIL = 2, 1, 3
DPD = f"\t\tdpd on; dpd_delay {DELAY} sec; dpd_retry {RETRY} sec; dpd_maxfail {MAXFAIL};"


def block(ns: Namespaces, side: str) -> None:
    """``side`` vanishes: its namespace drops every IKE datagram in and out."""
    for argv in (("add", "table", "inet", "r2dpd"),
                 ("add", "chain", "inet", "r2dpd", "in",
                  "{ type filter hook input priority 0 ; }"),
                 ("add", "chain", "inet", "r2dpd", "out",
                  "{ type filter hook output priority 0 ; }"),
                 ("add", "rule", "inet", "r2dpd", "in", "udp", "dport", "{ 500, 4500 }", "drop"),
                 ("add", "rule", "inet", "r2dpd", "out", "udp", "sport", "{ 500, 4500 }",
                  "drop")):
        done = ns.run(side, "nft", *argv)
        assert done.returncode == 0, done.stderr


def unblock(ns: Namespaces, side: str) -> None:
    """``side`` is back."""
    ns.run(side, "nft", "delete", "table", "inet", "r2dpd")


@pytest.mark.usefixtures("charon")
def test_dpd_with_strongswan(pair: Namespaces, tmp_path: Path) -> None:
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    hook, out = tmp_path / "hook.sh", tmp_path / "hook.out"
    hook.write_text(f'#!/bin/sh\necho "$1 $REMOTE_ADDR" >> {out}\n')
    hook.chmod(0o755)
    scripts = f'\t\tscript {{ phase1_down "{hook}"; phase2_down "{hook}"; }};'
    try:
        ss.start(4, False, IKEV1, initiator=False, kernel=KERNEL,
                 extra_conn=f"dpd_delay = {DELAY}s", extra_child="dpd_action = clear")
        r2.start(conf(r2, tunnel=False, extra=DPD + "\n" + scripts), "-S", "sel_out")
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA")
        wait_until(r2.child_settled, 10, "the IPsec SA")
        # Both probe each other and answer: charon's R-U-THERE answered, ours answered.
        def count(what: str) -> int:
            return len(re.findall(rf"parsed INFORMATIONAL_V1 request \d+ \[ HASH N\({what}\) \]",
                                  ss.log()))
        wait_until(lambda: count("DPD") >= 2 and count("DPD_ACK") >= 2, 3 * DELAY + 5,
                   "DPD both ways: " + ss.log()[-3000:])
        assert "dpd is not run" not in r2.log()
        assert "the peer is dead" not in r2.log()
        block(pair, "B")
        began = time.monotonic()
        wait_until(lambda: "the peer is dead" in r2.log(), DELAY + RETRY * MAXFAIL + 5,
                   "the dead peer: " + r2.log())
        took = time.monotonic() - began
        print(f"IKEv1 DPD: peer declared dead {took:.1f} s after it vanished (at most "
              f"{DELAY + RETRY * MAXFAIL} s)")
        assert took <= DELAY + RETRY * MAXFAIL + 1.0, took
        log = r2.log()
        assert re.search(r"IKE SA \S+ with 192\.0\.2\.2\[500\] deleted: the peer is dead: "
                         rf"{MAXFAIL} R-U-THERE unanswered", log), log
        assert "CHILD_SA of policy pol (spi in" in log and "deleted: the peer is dead" in log
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= 2, 5, "the hooks")
        peer = ADDR[("B", 4)]
        assert sorted(out.read_text().splitlines()) == [f"phase1_down {peer}",
                                                        f"phase2_down {peer}"], out.read_text()
        unblock(pair, "B")
        # The next packet meets the policy: ACQUIRE, a new phase 1.
        pair.run("A", "ping", "-c1", "-W1", ADDR[("B", 4)])
        wait_until(lambda: len(r2.established()) == 2, 20, "the new ISAKMP SA: " + r2.log())
        assert re.search(r"ACQUIRE for .*: selector sel_out", r2.log()), r2.log()
    finally:
        r2.stop()
        ss.stop()
