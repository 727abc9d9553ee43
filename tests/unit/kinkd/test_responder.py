"""kinkd.responder without a KDC: triage of datagrams, the reply cache's lifetime, the epoch
rule (RFC 4430 §3.7), what a refused request gets (§3.5), the replay cache's write schedule."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from kinkd import message as kink
from kinkd import responder as rs
from kinkd.drops import DropReason
from kinkd.exchange import KRB_AP_ERR_USER_TO_USER_REQUIRED, KinkError
from kinkd.krb5.values import KRB5KRB_AP_ERR_TKT_EXPIRED, Krb5Error
from kinkd.sas import Peer, SaPair
from racoon2.net import Address, Endpoint

A = Endpoint(ipaddress.ip_address("192.0.2.1"), 910)
B = Endpoint(ipaddress.ip_address("192.0.2.2"), 910)
NOBODY: Callable[[int], Address | None] = lambda xid: None  # noqa: E731


def create(xid: int = 7, **kw: object) -> bytes:
    return kink.encode(kink.Message(kink.MsgType.CREATE, xid,
                                    (kink.ApReq(1, b"ticket"),), **kw))  # type: ignore[arg-type]


def test_garbage_is_dropped_as_malformed() -> None:
    verdict = rs.triage(b"\x01\x10", B, rs.ReplyCache(), NOBODY)
    assert isinstance(verdict, rs.Drop) and verdict.reason is DropReason.MALFORMED
    assert verdict.detail.startswith("dropped a malformed message: ")


def test_a_reply_wakes_only_the_exchange_that_sent_to_its_address() -> None:
    reply = kink.encode(kink.Message(kink.MsgType.REPLY, 42))
    waiting = {42: B.addr}.get
    assert rs.triage(reply, B, rs.ReplyCache(), waiting) == rs.Wake(42)
    for remote, who in ((A, waiting), (B, NOBODY)):
        verdict = rs.triage(reply, remote, rs.ReplyCache(), who)
        assert verdict == rs.Drop(DropReason.UNEXPECTED_REPLY,
                                  "dropped a REPLY with XID 42 nobody waits for")


def test_an_unknown_message_type_is_dropped() -> None:
    data = kink.encode(kink.Message(9, 1))
    assert rs.triage(data, B, rs.ReplyCache(), NOBODY) == rs.Drop(
        DropReason.UNKNOWN_TYPE, "dropped a message of unknown type 9")


def test_a_request_is_served_then_busy_then_answered_from_the_cache() -> None:
    cache, data = rs.ReplyCache(), create()
    key = (B, kink.MsgType.CREATE, 7)
    verdict = rs.triage(data, B, cache, NOBODY)
    assert isinstance(verdict, rs.Serve) and verdict.key == key
    cache.begin(key)
    assert isinstance(rs.triage(data, B, cache, NOBODY), rs.Busy)
    cache.store(key, data, b"the reply", now=100.0)
    cache.finish(key)
    assert rs.triage(data, B, cache, NOBODY) == rs.Resend(b"the reply")
    # Another request under the same XID is not a retransmission: it is verified afresh.
    assert isinstance(rs.triage(create(ack_request=True), B, cache, NOBODY), rs.Serve)
    # Nor is the same request from another port.
    assert isinstance(rs.triage(data, Endpoint(B.addr, 911), cache, NOBODY), rs.Serve)


def test_a_bad_header_is_refused_with_its_kink_error() -> None:
    verdict = rs.triage(create(version=0x20), B, rs.ReplyCache(), NOBODY)
    assert isinstance(verdict, rs.Refuse) and verdict.code is kink.ErrorCode.INVMAJ
    verdict = rs.triage(create(doi=2), B, rs.ReplyCache(), NOBODY)
    assert isinstance(verdict, rs.Refuse) and verdict.code is kink.ErrorCode.INVDOI


def test_replies_are_forgotten_after_the_lifetime_when_the_next_is_stored() -> None:
    cache = rs.ReplyCache(lifetime=60.0)
    old, new = (B, 1, 1), (B, 1, 2)
    cache.store(old, b"req1", b"rep1", now=0.0)
    cache.store(new, b"req2", b"rep2", now=59.0)
    assert cache.cached(old, b"req1") == b"rep1" and len(cache) == 2
    cache.store(new, b"req2", b"rep2", now=60.0)
    assert cache.cached(old, b"req1") is None and len(cache) == 1
    assert cache.cached(new, b"other bytes") is None


def _refused(cause: Exception | None) -> KinkError:
    try:
        raise KinkError("does not verify") from cause
    except KinkError as e:
        return e


def test_a_refused_ticket_gets_a_krb_error_and_a_forgery_nothing() -> None:
    expired = _refused(Krb5Error(KRB5KRB_AP_ERR_TKT_EXPIRED, "Ticket expired"))
    assert rs.refusal(expired, kink.MsgType.CREATE, user_to_user_only=False) == 32
    assert rs.refusal(expired, kink.MsgType.CREATE, user_to_user_only=True) == \
        KRB_AP_ERR_USER_TO_USER_REQUIRED
    assert rs.refusal(expired, kink.MsgType.ACK, user_to_user_only=False) is None
    assert rs.refusal(_refused(None), kink.MsgType.CREATE, user_to_user_only=False) is None


def test_a_new_epoch_means_a_restart(make_pair: Callable[..., SaPair]) -> None:
    peers: dict[str, Peer] = {}
    theirs, other = make_pair(), make_pair(principal="kink/c@EXAMPLE.COM")
    principal = theirs.principal
    assert rs.observe_epoch(peers, principal, 5, [theirs, other]) is None
    assert rs.observe_epoch(peers, principal, 5, [theirs, other]) is None
    peers[principal].creds = object()  # type: ignore[assignment]
    peers[principal].tgt = b"their old TGT"
    restart = rs.observe_epoch(peers, principal, 6, [theirs, other])
    assert restart == rs.Restart(principal, 5, 6, (theirs,))
    assert peers[principal].epoch == 6 and peers[principal].creds is None
    assert peers[principal].tgt == b""  # fetched again with GETTGT


def test_a_restart_keeps_a_peer_without_user_to_user_so() -> None:
    peers = {"p": Peer("p", epoch=1)}
    assert rs.observe_epoch(peers, "p", 2, []) == rs.Restart("p", 1, 2, ())
    assert peers["p"].tgt is None


def test_the_epoch_is_the_start_time_in_32_bits() -> None:
    assert rs.epoch_of(1_700_000_000.9) == 1_700_000_000
    assert rs.epoch_of(2**32 + 5.0) == 5


@pytest.mark.parametrize(("now", "force", "due"), [(105.0, False, False), (105.0, True, True),
                                                    (110.0, False, True)])
def test_the_replay_cache_is_written_at_most_every_interval(now: float, force: bool,
                                                            due: bool) -> None:
    schedule = rs.SaveSchedule(interval=10.0)
    assert schedule.due(100.0)
    assert schedule.due(now, force) is due
