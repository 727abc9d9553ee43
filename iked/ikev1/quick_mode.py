"""Quick Mode (RFC 2409 §5.5): one task per message ID, several at once, both roles (pure).

    Initiator                                   Responder
    HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]  -->
                       <--  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, N(RESPONDER-LIFETIME)]
    HDR*, HASH(3)                                -->

HASH(1) = prf(SKEYID_a, M-ID | rest), HASH(2) = prf(SKEYID_a, M-ID | Ni_b | rest),
HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b), "rest" being every payload after the HASH.
KEYMAT per direction = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) expanded,
SPI the receiving side's.  Make-before-break, so that a rekey loses no packet: the
responder installs its inbound SA as it sends QM2 and its outbound one on HASH(3); the
initiator installs both on QM2, before HASH(3) leaves (the shell performs kernel requests
before it sends), so each side's first packet on a new SA finds the other's inbound SA in.
A commit bit (RFC 2408 §4.8) is tolerated, its CONNECTED notify not awaited.  The rekeyed
SA's outbound SA goes at once, its inbound SA :data:`RETIRE_GRACE` later.

Both roles and the order of the kernel requests stay in this one module (a little over 500
lines) so that the exchange reads top to bottom.
"""

from __future__ import annotations

import enum
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from iked import ipsec_sas
from iked.events import ChildSaUp, KernelFailed, NegotiationFailed, Now, Op
from iked.ikev1 import ids, informational, nat_exchange, proposals
from iked.ikev1.phase1 import find
from iked.ikev1.sa import IsakmpSa, Resend
from iked.ikev2 import child as childmod
from iked.ikev2.child import Child, Negotiated
from iked.ikev2.settings import ChildSettings
from iked.queues import Continue
from racoon2.crypto import dh, keymat
from racoon2.errors import CryptoError, Racoon2Error
from racoon2.ikev1 import message
from racoon2.ikev1.constants import (
    Doi,
    ExchangeType,
    IpsecAttr,
    NotifyType,
    ProtocolId,
    Situation,
)
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import (
    KE,
    SA,
    Hash,
    Identification,
    Nonce,
    Notification,
    Payload,
    Proposal,
    Transform,
    decode_attributes,
    encode_attributes,
)
from racoon2.kernel import api
from racoon2.net import Address
from racoon2.spmif.commands import PolicyAdd

QM = ExchangeType.QUICK_MODE
#: How long a finished task stays to answer a repeat of the peer's last message.
LINGER = 30.0
#: How long a rekeyed SA's inbound SA outlives its outbound one: the peer sends on it until
#: it has processed our HASH(3) (or its own) and installed its new outbound SA.
RETIRE_GRACE = 3.0


class QState(enum.Enum):
    """Where a Quick Mode task stands."""

    I_SPI = "initiator: waiting for our SPI"
    I_QM1 = "initiator: QM1 sent"
    R_SPI = "responder: waiting for our SPI"
    R_QM2 = "responder: QM2 sent"
    DONE = "done"


@dataclass(eq=False)
class QuickTask:
    """One Quick Mode exchange of an ISAKMP SA."""

    sa: IsakmpSa
    mid: int
    initiator: bool
    child: Child
    state: QState
    ni: bytes = b""
    nr: bytes = b""
    exchange: dh.Exchange | None = None
    shared: bytes = b""
    offer: tuple[Proposal, ...] = ()
    transform: Transform | None = None
    lifetime: int = 0
    lifetime_kb: int = 0
    ids: tuple[Identification, ...] = ()
    resend: Resend | None = None
    last_in: bytes = b""
    last_out: bytes = b""
    linger: Now | None = None
    group: int | None = None
    extra: tuple[Payload, ...] = field(default=())

    def deadline(self) -> Now | None:
        """A retransmission's time, or the end of the lingering."""
        return self.resend.deadline if self.resend is not None else self.linger

    def refused(self, why: str) -> None:
        """The peer's error notify ended this Quick Mode."""
        _fail(self, f"the peer said {why}")

    def send(self, payloads: tuple[Payload, ...], now: Now, retransmit: bool,
             answer_to: bytes = b"") -> None:
        """Seal (HASH first) and send; ``retransmit``: until the peer's next message."""
        assert self.sa.keys is not None
        packet = self.sa.keys.seal(Message(self.sa.cookie_i, self.sa.cookie_r, QM, self.mid),
                                   payloads)
        self.sa.host.send(self.sa, packet)
        schedule = self.sa.settings.schedule
        self.resend = Resend(packet, schedule, now + schedule.wait(0)) if retransmit else None
        self.last_in, self.last_out = answer_to, packet


def _prf_a(sa: IsakmpSa, data: bytes) -> bytes:
    assert sa.keys is not None
    return sa.keys.prf(sa.keys.a, data)


def _rest(payloads: tuple[Payload, ...]) -> bytes:
    return message.encode_chain(payloads)[1]


def _mid(t: QuickTask) -> bytes:
    return t.mid.to_bytes(4, "big")


def start(sa: IsakmpSa, settings: ChildSettings, now: Now, rekey_of: Child | None = None
          ) -> QuickTask:
    """Begin a Quick Mode for ``settings``: our SPI first, then QM1."""
    mid = sa.new_mid()
    t = QuickTask(sa, mid, True, Child(settings, rekey_of=rekey_of), QState.I_SPI)
    sa.quick[mid] = t
    me, peer = _ends(sa, settings)

    def allocated(result: object, now: Now) -> None:
        if isinstance(result, Racoon2Error) or not isinstance(result, int):
            _fail(t, f"cannot allocate an SPI: {result}")
            return
        t.child.spi_in = result
        _send_qm1(t, now)

    sa.host.request(sa, api.AllocSpi(api.Proto.ESP, peer, me, settings.reqid), allocated)
    return t


def _ends(sa: IsakmpSa, s: ChildSettings) -> tuple[Address, Address]:
    where = ipsec_sas.ends(s, sa.local.addr, sa.remote.addr)
    return where.me, where.peer


def _group(sa: IsakmpSa) -> int | None:
    # PFS uses the phase 1 group (racoon's pfs_group defaults to it).
    return sa.algs.group if sa.settings.need_pfs and sa.algs is not None else None


def _offer(sa: IsakmpSa, settings: ChildSettings, spi: int, group: int | None
           ) -> tuple[Proposal, ...]:
    if settings.ah or settings.ipcomp:
        raise CryptoError(f"policy {settings.policy}: iked's IKEv1 negotiates ESP only "
                          "(no AH, no IPComp) so far")
    return proposals.esp_proposals(struct.pack("!I", spi), settings.esp, settings.tunnel,
                                   settings.lifetime_seconds, settings.lifetime_bytes // 1024,
                                   group, nat_exchange.mode(sa, settings.tunnel))


def _send_qm1(t: QuickTask, now: Now) -> None:
    sa, s = t.sa, t.child.settings
    t.group = _group(sa)
    try:
        t.offer = _offer(sa, s, t.child.spi_in, t.group)
    except CryptoError as e:
        _fail(t, str(e))
        return
    t.ni = sa.host.rng.random_bytes(sa.settings.nonce_size)
    rest: tuple[Payload, ...] = (SA(Doi.IPSEC, Situation.IDENTITY_ONLY, t.offer), Nonce(t.ni))
    if t.group is not None:
        t.exchange = dh.start(t.group, sa.host.rng)
        rest += (KE(t.exchange.public_bytes()),)
    t.ids = (ids.to_id(s.local_ts[0]), ids.to_id(s.remote_ts[0])) if s.local_ts and \
        s.remote_ts else ()
    rest += (*t.ids, *nat_exchange.nat_oa(sa, True, s.tunnel))
    t.state = QState.I_QM1
    t.send((Hash(_prf_a(sa, _mid(t) + _rest(rest))), *rest), now, True)


def _hash_ok(t: QuickTask, payloads: tuple[Payload, ...], prefix: bytes) -> bool:
    h = payloads[0] if payloads else None
    if not isinstance(h, Hash) or not hmac.compare_digest(
            h.data, _prf_a(t.sa, prefix + _rest(payloads[1:]))):
        _fail(t, "HASH does not verify")
        return False
    return True


def respond(sa: IsakmpSa, msg: Message, payloads: tuple[Payload, ...], data: bytes,
            now: Now) -> None:
    """QM1 from the peer: pick a policy and a proposal, allocate our SPI, answer QM2."""
    # The policy is known once the IDs are read: until then the task holds a placeholder.
    t = QuickTask(sa, msg.message_id, False, Child(_NO_POLICY), QState.R_SPI)
    sa.quick[t.mid] = t
    t.last_in = data
    if not _hash_ok(t, payloads, _mid(t)):
        return
    sa.remember_mid(t.mid)
    offered, nonce, ke = find(payloads, SA), find(payloads, Nonce), find(payloads, KE)
    idents = [p for p in payloads if isinstance(p, Identification)]
    if offered is None or nonce is None or len(idents) not in (0, 2):
        _fail(t, "SA or nonce missing, or not two IDs")
        return
    t.ni, t.ids = nonce.data, tuple(idents)
    picked = _pick(t, offered, ke)
    if picked is None:
        return
    settings, proposal, choice = picked
    # IKEv1 has no REKEY_SA: a Quick Mode for a policy whose SA is still up is the peer's
    # rekey of it, and the old one goes once the new one is in (as after our own rekey).
    t.child = Child(settings, rekey_of=next(
        (c for c in sa.children if c.settings.policy == settings.policy and not c.replaced),
        None))
    t.transform, t.lifetime, t.lifetime_kb = choice.transform, choice.lifetime, \
        choice.lifetime_kb
    if ke is not None:
        assert t.group is not None
        try:
            public, t.shared = dh.respond(t.group, ke.data, sa.host.rng)
        except CryptoError as e:
            _fail(t, f"the peer's KE: {e}")
            return
        t.extra = (KE(public),)
    me, peer = _ends(sa, settings)
    t.child.spi_out = int.from_bytes(proposal.spi, "big")

    def allocated(result: object, now: Now) -> None:
        if isinstance(result, Racoon2Error) or not isinstance(result, int):
            _fail(t, f"cannot allocate an SPI: {result}")
            return
        t.child.spi_in = result
        spi = struct.pack("!I", result)
        t.nr = sa.host.rng.random_bytes(sa.settings.nonce_size)
        rest: tuple[Payload, ...] = (
            SA(Doi.IPSEC, Situation.IDENTITY_ONLY,
               (Proposal(proposal.number, proposal.protocol, spi, (choice.transform,)),)),
            Nonce(t.nr), *t.extra, *t.ids, *nat_exchange.nat_oa(sa, False, settings.tunnel))
        if choice.notify_lifetime:
            # RFC 2407 §4.6.3.1: the lifetimes we take, for the SA of this SPI.
            life = proposals.lifetime_attributes(IpsecAttr.SA_LIFE_TYPE, t.lifetime,
                                                 t.lifetime_kb)
            rest += (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP,
                                  NotifyType.RESPONDER_LIFETIME, spi,
                                  encode_attributes(life)),)
        t.state = QState.R_QM2
        t.send((Hash(_prf_a(sa, _mid(t) + t.ni + _rest(rest))), *rest), now, True, data)
        if _negotiate(t):
            _request(t, [_inbound_op(t)], lambda now: None)

    sa.host.request(sa, api.AllocSpi(api.Proto.ESP, peer, me, settings.reqid), allocated)


_NO_POLICY = ChildSettings("-", "-", 0, True, (), (), None, None, (), False, 0, 0)


def _pick(t: QuickTask, offered: SA, ke: KE | None
          ) -> tuple[ChildSettings, Proposal, proposals.Choice] | None:
    sa = t.sa
    if t.ids:
        tsi, tsr = ids.to_ts(t.ids[0]), ids.to_ts(t.ids[1])
    else:
        tsi, tsr = ids.host_ts(sa.remote.addr), ids.host_ts(sa.local.addr)
    configured = []
    for settings in sa.host.children(sa.settings.remote):
        if settings.rw:
            # IP_RW: the peer's side is the address mode-config leased it, else its own.
            settings = childmod.rw_narrowed(settings, [sa.leased or sa.remote.addr])
        configured.append(f"{settings.policy}: {childmod.show(settings.remote_ts)} <=> "
                          f"{childmod.show(settings.local_ts)}")
        # The IDs as sent, else (transport mode behind a NAT) as the addresses seen here.
        readings = [] if tsi is None or tsr is None else \
            [(tsi, tsr)] if settings.tunnel else [(tsi, tsr), nat_exchange.seen_ts(sa, tsi, tsr)]
        if not any(childmod.responder_ts(settings, [i], [r], True) is not None
                   for i, r in readings):
            continue
        for p in offered.proposals:
            group = None
            for tr in p.transforms:
                g = tr.attribute(IpsecAttr.GROUP_DESCRIPTION)
                group = g.as_int if g is not None else group
            if (ke is None) != (group is None) or (sa.settings.need_pfs and ke is None):
                continue
            if p.protocol != ProtocolId.IPSEC_ESP or len(p.spi) != 4 or \
                    sum(q.number == p.number for q in offered.proposals) != 1:
                continue  # AH, IPComp and bundles are not negotiated here yet
            try:
                ours = _offer(sa, settings, 0, group)
            except CryptoError:
                continue
            choice = proposals.choose(p.transforms, [tr for q in ours for tr in q.transforms],
                                      IpsecAttr.SA_LIFE_TYPE, sa.settings.proposal_check)
            if choice is not None:
                t.group = group
                return settings, p, choice
        sa.host.emit(NegotiationFailed(sa.name, "quick mode", "no proposal chosen",
                                       "; ".join(proposals.describe(p.transforms)
                                                 for p in offered.proposals),
                                       f"policy {settings.policy}"))
        _refuse(t, offered, NotifyType.NO_PROPOSAL_CHOSEN)
        _fail(t, "no proposal chosen", report=False)
        return None
    _refuse(t, offered, NotifyType.INVALID_ID_INFORMATION)
    _fail(t, "IDs unacceptable", f"IDci {tsi}, IDcr {tsr}",
          "; ".join(configured) or f"no policy names remote {sa.settings.remote}")
    return None


def _refuse(t: QuickTask, offered: SA, why: NotifyType) -> None:
    # Tell the initiator, naming the SPI of its offer, so that it stops retransmitting
    # (RFC 2408 §3.14.1, sent protected as RFC 2409 §5.7 wants once there is a phase 1).
    spi = offered.proposals[0].spi if offered.proposals else b""
    informational.send(t.sa, (Notification(Doi.IPSEC, ProtocolId.IPSEC_ESP, why, spi),))


def answered(t: QuickTask, payloads: tuple[Payload, ...], data: bytes, now: Now) -> None:
    """QM2 from the responder: check its choice, send HASH(3), install."""
    if not _hash_ok(t, payloads, _mid(t) + t.ni):
        return
    got, nonce, ke = find(payloads, SA), find(payloads, Nonce), find(payloads, KE)
    chosen = got.proposals if got is not None else ()
    if nonce is None or len(chosen) != 1 or len(chosen[0].transforms) != 1 or \
            len(chosen[0].spi) != 4:
        _fail(t, "the responder's SA is not one proposal of one transform, or no nonce")
        return
    tr = chosen[0].transforms[0]
    mine = [q for q in t.offer if q.number == chosen[0].number]
    if not mine or proposals.essence(tr, IpsecAttr.SA_LIFE_TYPE) not in {
            proposals.essence(m, IpsecAttr.SA_LIFE_TYPE) for m in mine[0].transforms}:
        _fail(t, f"the responder chose {proposals.describe((tr,))}, which we did not offer")
        return
    if (t.exchange is None) != (ke is None):
        _fail(t, "PFS: the responder's KE is missing or unasked for")
        return
    if t.exchange is not None and ke is not None:
        try:
            t.shared = t.exchange.shared_secret(ke.data)
        except CryptoError as e:
            _fail(t, f"the responder's KE: {e}")
            return
    t.nr, t.transform = nonce.data, tr
    t.child.spi_out = int.from_bytes(chosen[0].spi, "big")
    t.lifetime, t.lifetime_kb = proposals.lifetimes(tr, IpsecAttr.SA_LIFE_TYPE)
    for n in payloads:
        if isinstance(n, Notification) and n.type == NotifyType.RESPONDER_LIFETIME:
            attrs = decode_attributes(n.data, "RESPONDER-LIFETIME")
            secs, kb = proposals.lifetimes(Transform(0, 0, attrs), IpsecAttr.SA_LIFE_TYPE)
            t.lifetime = min(x for x in (t.lifetime, secs) if x) if secs else t.lifetime
            t.lifetime_kb = min(x for x in (t.lifetime_kb, kb) if x) if kb else t.lifetime_kb
    t.send((Hash(_prf_a(t.sa, b"\0" + _mid(t) + t.ni + t.nr)),), now, False, data)
    _done(t, now)


def confirmed(t: QuickTask, payloads: tuple[Payload, ...], data: bytes, now: Now) -> None:
    """QM3 from the initiator: install."""
    h = payloads[0] if payloads else None
    if not isinstance(h, Hash) or not hmac.compare_digest(
            h.data, _prf_a(t.sa, b"\0" + _mid(t) + t.ni + t.nr)):
        _fail(t, "HASH(3) does not verify")
        return
    # Nothing answers HASH(3): a copy of it is a stale message, not a QM1 to answer again.
    t.resend = None
    t.last_in = t.last_out = b""
    _done(t, now)


def _done(t: QuickTask, now: Now) -> None:
    t.state = QState.DONE
    t.linger = now + LINGER
    if t.sa.keys is not None:
        t.sa.keys.forget(t.mid)
    _install(t)


def _keys(t: QuickTask, spi: int, size: tuple[int, int]) -> tuple[bytes, bytes]:
    sa = t.sa
    assert sa.keys is not None
    stream = keymat.ikev1_keymat(sa.keys.algs.prf, sa.keys.d, ProtocolId.IPSEC_ESP,
                                 struct.pack("!I", spi), t.ni, t.nr, sum(size), t.shared)
    return stream[:size[0]], stream[size[0]:]


def _negotiate(t: QuickTask) -> bool:
    """Derive both kernel SAs of the task's IPsec SA (``child.negotiated``); False when the
    chosen transform cannot be used (the task has failed)."""
    sa, c = t.sa, t.child
    assert t.transform is not None
    try:
        suite = proposals.esp_suite(t.transform)
    except CryptoError as e:
        _fail(t, str(e))
        return False
    size = (suite.encr.keymat_size, suite.integ.key_size if suite.integ else 0)
    where = _where(t)
    life = ipsec_sas.lifetime(t.lifetime, t.lifetime_kb * 1024, sa.host.rng)
    inbound, outbound = ipsec_sas.sa_pair(where, api.Proto.ESP, c.settings.reqid, suite.encr,
                                          suite.integ, c.spi_in, c.spi_out,
                                          _keys(t, c.spi_in, size), _keys(t, c.spi_out, size),
                                          life)
    c.negotiated = Negotiated(inbound, outbound, ipsec_sas.describe(suite.encr, suite.integ) +
                              (" PFS" if t.shared else ""))
    return True


def _where(t: QuickTask) -> ipsec_sas.Ends:
    """The task's IPsec SA's addresses, and its UDP ports behind a NAT."""
    return ipsec_sas.ends(t.child.settings, t.sa.local.addr, t.sa.remote.addr,
                          nat_exchange.udp_ports(t.sa))


def _udp(where: ipsec_sas.Ends) -> str:
    return f" (ESP in UDP {where.udp[0]} <=> {where.udp[1]})" if where.udp else ""


def _inbound_op(t: QuickTask) -> tuple[Op, str]:
    c = t.child
    assert c.negotiated is not None
    return (api.UpdateSa(c.negotiated.inbound),
            f"install inbound SA spi 0x{c.spi_in:08x}{_udp(_where(t))}")


def _request(t: QuickTask, ops: list[tuple[Op, str]], then: Callable[[Now], None]) -> None:
    """Hand ``ops`` to the kernel in order; ``then(now)`` once all of them succeeded (a
    failure is reported)."""
    sa, c = t.sa, t.child
    results: list[bool] = []

    def done(what: str) -> Continue:
        def check(result: object, now: Now) -> None:
            c.established_at = c.established_at or now
            if isinstance(result, Racoon2Error):
                sa.host.emit(KernelFailed(sa.name, what, str(result)))
            results.append(not isinstance(result, Racoon2Error))
            if len(results) == len(ops) and all(results):
                then(now)
        return check

    for op, what in ops:
        sa.host.request(sa, op, done(what))


def _install(t: QuickTask) -> None:
    """The exchange is done: the IPsec SA's kernel SAs (the responder's inbound one is in
    since QM2) and, once they are in, the SA is up."""
    sa, c = t.sa, t.child
    ops: list[tuple[Op, str]] = []
    if t.initiator:
        if not _negotiate(t):
            return
        ops.append(_inbound_op(t))
    assert c.negotiated is not None
    sa.children.append(c)
    where = _where(t)
    if c.settings.rw:
        ops[:0] = [(PolicyAdd(*p), f"have spmd install the policies of {c.settings.selector}")
                   for p in childmod.rw_policies(c.settings, where.me, where.peer)]
    ops.append((api.AddSa(c.negotiated.outbound),
                f"install outbound SA spi 0x{c.spi_out:08x}{_udp(where)}"))
    _request(t, ops, lambda now: _up(t, now))


def _up(t: QuickTask, now: Now) -> None:
    sa, c = t.sa, t.child
    assert c.negotiated is not None
    sa.host.emit(ChildSaUp(sa.name, c.settings.policy, c.settings.selector,
                           api.Mode.TUNNEL if c.settings.tunnel else api.Mode.TRANSPORT,
                           c.spi_in, c.spi_out, childmod.show(c.settings.local_ts),
                           childmod.show(c.settings.remote_ts), c.negotiated.algorithms,
                           childmod.hook_event(c, (sa.local.addr, sa.remote.addr),
                                               sa.leases()),
                           c.rekey_of is not None))
    old = c.rekey_of
    c.nonce_key, c.initiated = min(t.ni, t.nr), t.initiator
    if old is not None and old in sa.children:
        # The new SAs are in: the old ones go, and the peer hears it (RFC 2408 §4.6.3).
        old.replaced = True
        informational.delete_children(sa, [old], now)
        sa.remove_child(old, "rekeyed", inbound_until=now + RETIRE_GRACE)
    elif old is not None:
        _settle(sa, c, old, now)


def _settle(sa: IsakmpSa, c: Child, old: Child, now: Now) -> None:
    """Both ends rekeyed ``old`` at once, and each Quick Mode made a new SA pair.  IKEv1
    says nothing of this; left alone, each pair would rekey in turn and the SAs double every
    lifetime.  As RFC 7296 §2.8.1 settles CHILD_SA collisions: the pair whose exchange had the
    lowest nonce is redundant, and the end that began that exchange deletes it.  Both ends see
    the same nonces, so they agree without a word."""
    twin = next((s for s in sa.children if s is not c and s.rekey_of is old and
                 not s.replaced), None)
    if twin is None:
        return
    loser = c if c.nonce_key < twin.nonce_key else twin
    loser.replaced = True  # no rekey of its own while it waits for the peer's Delete
    if loser.initiated:
        informational.delete_children(sa, [loser], now)
        # The peer may have sent on it already: its inbound SA takes those until the
        # peer has our Delete.
        sa.remove_child(loser, "redundant rekey", inbound_until=now + RETIRE_GRACE)


def _fail(t: QuickTask, reason: str, received: str = "", configured: str = "",
          report: bool = True) -> None:
    sa = t.sa
    if report:
        sa.host.emit(NegotiationFailed(sa.name, "quick mode", reason, received, configured))
    sa.quick.pop(t.mid, None)
    if sa.keys is not None:
        sa.keys.forget(t.mid)
    if t.child.spi_in and t.child not in sa.children:
        # The SPI we allocated, or the inbound SA a responder installed with QM2.
        me, peer = _ends(sa, t.child.settings)
        sa.host.request(sa, api.DelSa(api.SaKey(peer, me, api.Proto.ESP, t.child.spi_in)),
                        lambda result, now: None)


def on_timer(t: QuickTask, now: Now) -> None:
    """Retransmit, give up, or end the lingering."""
    if t.resend is not None:
        due = t.resend.due(now)
        if due is False:
            _fail(t, f"no answer after {t.resend.attempt + 1} transmissions")
        elif isinstance(due, bytes):
            t.sa.host.counters["retransmits"] += 1
            t.sa.host.send(t.sa, due)
    elif t.linger is not None and now >= t.linger:
        t.sa.quick.pop(t.mid, None)
