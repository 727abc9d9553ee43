"""The wait before an exchange refused TEMPORARY_FAILURE is tried again (RFC 7296 §2.25)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iked.ikev2.tasks import RETRY_MIN, RETRY_SPREAD, retry_at
from racoon2.crypto.rng import DeterministicRng


@given(st.binary(min_size=1, max_size=8), st.floats(0, 1e6), st.floats(0.01, 1e5))
def test_a_retry_comes_before_the_hard_lifetime(seed: bytes, now: float, left: float) -> None:
    """Random 5 to 15 s, as strongSwan waits; but never past what it rekeys' hard lifetime
    when that comes within twice the wait: then in the second quarter of the time left."""
    at = retry_at(DeterministicRng(seed), now, now + left)
    free = retry_at(DeterministicRng(seed), now)
    assert now + RETRY_MIN <= free <= now + RETRY_MIN + RETRY_SPREAD
    if left >= 2 * (free - now):
        assert at == free
    else:
        assert now + left / 4 <= at <= now + left / 2


def test_a_hard_lifetime_already_past_is_no_reason_to_hurry() -> None:
    """An estimate the kernel has not confirmed (no EXPIRE came) leaves the usual wait."""
    now = 100.0
    assert retry_at(DeterministicRng(b"x"), now, now - 1) == retry_at(DeterministicRng(b"x"), now)
