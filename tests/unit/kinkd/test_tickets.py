"""kinkd.tickets with an explicit ``now``: TGT upkeep, tickets' use, KRB_ERROR recovery."""

from __future__ import annotations

import pytest

from kinkd.exchange import KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_EXPIRED, KRB_AP_ERR_USER_TO_USER_REQUIRED
from kinkd.tickets import (
    RETRY_TGT,
    TGT_MARGIN,
    Recovery,
    recovery,
    tgt_due,
    tgt_wait,
    ticket_usable,
)


def test_the_tgt_is_renewed_five_minutes_before_its_end() -> None:
    end = 100_000
    assert tgt_wait(end, now=end - 3600) == 3600 - TGT_MARGIN
    assert not tgt_due(end, now=end - TGT_MARGIN - 1)
    assert tgt_due(end, now=end - TGT_MARGIN)
    # Late (or retrying while the KDC is away): every RETRY_TGT seconds, never in a busy loop.
    assert tgt_wait(end, now=end - 10) == RETRY_TGT
    assert tgt_wait(end, now=end + 3600) == RETRY_TGT


def test_a_ticket_ending_within_a_minute_is_replaced() -> None:
    assert ticket_usable(1000, now=939)
    assert not ticket_usable(1000, now=940)


@pytest.mark.parametrize(("error", "stime", "answer"), [
    (KRB_AP_ERR_USER_TO_USER_REQUIRED, 0, Recovery.USER_TO_USER),
    (KRB_AP_ERR_TKT_EXPIRED, 0, Recovery.NEW_TICKET),
    (KRB_AP_ERR_SKEW, 1_700_000_000, Recovery.ADOPT_CLOCK),
    (KRB_AP_ERR_SKEW, 0, None),  # no time to adopt
    (41, 1_700_000_000, None),   # KRB_AP_ERR_MODIFIED: nothing to try
])
def test_what_a_krb_error_asks_of_the_initiator(error: int, stime: int,
                                                answer: Recovery | None) -> None:
    assert recovery(error, stime) is answer
