"""INVALID_IKE_SPI (RFC 7296 §2.21.4): a request for an IKE SA the responder does not know gets
an unprotected INFORMATIONAL with N(INVALID_IKE_SPI), rate-limited, from no state; received
for one of our IKE SAs it is no more than a hint (it is not authenticated): a liveness check
follows if the SA is up, and the SA is never deleted on it.

Before, the request was dropped silently, and a received INVALID_IKE_SPI was counted as a
message that failed its integrity check.  A and B on samples/ikev2-transport.conf.
"""

from __future__ import annotations

import ipaddress

from iked.events import InvalidSpiHint
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_RESPONSE, ExchangeType, NotifyType
from racoon2.ikev2.payloads import Notify
from racoon2.kernel import api
from racoon2.net import Endpoint

from . import internals
from .harness import A, B, Side, decode, exchange, ike_sas, of, pump, settle
from .test_collisions import inbound, up

CREATE, INFO = ExchangeType.CREATE_CHILD_SA, ExchangeType.INFORMATIONAL
RATE = 10  # iked.ikev2.core.INVALID_SPI_RATE


def _forged_hint(a: Side) -> bytes:
    """An INVALID_IKE_SPI 'answer' with the SPIs of A's IKE SA, as anybody can send it."""
    (sa,) = ike_sas(a)
    spi_i, spi_r = (bytes.fromhex(x) for x in sa["sa"].split(":"))
    return message.encode(message.Message(spi_i, spi_r, INFO, 7, (Notify(
        0, NotifyType.INVALID_IKE_SPI, b"", b""),), FLAG_RESPONSE))


def test_a_request_for_a_forgotten_ike_sa_gets_invalid_ike_spi(pair: dict[str, Side]) -> None:
    up(pair)
    a, b = pair["a"], pair["b"]
    internals.forget_sas(b)  # B restarted (or deleted the SA and its Delete answer was lost)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 1.0)
    #   A                                             B
    #   HDR, SK { N(REKEY_SA), SA, Ni, TSi, TSr } -->      (an IKE SA B does not know)
    #                                             <-- HDR, N(INVALID_IKE_SPI)  (unprotected)
    req = exchange(a, b, 1.0)
    assert (req.exchange, req.response) == (CREATE, False)
    (d,) = b.take()
    hint = decode(d.data, b)
    assert (hint.exchange, hint.response, hint.initiator, hint.protected) == \
        (INFO, True, False, False), hint.draw()
    assert hint.notifies == [NotifyType.INVALID_IKE_SPI]
    assert hint.message_id == req.message_id and d.data[:16] == req.data[:16]  # same SPIs
    # sent back where it came from: A floated to port 4500 in IKE_AUTH (RFC 4555 §3.2)
    assert (d.local.addr, d.remote) == (B, Endpoint(A, 4500))
    # No state on B: no SA, no kernel request.
    assert ike_sas(b) == [] and b.core.requests() == []
    # A takes it as a hint: the SA stays, a liveness check waits behind the rekey in flight.
    a.core.receive_datagram(d.data, d.remote, d.local, 1.0)
    settle(a, 1.0)
    assert [e.remote for e in of(a, InvalidSpiHint)] == [Endpoint(B, 4500)]
    (sa,) = ike_sas(a)
    assert sa["state"] == "established" and len(sa["children"]) == 1
    assert [t["kind"] for t in sa["exchanges"]["queued"]] == ["INFORMATIONAL liveness check"]
    assert not a.outbox  # never answered


def test_invalid_ike_spi_answers_are_rate_limited(pair: dict[str, Side]) -> None:
    up(pair)
    a, b = pair["a"], pair["b"]
    internals.forget_sas(b)
    assert a.core.kernel_event(api.Expire(inbound(a), hard=False), 1.0)
    settle(a, 1.0)
    (d,) = a.take()
    for now in (2.0, 2.5, 3.0):  # a flood of 50 requests in each of two seconds
        for _ in range(50 if now != 2.5 else 0):
            b.core.receive_datagram(d.data, d.remote, d.local, now)
        settle(b, now)
        assert len(b.take()) == (RATE if now != 2.5 else 0)
    assert ike_sas(b) == []


def test_a_forged_invalid_ike_spi_only_starts_a_liveness_check(pair: dict[str, Side]) -> None:
    up(pair)
    a, b = pair["a"], pair["b"]
    a.core.receive_datagram(_forged_hint(a), Endpoint(A, 500), Endpoint(B, 500), 5.0)
    settle(a, 5.0)
    #   A                  B
    #   HDR, SK { }   -->       (the liveness check, at once)
    #                 <--  HDR, SK { }
    check = exchange(a, b, 5.0)
    assert (check.exchange, check.response, check.types) == (INFO, False, []), check.draw()
    assert exchange(b, a, 5.0).response
    assert pump(pair, 5.0) == 0
    # B answered: nothing changes, no Delete, no kernel request.
    (sa,) = ike_sas(a)
    assert sa["state"] == "established" and len(sa["children"]) == 1
    assert len(a.kernel.sas) == 2


def test_invalid_ike_spi_from_another_address_is_ignored(pair: dict[str, Side]) -> None:
    up(pair)
    a = pair["a"]
    other = Endpoint(ipaddress.ip_address("198.51.100.7"), 500)
    a.core.receive_datagram(_forged_hint(a), Endpoint(A, 500), other, 5.0)
    settle(a, 5.0)
    assert not a.outbox and of(a, InvalidSpiHint) == []
    assert a.core.dropped  # counted


def test_invalid_ike_spi_for_an_sa_being_deleted_changes_nothing(pair: dict[str, Side]) -> None:
    """B forgot the IKE SA while A's Delete of it is in flight (as when both copies of B's
    answer are lost): B's INVALID_IKE_SPI is reported as ignored (no liveness check: the SA
    is no longer up), and A retransmits its Delete until the answer or its limit."""
    up(pair)
    a, b = pair["a"], pair["b"]
    a.core.shutdown(5.0, 30.0)
    settle(a, 5.0)
    internals.forget_sas(b)
    #   A                     B
    #   HDR, SK { D(IKE) } -->      (an IKE SA B no longer knows)
    #                      <-- HDR, N(INVALID_IKE_SPI)  (unprotected)
    m = exchange(a, b, 5.0)
    assert (m.exchange, m.response) == (INFO, False), m.draw()
    (d,) = b.take()
    a.core.receive_datagram(d.data, d.remote, d.local, 5.0)
    settle(a, 5.0)
    assert [e.checking for e in of(a, InvalidSpiHint)] == [False]
    (sa,) = ike_sas(a)
    assert sa["state"] == "deleting" and "queued" not in sa["exchanges"]
    assert not a.outbox
    #   HDR, SK { D(IKE) } -->      (its retransmission, the same message)
    when = a.core.next_timer()
    assert when is not None and when < 35.0
    a.core.handle_timer(when)
    (again,) = a.take()
    assert decode(again.data, a).message_id == m.message_id
