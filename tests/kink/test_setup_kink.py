"""racoon2-setup's kink-host case, both ends generated, between two kinkd against the real MIT
KDC of tests/kink/pair.py (issue #21's proof).

One answer file on A gives A's racoon2.conf and peer/racoon2.conf for B; traffic from A makes
the kernel ACQUIRE, A gets a ticket for B and sends CREATE.  This machine's kernel refuses ESP
SAs: B says so and answers INTERR, as tests/kink/test_kinkd.py checks for its own
configurations; in the VM (tests/vm/test_kink.py) the SAs come up and a ping through them
is counted by both kernels' ESP SAs.
"""

from __future__ import annotations

import re

import pytest
from interop.peers import wait_until

from racoon2.setup.cli import main

from .pair import KinkPair, principal
from .test_kinkd import HAS_ESP, _ping

POLICY = "peer_policy_1"  # both ends' policy name, racoon2-setup's


@pytest.mark.esp
def test_generated_kink_hosts_negotiate(kink_pair: KinkPair) -> None:
    a, b = kink_pair.a, kink_pair.b
    answers = kink_pair.dir / "kink.yaml"
    answers.write_text(f"case: kink-host\nlocal: {a.addr}\npeer: {b.addr}\n"
                       f"local_principal: {principal('A')}\npeer_principal: {principal('B')}\n"
                       f"confdir: {a.d}\nrun_dir: {a.d}\n")
    assert main([str(answers)]) == 0
    # As an admin copies peer/ to the other host, with that host's directories.
    b_text = (a.d / "peer" / "racoon2.conf").read_text().replace(f'"{a.d}"', f'"{b.d}"')
    a.start((a.d / "racoon2.conf").read_text())
    b.start(b_text)

    def settled() -> bool:
        _ping(a, b.addr)  # meets the transport policy: ACQUIRE (again, until it is up)
        if not HAS_ESP:
            return "KINK_ERROR INTERR" in a.log()
        return f"ESP SAs of policy {POLICY} up" in a.log() and \
            f"ESP SAs of policy {POLICY} up" in b.log()
    wait_until(settled, 60, f"the CREATE's outcome\nA:\n{a.log()}\nB:\n{b.log()}")
    log_a, log_b = a.log(), b.log()
    assert f"policy {POLICY}: CREATE to {b.addr}[910] ({principal('B')}, ACQUIRE)" \
        in log_a, log_a
    assert f"got a ticket for {principal('B')} from the KDC" in log_a, log_a
    if HAS_ESP:
        assert f"ESP SAs of policy {POLICY} up" in log_b, log_b
        # A ping through the generated pair's SAs, which both kernels count.
        assert _ping(a, b.addr, count=3)
        for side in (a, b):
            for src in (a.addr, b.addr):
                counters = side.sh("ip", "-s", "xfrm", "state", "list", "proto", "esp",
                                   "src", src).stdout
                packets = [int(n) for n in re.findall(r"(\d+)\(packets\)", counters)]
                assert packets and max(packets) >= 3, counters
    else:
        assert "cannot install the inbound ESP SA" in log_b and (
            "Protocol not supported" in log_b or "Function not implemented" in log_b), log_b
        assert "peer sent KINK_ERROR INTERR" in log_a, log_a
