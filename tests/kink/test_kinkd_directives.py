"""kinkd's directives on two running kinkd (issue 15 §2): infinite lifetimes, acceptable_kmp
when initiating, and the responder's proposal_check on lifetimes."""

from __future__ import annotations

from interop.peers import wait_until

from .pair import KinkPair
from .test_kinkd import _check_outcome, _negotiated, _ping


def test_infinite_lifetimes_negotiate(kink_pair: KinkPair) -> None:
    """No time or byte limit on the SAs: the ACQUIRE's CREATE goes out and completes (the
    byte lifetime used to raise a TypeError at the ACQUIRE)."""
    life = "infinite;\n    ipsec_sa_lifetime_byte infinite"
    kink_pair.a.start(kink_pair.config("A", "B", lifetime=life))
    kink_pair.b.start(kink_pair.config("B", "A", lifetime=life))
    _negotiated(kink_pair)
    _check_outcome(kink_pair)
    assert "Traceback" not in kink_pair.a.log() + kink_pair.b.log()


def test_no_create_when_kink_is_not_first(kink_pair: KinkPair) -> None:
    """acceptable_kmp { ikev2; kink; }: iked initiates for that remote, kinkd only answers."""
    conf = kink_pair.config("A", "B").replace(
        "remote host_b {\n    acceptable_kmp { kink; };",
        "remote host_b {\n    acceptable_kmp { ikev2; kink; };")
    assert "ikev2; kink;" in conf
    kink_pair.a.start(conf)
    kink_pair.b.start(kink_pair.config("B", "A"))
    _ping(kink_pair.a, "192.0.2.2")
    wait_until(lambda: "cannot start KINK" in kink_pair.a.log(), 30, "A's refusal")
    assert "remote host_b initiates with ikev2 (the first of its acceptable_kmp), not kink" in \
        kink_pair.a.log()
    assert "CREATE to" not in kink_pair.a.log()


def test_proposal_check_strict_refuses_a_longer_lifetime(kink_pair: KinkPair) -> None:
    """A offers 2 hours; B, with 1 hour and proposal_check strict, refuses the transform."""
    kink_pair.a.start(kink_pair.config("A", "B", lifetime="2 hours"))
    kink_pair.b.start(kink_pair.config("B", "A", extra_kink="proposal_check strict;"))
    _ping(kink_pair.a, "192.0.2.2")
    wait_until(lambda: "KINK_ERROR PROTOERR" in kink_pair.a.log(), 60,
               f"B's refusal\nA:\n{kink_pair.a.log()}\nB:\n{kink_pair.b.log()}")
    assert "for policy host_a_policy: no ESP transform offered by " \
        "kink/host-a.example.com@KINK.TEST is acceptable" in kink_pair.b.log()
