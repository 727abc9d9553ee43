"""Aggressive Mode with pre-shared keys (RFC 2409 §5, §5.4), both roles (pure).

    Initiator                                  Responder
    HDR, SA, KE, Ni, IDii               -->
                                        <--    HDR, SA, KE, Nr, IDir, HASH_R
    HDR*, HASH_I [, N(INITIAL-CONTACT)] -->

The KE goes before the group is agreed, so the initiator offers its first ``kmp_dh_group``
only.  HASH_R travels in the clear: anyone who sees it can try pre-shared keys offline
(CERT VU#886601), which iked logs as racoon does, at each start and in ``iked -n``
(:data:`racoon2.config.check_iked.AGGRESSIVE_PSK_WARNING`).
"""

from __future__ import annotations

from iked.events import Now
from iked.ikev1 import main_mode, phase1, vendor
from iked.ikev1.sa import IsakmpSa, State
from racoon2.errors import ParseError
from racoon2.ikev1.constants import ExchangeType, Phase1Attr
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import SA, Identification

AM = ExchangeType.AGGRESSIVE


def start(sa: IsakmpSa, now: Now) -> None:
    """AM1: our offer (first group), KE, nonce and ID."""
    first = sa.settings.transforms[0].attribute(Phase1Attr.GROUP_DESCRIPTION)
    group = first.as_int if first is not None else 0
    offer = [t for t in sa.settings.transforms
             if (g := t.attribute(Phase1Attr.GROUP_DESCRIPTION)) and g.as_int == group]
    ke, nonce = phase1.ke_nonce(sa, group)
    sa.move(State.AM_I1)
    sa.transmit(phase1.clear(sa, AM, (phase1.offer(sa, offer), ke, nonce, phase1.my_id(sa),
                                      *vendor.ours(sa))), now)


def r_am1(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """AM1 -> AM2: our choice, KE, nonce, ID and HASH_R."""
    vendor.received(sa, msg.payloads)
    answer = phase1.respond_sa(sa, phase1.find(msg.payloads, SA))
    ident = phase1.find(msg.payloads, Identification)
    if answer is None:
        return
    if ident is None or not phase1.take_ke_nonce(sa, msg.payloads):
        sa.fail("phase 1", "aggressive mode without the initiator's ID")
        return
    sa.peer_ident = ident
    sa.cookie_r = sa.host.rng.random_bytes(8)
    ke, nonce = phase1.ke_nonce(sa)
    if not phase1.derive(sa):
        return
    mine = phase1.my_id(sa)
    sa.move(State.AM_R2)
    sa.transmit(phase1.clear(sa, AM, (answer, ke, nonce, mine, *phase1.proof(sa, mine),
                                      *vendor.ours(sa), *main_mode.extras(sa, ()))), now, data)


def i_am2(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """AM2 -> AM3: the responder is authenticated; our HASH_I, encrypted."""
    vendor.received(sa, msg.payloads)
    sa.cookie_r = msg.cookie_r
    if not phase1.accept_sa(sa, phase1.find(msg.payloads, SA)) or \
            not phase1.take_ke_nonce(sa, msg.payloads) or not phase1.derive(sa) or \
            not phase1.authenticate(sa, msg.payloads):
        return
    assert sa.keys is not None
    # NAT-D of AM2 read (the initiator floats to 4500), ours go in AM3 (RFC 3947 §3.2).
    nat_d = main_mode.extras(sa, msg.payloads)
    reply = sa.keys.seal(Message(sa.cookie_i, sa.cookie_r, AM, 0),
                         (*phase1.proof(sa, phase1.my_id(sa)), *nat_d,
                          *phase1.initial_contact(sa)))
    sa.host.send(sa, reply)
    sa.last_in, sa.last_out = data, reply
    phase1.established(sa, msg.payloads, now)


def r_am3(sa: IsakmpSa, msg: Message, data: bytes, now: Now) -> None:
    """AM3: the initiator is authenticated (HASH_I encrypted or, as some send it, not)."""
    assert sa.keys is not None
    payloads = msg.payloads
    if msg.encrypted is not None:
        try:
            payloads = sa.keys.open(msg)
        except ParseError as e:
            sa.fail("phase 1", f"cannot decrypt HASH_I ({e}): the pre-shared keys differ")
            return
    if phase1.authenticate(sa, payloads, sa.peer_ident):
        for read in main_mode.KE_RECEIVED:
            read(sa, payloads)
        phase1.established(sa, payloads, now)
