"""Message IDs, retransmission schedule and response cache (RFC 7296 §2.1-2.3)."""

from __future__ import annotations

from iked.ikev2.window import Schedule, Verdict, Window


def test_backoff_schedule_and_give_up() -> None:
    w = Window(Schedule(interval=1.0, max_retry=3))
    assert w.send(b"req", now=0.0) == 0
    assert w.timer(0.5) is None
    resent = [w.timer(t) for t in (1.0, 3.0, 7.0)]
    assert resent == [b"req", b"req", b"req"] and w.deadline == 15.0
    assert w.timer(15.0) is False
    assert [Schedule(2.0).wait(n) for n in range(9)] == [2, 4, 8, 16, 32, 64, 128, 128, 128]


def test_responses_and_message_ids() -> None:
    w = Window(Schedule())
    w.send(b"a", 0.0)
    assert w.classify(1, response=True) is Verdict.STALE
    assert w.classify(0, response=True) is Verdict.RESPONSE
    w.answered()
    assert w.classify(0, response=True) is Verdict.STALE
    assert w.send(b"b", 1.0) == 1


def test_peer_requests_cache_and_busy() -> None:
    w = Window(Schedule())
    assert w.classify(0, response=False) is Verdict.NEW_REQUEST
    w.start_answer(0)
    assert w.classify(0, response=False) is Verdict.BUSY
    w.finish_answer(0, (b"resp",))
    assert w.classify(0, response=False) is Verdict.RETRANSMITTED_REQUEST
    assert w.cached == (b"resp",)
    assert w.classify(1, response=False) is Verdict.NEW_REQUEST
    assert w.classify(5, response=False) is Verdict.STALE
