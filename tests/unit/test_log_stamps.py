"""racoon2.log's StampFormatter: the time stamp of whole seconds formatted once per second,
the same text logging's own Formatter gives."""

from __future__ import annotations

import logging

from racoon2 import log


def record(created: float) -> logging.LogRecord:
    """An INFO record made at ``created``."""
    r = logging.LogRecord("iked", logging.INFO, __file__, 1, "IKE SA %s up", ("a:b",), None)
    r.created, r.msecs = created, (created % 1) * 1000
    return r


def test_stamps_match_logging_and_follow_the_second() -> None:
    ours, plain = log.StampFormatter(log.FORMAT, log.DATEFMT), logging.Formatter(
        log.FORMAT, log.DATEFMT)
    for created in (1_700_000_000.1, 1_700_000_000.9, 1_700_000_001.0, 1_700_000_061.5,
                    1_700_000_000.2):
        assert ours.format(record(created)) == plain.format(record(created))


def test_the_default_stamp_keeps_its_milliseconds() -> None:
    ours, plain = log.StampFormatter(), logging.Formatter()
    assert ours.formatTime(record(1_700_000_000.25)) == plain.formatTime(
        record(1_700_000_000.25))
    assert ours.formatTime(record(1_700_000_000.75)).endswith(",750")
