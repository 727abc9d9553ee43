"""Why kinkd drops a KINK message without answering it, and how many of each (pure).

A dropped message gets no reply at all: answering garbage, a REPLY nobody asked for or a
request whose checksum does not verify would only help a forger (RFC 4430 §3.5 answers
Kerberos failures with a KRB_ERROR, not those).  Each drop is counted for SIGUSR1's status line.
"""

from __future__ import annotations

import enum
from collections import Counter


class DropReason(enum.Enum):
    """Why a datagram was dropped; the value is the status line's key."""

    MALFORMED = "malformed"                  # no KINK header, or a GETTGT that does not parse
    UNEXPECTED_REPLY = "unexpected REPLY"    # no exchange of ours waits for its XID
    UNKNOWN_TYPE = "unknown type"            # not a KINK message type (RFC 4430 §4)
    UNAUTHENTICATED = "unauthenticated"      # forged checksum, replayed authenticator


class DropCounters:
    """Messages dropped, by reason."""

    def __init__(self) -> None:
        self._counts: Counter[DropReason] = Counter()

    def drop(self, reason: DropReason) -> None:
        """Count one dropped message."""
        self._counts[reason] += 1

    def __getitem__(self, reason: DropReason) -> int:
        return self._counts[reason]

    def as_dict(self) -> dict[str, int]:
        """The counts by reason text, the reasons that happened only (for the status line)."""
        return {reason.value: n for reason, n in self._counts.items()}
