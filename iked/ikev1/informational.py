"""Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): Delete and Notification, protected
by HASH(1) = prf(SKEYID_a, M-ID | payloads), unanswered (pure).

    HDR*, HASH(1), D(ESP, SPIs) | D(ISAKMP, CKY-I | CKY-R) | N(...)  -->
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from iked.events import Now
from iked.ikev1.sa import IsakmpSa, State
from iked.ikev2.child import Child
from racoon2.ikev1 import message
from racoon2.ikev1.constants import Doi, ExchangeType, NotifyType, ProtocolId
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import Delete, Hash, Notification, Payload

#: A status notify's handler (DPD's R-U-THERE …): a reason to drop it, or None.
NotifyHandler = Callable[[IsakmpSa, Notification, Now], "str | None"]
#: Handlers of status notifies by type, added by the modules that speak them.
NOTIFIES: dict[int, NotifyHandler] = {}


def send(sa: IsakmpSa, payloads: tuple[Payload, ...]) -> None:
    """One Informational exchange of ``payloads`` (a new message ID and IV chain)."""
    assert sa.keys is not None
    mid = sa.new_mid()
    m = mid.to_bytes(4, "big")
    h = Hash(sa.keys.prf(sa.keys.a, m + message.encode_chain(payloads)[1]))
    sa.host.send(sa, sa.keys.seal(Message(sa.cookie_i, sa.cookie_r, ExchangeType.INFORMATIONAL,
                                          mid), (h, *payloads)))
    sa.keys.forget(mid)


def delete_children(sa: IsakmpSa, children: Sequence[Child], now: Now) -> None:
    """Tell the peer the IPsec SAs of ``children`` are gone (their inbound SPIs)."""
    spis = tuple(c.spi_in.to_bytes(4, "big") for c in children if c.spi_in)
    if spis and sa.keys is not None and sa.state is State.ESTABLISHED:
        send(sa, (Delete(Doi.IPSEC, ProtocolId.IPSEC_ESP, 4, spis),))


def delete_sa(sa: IsakmpSa, now: Now, reason: str, keep_children: bool = False) -> None:
    """Delete the ISAKMP SA (and, unless a successor has them, its IPsec SAs), peer told."""
    if sa.state is State.ESTABLISHED:
        if not keep_children:
            delete_children(sa, sa.children, now)
        send(sa, (Delete(Doi.IPSEC, ProtocolId.ISAKMP, 16, (sa.cookies,)),))
    sa.die(reason, keep_children)


def receive(sa: IsakmpSa, payloads: tuple[Payload, ...], mid: int, now: Now) -> str | None:
    """The peer's Informational exchange; a reason to drop it, or None."""
    h = payloads[0] if payloads else None
    assert sa.keys is not None
    if not isinstance(h, Hash) or not hmac.compare_digest(h.data, sa.keys.prf(
            sa.keys.a, mid.to_bytes(4, "big") + message.encode_chain(payloads[1:])[1])):
        return "Informational HASH(1) does not verify"
    for p in payloads[1:]:
        if isinstance(p, Delete) and p.protocol == ProtocolId.ISAKMP:
            if sa.cookies in p.spis:
                sa.host.peer_deleted(sa, now)
                return None
        elif isinstance(p, Delete) and p.protocol == ProtocolId.IPSEC_ESP:
            spis = {int.from_bytes(s, "big") for s in p.spis if len(s) == 4}
            for c in [c for c in sa.children if c.spi_out in spis]:
                sa.remove_child(c, "the peer deleted it")
        elif isinstance(p, Notification) and p.type == NotifyType.INITIAL_CONTACT:
            sa.host.initial_contact(sa, now)
        elif isinstance(p, Notification) and p.type in NOTIFIES:
            problem = NOTIFIES[p.type](sa, p, now)
            if problem is not None:
                return problem
        elif isinstance(p, Notification) and p.type < 8192:
            # An error notify (RFC 2408 §3.14.1) about a Quick Mode in progress names one of
            # its SPIs (or none, when only one is in progress): that Quick Mode has failed.
            # (A responder's task has its keys and inbound SA since QM2: open until HASH(3).)
            open_tasks = [t for t in sa.quick.values() if t.child not in sa.children]
            for task in open_tasks:
                ours = {c.to_bytes(4, "big") for c in (task.child.spi_in, task.child.spi_out)}
                if p.spi in ours or (not p.spi and len(open_tasks) == 1):
                    task.refused(notify_name(p.type))
    return None


def notify_name(value: int) -> str:
    """A notify type's name for logs."""
    try:
        return NotifyType(value).name
    except ValueError:
        return f"notify {value}"
