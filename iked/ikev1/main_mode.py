"""Main Mode with pre-shared keys or RSA signatures (RFC 2409 §5.1, §5.4), both roles (pure).

    Initiator                          Responder
    HDR, SA                     -->                             MM1
                                <--    HDR, SA                  MM2
    HDR, KE, Ni [, CR] [, NAT-D]  -->                           MM3
                                <--    HDR, KE, Nr [, CR] [, NAT-D]         MM4
    HDR*, IDii, HASH_I | [CERT,] SIG_I [, N(INITIAL-CONTACT)]  -->          MM5
                                <--    HDR*, IDir, HASH_R | [CERT,] SIG_R   MM6

NAT-D (RFC 3947 §3.2) goes beside KE and nonce: the NAT-T module adds its payloads to
:data:`KE_EXTRAS` and reads the peer's through :data:`KE_RECEIVED`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iked.events import Now
from iked.ikev1 import phase1, vendor
from iked.ikev1.sa import IsakmpSa, State
from racoon2.errors import ParseError
from racoon2.ikev1.constants import ExchangeType
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import SA, Payload

MM = ExchangeType.MAIN_MODE

#: Payloads to add to MM3/MM4 (NAT-D), and readers of the peer's MM3/MM4.
KE_EXTRAS: list[Callable[[IsakmpSa], Sequence[Payload]]] = []
KE_RECEIVED: list[Callable[[IsakmpSa, Sequence[Payload]], None]] = []


def extras(sa: IsakmpSa, payloads: Sequence[Payload]) -> tuple[Payload, ...]:
    """Read the peer's extras of ``payloads``, then ours to send (Aggressive Mode too)."""
    for read in KE_RECEIVED:
        read(sa, payloads)
    return tuple(p for add in KE_EXTRAS for p in add(sa))


def start(sa: IsakmpSa, now: Now) -> None:
    """MM1: our offer."""
    sa.move(State.MM_I1)
    sa.transmit(phase1.clear(sa, MM, (phase1.offer(sa), *vendor.ours(sa))), now)


def r_mm1(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM1 -> MM2: the responder's choice."""
    vendor.received(sa, msg.payloads)
    answer = phase1.respond_sa(sa, phase1.find(msg.payloads, SA))
    if answer is None:
        return
    sa.cookie_r = sa.host.rng.random_bytes(8)
    sa.move(State.MM_R2)
    sa.transmit(phase1.clear(sa, MM, (answer, *vendor.ours(sa))), now, data)


def i_mm2(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM2 -> MM3: our KE and nonce."""
    vendor.received(sa, msg.payloads)
    sa.cookie_r = msg.cookie_r
    if not phase1.accept_sa(sa, phase1.find(msg.payloads, SA)):
        return
    ke, nonce = phase1.ke_nonce(sa)
    sa.move(State.MM_I3)
    sa.transmit(phase1.clear(sa, MM, (ke, nonce, *phase1.cert_requests(sa),
                                      *extras(sa, ()))), now)


def r_mm3(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM3 -> MM4: our KE and nonce; the keys."""
    if not phase1.take_ke_nonce(sa, msg.payloads):
        return
    ke, nonce = phase1.ke_nonce(sa)
    if not phase1.derive(sa):
        return
    sa.move(State.MM_R4)
    sa.transmit(phase1.clear(sa, MM, (ke, nonce, *phase1.cert_requests(sa),
                                      *extras(sa, msg.payloads))), now, data)


def i_mm4(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM4 -> MM5: the keys; our ID and HASH_I, encrypted."""
    if not phase1.take_ke_nonce(sa, msg.payloads) or not phase1.derive(sa):
        return
    extras(sa, msg.payloads)
    assert sa.keys is not None
    ident = phase1.my_id(sa)
    sa.move(State.MM_I5)
    sa.transmit(sa.keys.seal(Message(sa.cookie_i, sa.cookie_r, MM, 0),
                             (ident, *phase1.proof(sa, ident), *phase1.initial_contact(sa))),
                now)


def _open(sa: IsakmpSa, msg: Message) -> tuple[Payload, ...] | None:
    assert sa.keys is not None
    if msg.encrypted is None:
        sa.fail("phase 1", "the ID message is not encrypted")
        return None
    try:
        return sa.keys.open(msg)
    except ParseError as e:
        sa.fail("phase 1", f"cannot decrypt the peer's ID message ({e}): the pre-shared "
                "keys differ")
        return None


def r_mm5(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM5 -> MM6: the initiator is authenticated; our ID and HASH_R."""
    payloads = _open(sa, msg)
    if payloads is None or not phase1.authenticate(sa, payloads):
        return
    assert sa.keys is not None
    ident = phase1.my_id(sa)
    reply = sa.keys.seal(Message(sa.cookie_i, sa.cookie_r, MM, 0),
                         (ident, *phase1.proof(sa, ident)))
    sa.host.send(sa, reply)
    sa.last_in, sa.last_out = data, reply
    phase1.established(sa, payloads, now)


def i_mm6(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """MM6: the responder is authenticated; phase 1 is up."""
    payloads = _open(sa, msg)
    if payloads is None or not phase1.authenticate(sa, payloads):
        return
    phase1.established(sa, payloads, now)
