"""When kinkd needs a new ticket or TGT, and what a responder's KRB_ERROR asks for (pure).

Nothing here reads a clock: callers pass ``now`` (seconds since the epoch, as tickets' times).
"""

from __future__ import annotations

import enum

from kinkd.exchange import (
    KRB_AP_ERR_SKEW,
    KRB_AP_ERR_TKT_EXPIRED,
    KRB_AP_ERR_USER_TO_USER_REQUIRED,
)

TGT_MARGIN = 300  # seconds before its end that the TGT is renewed
RETRY_TGT = 30  # seconds between attempts while the KDC does not answer
TICKET_MARGIN = 60  # a ticket to a peer that ends sooner is replaced before a CREATE


def tgt_wait(endtime: int, now: float) -> float:
    """Seconds to sleep before looking at the TGT again (at least :data:`RETRY_TGT`)."""
    return max(endtime - now - TGT_MARGIN, RETRY_TGT)


def tgt_due(endtime: int, now: float) -> bool:
    """Whether the TGT ending at ``endtime`` is to be renewed now."""
    return not endtime - now > TGT_MARGIN


def ticket_usable(endtime: int, now: float) -> bool:
    """Whether a ticket to a peer ending at ``endtime`` may still be sent."""
    return endtime > now + TICKET_MARGIN


class Recovery(enum.Enum):
    """What the initiator does about a responder's KRB_ERROR before it sends CREATE again."""

    USER_TO_USER = "fetch the peer's TGT and get a user-to-user ticket"
    NEW_TICKET = "get a new ticket"
    ADOPT_CLOCK = "use the responder's time for Kerberos"


def recovery(error: int, stime: int) -> Recovery | None:
    """The answer to KRB_ERROR ``error`` (``stime``: the responder's clock), None: give up."""
    if error == KRB_AP_ERR_USER_TO_USER_REQUIRED:
        return Recovery.USER_TO_USER
    if error == KRB_AP_ERR_TKT_EXPIRED:
        return Recovery.NEW_TICKET
    if error == KRB_AP_ERR_SKEW and stime:
        # RFC 4430 §3.5: adopt the responder's clock for Kerberos instead of failing.
        return Recovery.ADOPT_CLOCK
    return None
