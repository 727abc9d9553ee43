"""kinkd.drops: the counters behind the status line's "dropped" object."""

from __future__ import annotations

from kinkd.drops import DropCounters, DropReason


def test_drops_are_counted_by_reason_under_the_status_lines_names() -> None:
    counters = DropCounters()
    assert counters.as_dict() == {}
    counters.drop(DropReason.MALFORMED)
    counters.drop(DropReason.MALFORMED)
    counters.drop(DropReason.UNAUTHENTICATED)
    assert counters[DropReason.MALFORMED] == 2 and counters[DropReason.UNKNOWN_TYPE] == 0
    assert counters.as_dict() == {"malformed": 2, "unauthenticated": 1}


def test_the_reasons_keep_the_status_lines_keys() -> None:
    assert [r.value for r in DropReason] == ["malformed", "unexpected REPLY", "unknown type",
                                             "unauthenticated"]
