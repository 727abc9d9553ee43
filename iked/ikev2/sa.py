"""One IKE SA (pure): its state, keys and CHILD_SAs, IKE_SA_INIT and INFORMATIONAL.

The other exchanges are modules of functions over the SA: :mod:`~iked.ikev2.ike_auth`,
:mod:`~iked.ikev2.create_child` and :mod:`~iked.ikev2.ike_rekey`.  The SA speaks only through
its :class:`Host` (the core): datagrams out, kernel requests with a continuation, events.  Time
comes in as ``now``; randomness from the host's Rng.  The states:

    initiator  INIT_SENT -> (SPI allocation) -> AUTH_SENT -> ESTABLISHED
    responder  INIT_DONE -> (IKE_AUTH, SPI allocation) -> ESTABLISHED
    both       ESTABLISHED -> DELETING -> DEAD; any failure -> DEAD

Message IDs, retransmission and the response cache are the :class:`Window`'s (window size 1,
as the original).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from iked.events import (
    ChildSaDown,
    ChildSaUp,
    DropReason,
    Event,
    IkeSaDown,
    IkeSaUp,
    KernelFailed,
    NatDetected,
    NegotiationFailed,
    Now,
    Op,
)
from iked.hooks import CfgReply, ChildEvent
from iked.ikev2 import certs, create_child, ike_auth, ike_rekey, ipcomp, proposals
from iked.ikev2 import child as childmod
from iked.ikev2.child import Child
from iked.ikev2.common import State, error_notifies, exchange_name, notify, notify_name
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.ts import Ts, intersect
from iked.ikev2.window import Verdict, Window
from racoon2.crypto import dh, keymat
from racoon2.crypto import transforms as tt
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError, ParseError, Racoon2Error
from racoon2.ikev2 import message
from racoon2.ikev2.constants import (
    FLAG_INITIATOR,
    FLAG_RESPONSE,
    ExchangeType,
    NotifyType,
    ProtocolId,
)
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import (
    KE,
    SA,
    Delete,
    Nonce,
    Notify,
    Payload,
    TSi,
    TSr,
    first,
)
from racoon2.ikev2.sk import SkCipher, SkKeys
from racoon2.ipsec import Mode as SpmifMode
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, Prefix
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

__all__ = ["Host", "IkeSa", "State", "nat_hash"]

NAT_T_PORT = 4500
NAT_KEEPALIVE = 20.0  # seconds, the original's natk_interval
NAT_KEEPALIVE_PACKET = b"\xff"

Continue = Callable[[object, Now], None]


class Host(Protocol):
    """What an IKE SA needs from the core around it."""

    rng: Rng
    tracing: bool  # iked -P: report messages in the clear through trace()

    def trace(self, sa: IkeSa, data: bytes, outgoing: bool) -> None:
        """A message of ``sa`` with its SK payload replaced by the payloads inside."""

    def send(self, sa: IkeSa, data: bytes) -> None:
        """Queue a datagram to the SA's peer."""

    def request(self, sa: IkeSa, op: Op, then: Continue) -> None:
        """Ask the shell to perform ``op``; ``then(result, now)`` runs with its result."""

    def emit(self, event: Event) -> None:
        """Report an event."""

    def drop(self, remote: Endpoint, reason: DropReason, detail: str = "") -> None:
        """Count (and report) a dropped message."""

    def peer_by_id(self, id_type: int, data: bytes) -> PeerSettings | None:
        """The remote whose ``peers_id`` is this identity, if any."""

    def children(self, remote: str) -> Sequence[ChildSettings]:
        """The CHILD_SAs the policies of ``remote`` describe."""

    def exact_ts(self, remote: str) -> bool:
        """``selector_check exact`` (True) or ``obey`` for ``remote``."""

    def lease(self, pool: str, version: int) -> Address | None:
        """An address from ``addresspool`` ``pool``, or None when none is free."""

    def release(self, pool: str, addr: Address) -> None:
        """Give a leased address back."""

    def adopt(self, sa: IkeSa) -> None:
        """Take over an IKE SA made by a rekey."""


def nat_hash(spi_i: bytes, spi_r: bytes, ep: Endpoint) -> bytes:
    """NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | Port) (RFC 7296 §2.23)."""
    return hashlib.sha1(spi_i + spi_r + ep.addr.packed + struct.pack("!H", ep.port)).digest()


@dataclass
class _Crypto:
    """The IKE SA's negotiated suite and keys."""

    chosen: Chosen
    prf: Prf
    sk: SkCipher
    keys: keymat.IkeKeys = field(repr=False)


class IkeSa:
    """One IKE SA: an initiator calls :meth:`start`, a responder :meth:`respond_init`."""

    def __init__(self, host: Host, peer: PeerSettings, local: Endpoint, remote: Endpoint,
                 initiator: bool, spi_i: bytes, now: Now) -> None:
        self.host = host
        self.peer = peer
        self.local, self.remote = local, remote
        self.origin = remote  # where IKE_SA_INIT came from: the core's half-open index key
        self.initiator = initiator
        self.spi_i, self.spi_r = spi_i, bytes(8)
        self.state = State.INIT_SENT if initiator else State.INIT_DONE
        self.window = Window(peer.schedule)
        self.deadline_nego: Now | None = now + peer.nego_limit if peer.nego_limit else None
        self.deadline_dpd: Now | None = None
        self.deadline_life: Now | None = None
        self.children: list[Child] = []
        self.pending_child: Child | None = None
        self.crypto: _Crypto | None = None
        self.ni = self.nr = b""
        self.init_request = self.init_response = b""
        self.exchange: dh.Exchange | None = None
        self.exchange_group = 0
        self.cookie = b""
        self.peer_id: tuple[int, bytes] | None = None
        self.rekeying: create_child.Rekeying | None = None
        self.peer_hashes: frozenset[int] = frozenset()  # RFC 7427, from IKE_SA_INIT
        self.ike_rekeying: ike_rekey.IkeRekeying | None = None
        self.rekey_of: str | None = None  # the IKE SA this one replaces
        self.replaced = False             # a rekey replaced this IKE SA
        self.leased: tuple[str, Address] | None = None  # (pool, address) given to the peer
        self.cfg_reply: CfgReply | None = None  # what our CFG_REQUEST got (initiator)
        self.nat = False                  # a NAT lies between us (RFC 7296 §2.23)
        self.behind_nat = False           # ... in front of us: we send NAT keepalives
        self.deadline_keepalive: Now | None = None

    # -- names and output ------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``spi_i:spi_r`` as the logs and hooks show it."""
        return f"{self.spi_i.hex()}:{self.spi_r.hex()}"

    @property
    def local_spi(self) -> bytes:
        """Our SPI: the core routes incoming messages by it."""
        return self.spi_i if self.initiator else self.spi_r

    def _flags(self, response: bool) -> int:
        return (FLAG_INITIATOR if self.initiator else 0) | (FLAG_RESPONSE if response else 0)

    def _header(self, exchange: ExchangeType, mid: int, response: bool,
                payloads: tuple[Payload, ...] = ()) -> Message:
        return Message(self.spi_i, self.spi_r, exchange, mid, payloads, self._flags(response))

    def seal(self, exchange: ExchangeType, mid: int, response: bool,
             inner: tuple[Payload, ...]) -> bytes:
        """A protected message of this SA carrying ``inner``."""
        assert self.crypto is not None
        k = self.crypto.keys
        keys = SkKeys(k.sk_ei, k.sk_ai) if self.initiator else SkKeys(k.sk_er, k.sk_ar)
        if self.host.tracing:
            self.host.trace(self, message.encode(self._header(exchange, mid, response, inner)),
                            True)
        return self.crypto.sk.seal(self._header(exchange, mid, response), inner, keys,
                                   self.host.rng)

    def _open(self, data: bytes, msg: Message) -> tuple[Payload, ...]:
        assert self.crypto is not None
        k = self.crypto.keys
        keys = SkKeys(k.sk_er, k.sk_ar) if self.initiator else SkKeys(k.sk_ei, k.sk_ai)
        inner = self.crypto.sk.open(data, msg, keys)
        if self.host.tracing:
            self.host.trace(self, message.encode(replace(msg, payloads=msg.payloads[:-1]
                                                         + inner)), False)
        return inner

    def send_request(self, data: bytes, now: Now) -> None:
        """Send our next request (the window retransmits it until answered)."""
        self.window.send(data, now)
        self._transmit(data)

    def answer(self, mid: int, data: bytes) -> None:
        """Send (and cache) our response to the peer's request ``mid``."""
        self.window.finish_answer(mid, (data,))
        self._transmit(data)

    def _transmit(self, data: bytes) -> None:
        # Every transmission goes out times_per_send times, as the original's: a lossy
        # path then needs fewer retransmission rounds.
        for _ in range(max(1, self.peer.schedule.times_per_send)):
            self.host.send(self, data)

    def fail(self, stage: str, reason: str, received: str = "", configured: str = "") -> None:
        """Report a failed negotiation (received vs configured) and end the SA."""
        self.host.emit(NegotiationFailed(self.name, stage, reason, received, configured))
        self._die(f"{stage}: {reason}")

    def _die(self, reason: str) -> None:
        if self.state is State.DEAD:
            return
        was_up = self.state in (State.ESTABLISHED, State.DELETING)
        self.state = State.DEAD
        for c in self.children:
            self._remove_child(c, reason)
        self.children.clear()
        if self.leased is not None:
            self.host.release(*self.leased)
            self.leased = None
        if was_up:
            self.host.emit(IkeSaDown(self.name, self.peer.remote, self.local, self.remote,
                                     "rekeyed" if self.replaced else reason, self.replaced))

    def _rw_policy(self, c: Child) -> tuple[str, int, SpmifMode, Prefix, Prefix, Address,
                                           Address]:
        """spmif POLICY ADD/DELETE arguments for an IP_RW policy and this peer."""
        s = c.settings
        me, peer = self.ends(c)
        local = s.local_ts[0].prefixes()[0] if s.local_ts else ipaddress.ip_network(me)
        remote = s.remote_ts[0].prefixes()[0] if s.remote_ts else ipaddress.ip_network(peer)
        return (s.selector, s.lifetime_seconds,
                SpmifMode.TUNNEL if s.tunnel else SpmifMode.TRANSPORT, local, remote, me, peer)

    def _remove_child(self, c: Child, reason: str) -> None:
        if c.negotiated is None:
            return
        if c.settings.rw and not c.replaced:
            selector, _, mode, src, dst, sa_src, sa_dst = self._rw_policy(c)
            self.host.request(self, PolicyDelete(selector, mode, src, dst, sa_src, sa_dst),
                              self.ignore)
        for spec in c.negotiated.specs:
            self.host.request(self, api.DelSa(spec.key), self.ignore)
        self.host.emit(ChildSaDown(self.name, c.settings.policy, c.spi_in, c.spi_out, reason,
                                   self._hook_event(c), c.replaced))

    def _hook_event(self, c: Child) -> ChildEvent:
        return childmod.hook_event(c, self.ends(c), (self.leased[1],) if self.leased else (),
                                   self.cfg_reply)

    def ignore(self, result: object, now: Now) -> None:
        """A continuation for kernel requests whose result changes nothing (deletions)."""
        return

    def ends(self, c: Child) -> tuple[Address, Address]:
        """(our, the peer's) address of ``c``'s SAs: the tunnel ends or the IKE addresses."""
        s = c.settings
        me = s.my_sa_addr if s.tunnel and s.my_sa_addr else self.local.addr
        peer = s.peers_sa_addr if s.tunnel and s.peers_sa_addr else self.remote.addr
        return me, peer

    def successor(self, initiator: bool, spi_i: bytes, spi_r: bytes, chosen: Chosen,
                  shared: bytes, ni: bytes, nr: bytes, now: Now) -> IkeSa:
        """The IKE SA that a rekey makes of this one (RFC 7296 §2.18): keys from our SK_d,
        our CHILD_SAs moved over, handed to the core."""
        assert self.crypto is not None
        prf_t, encr = chosen.get(TransformType.PRF), chosen.get(TransformType.ENCR)
        assert prf_t is not None and encr is not None
        integ = chosen.get(TransformType.INTEG)
        seed = keymat.rekey_skeyseed(self.crypto.prf, self.crypto.keys.sk_d, shared, ni, nr)
        prf = prf_for(prf_t.ident)
        keys = keymat.ike_sa_keys(prf, encr, integ, seed, ni, nr, spi_i, spi_r)
        new = IkeSa(self.host, self.peer, self.local, self.remote, initiator, spi_i, now)
        new.spi_r, new.ni, new.nr = spi_r, ni, nr
        new.crypto = _Crypto(chosen, prf, SkCipher(encr, integ), keys)
        new.peer_id, new.peer_hashes, new.rekey_of = self.peer_id, self.peer_hashes, self.name
        new.children, self.children = self.children, []
        new.leased, self.leased = self.leased, None
        new.cfg_reply = self.cfg_reply
        self.replaced = True
        new.establish(now)
        self.host.adopt(new)
        return new

    # -- IKE_SA_INIT -------------------------------------------------------------------------

    def _first_group(self) -> int:
        for p in self.peer.ike_proposals:
            for t in p.transforms:
                if t.type == TransformType.KE:
                    return t.id
        raise CryptoError(f"remote {self.peer.remote}: no kmp_dh_group")

    def start(self, now: Now, child: ChildSettings | None, group: int | None = None) -> None:
        """Initiator: send IKE_SA_INIT (again, with a cookie or another group)."""
        if child is not None:
            self.pending_child = Child(child)
        group = group or (self.exchange_group or self._first_group())
        self.exchange_group = group
        self.exchange = dh.start(group, self.host.rng)
        self.ni = self.ni or self.host.rng.random_bytes(self.peer.nonce_size)
        payloads: list[Payload] = []
        if self.cookie:
            payloads.append(notify(NotifyType.COOKIE, self.cookie))
        payloads += [SA(self.peer.ike_proposals), KE(group, self.exchange.public_bytes()),
                     Nonce(self.ni)]
        payloads += self._signature_notify()
        if self.peer.nat_traversal:
            payloads += [
                notify(NotifyType.NAT_DETECTION_SOURCE_IP,
                        nat_hash(self.spi_i, bytes(8), self.local)),
                notify(NotifyType.NAT_DETECTION_DESTINATION_IP,
                        nat_hash(self.spi_i, bytes(8), self.remote))]
        self.init_request = message.encode(
            self._header(ExchangeType.IKE_SA_INIT, 0, False, tuple(payloads)))
        self.window = Window(self.peer.schedule)
        self.send_request(self.init_request, now)

    def _init_response(self, msg: Message, data: bytes, now: Now) -> None:
        notes = {p.type: p for p in msg.payloads if isinstance(p, Notify)}
        if NotifyType.COOKIE in notes and not self.cookie:
            self.cookie = notes[NotifyType.COOKIE].data
            self.start(now, None)
            return
        if NotifyType.INVALID_KE_PAYLOAD in notes:
            data_ = notes[NotifyType.INVALID_KE_PAYLOAD].data
            wanted = int.from_bytes(data_[:2], "big") if len(data_) >= 2 else 0
            offered = {t.id for p in self.peer.ike_proposals for t in p.transforms
                       if t.type == TransformType.KE}
            if wanted in offered and wanted != self.exchange_group:
                self.start(now, None, wanted)
                return
            self.fail("IKE_SA_INIT", f"peer wants DH group {wanted}",
                       configured=f"groups {sorted(offered)}")
            return
        errors = error_notifies(msg.payloads)
        if errors:
            self.fail("IKE_SA_INIT", f"peer answered {notify_name(errors[0])}",
                       configured=proposals.describe(self.peer.ike_proposals))
            return
        sa = first(msg.payloads, SA)
        ke = first(msg.payloads, KE)
        nonce = first(msg.payloads, Nonce)
        if sa is None or ke is None or nonce is None or len(sa.proposals) != 1:
            self.fail("IKE_SA_INIT", "response lacks SA, KE or Nonce")
            return
        chosen = proposals.accept(sa.proposals[0], self.peer.ike_proposals)
        if chosen is None or ke.group != self.exchange_group:
            self.fail("IKE_SA_INIT", "the responder chose what we did not offer",
                       received=proposals.describe(sa.proposals),
                       configured=proposals.describe(self.peer.ike_proposals))
            return
        self.spi_r = msg.spi_r
        self.nr = nonce.data
        self.init_response = data
        self._note_hashes(msg.payloads)
        self._detect_nat(msg.payloads, msg.spi_r)
        self._float()
        if not self._derive(chosen, ke.data):
            return
        if self.pending_child is None:
            ike_auth.send_auth(self, now)
            return
        c = self.pending_child
        me, peer = self.ends(c)
        self.host.request(self, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid),
                          self._spi_for_auth)

    def _spi_for_auth(self, result: object, now: Now) -> None:
        if self.state is State.DEAD:
            return
        c = self.pending_child
        if isinstance(result, int) and c is not None:
            c.spi_in = result
            if c.settings.ipcomp:
                self.host.request(self, ipcomp.alloc(c, *self.ends(c)), self._cpi_for_auth)
                return
        elif c is not None:
            self.host.emit(KernelFailed(self.name, "allocate an inbound SPI", str(result)))
            self.pending_child = None
        ike_auth.send_auth(self, now)

    def _cpi_for_auth(self, result: object, now: Now) -> None:
        if self.state is State.DEAD:
            return
        c = self.pending_child
        if isinstance(result, int) and c is not None:
            c.cpi_in = result
        elif c is not None:
            self.host.emit(KernelFailed(self.name, "allocate an IPComp CPI", str(result)))
            self.host.request(self, api.DelSa(api.SaKey(
                self.ends(c)[1], self.ends(c)[0], c.settings.protocol, c.spi_in)), self.ignore)
            self.pending_child = None
        ike_auth.send_auth(self, now)

    def _derive(self, chosen: Chosen, peer_public: bytes) -> bool:
        assert self.exchange is not None
        try:
            shared = self.exchange.shared_secret(peer_public)
        except CryptoError as e:
            self.fail("IKE_SA_INIT", f"bad KE payload: {e}")
            return False
        self._keys(chosen, shared)
        return True

    def _keys(self, chosen: Chosen, shared: bytes) -> None:
        prf_t = chosen.get(TransformType.PRF)
        encr = chosen.get(TransformType.ENCR)
        integ = chosen.get(TransformType.INTEG)
        assert prf_t is not None and encr is not None
        prf = prf_for(prf_t.ident)
        seed = keymat.skeyseed(prf, self.ni, self.nr, shared)
        keys = keymat.ike_sa_keys(prf, encr, integ, seed, self.ni, self.nr, self.spi_i,
                                  self.spi_r)
        self.crypto = _Crypto(chosen, prf, SkCipher(encr, integ), keys)

    def respond_init(self, msg: Message, data: bytes, now: Now) -> None:
        """Responder: answer an IKE_SA_INIT request (the core checked cookies and limits)."""
        self.window.start_answer(0)
        sa = first(msg.payloads, SA)
        ke = first(msg.payloads, KE)
        nonce = first(msg.payloads, Nonce)
        if sa is None or ke is None or nonce is None:
            self._refuse_init(msg, notify(NotifyType.INVALID_SYNTAX))
            self.fail("IKE_SA_INIT", "request lacks SA, KE or Nonce")
            return
        chosen = proposals.choose(sa.proposals, self.peer.ike_proposals)
        if chosen is None:
            self._refuse_init(msg, notify(NotifyType.NO_PROPOSAL_CHOSEN))
            self.fail("IKE_SA_INIT", "no proposal chosen",
                       received=proposals.describe(sa.proposals),
                       configured=proposals.describe(self.peer.ike_proposals))
            return
        group = chosen.get(TransformType.KE)
        assert group is not None
        if ke.group != group.ident:
            self._refuse_init(msg, notify(NotifyType.INVALID_KE_PAYLOAD,
                                           struct.pack("!H", group.ident)))
            self.state = State.DEAD  # the initiator retries with a new SA; nothing failed
            return
        self.ni = nonce.data
        self.nr = self.host.rng.random_bytes(self.peer.nonce_size)
        self.init_request = data
        self.spi_r = self.host.rng.random_bytes(8)
        try:
            public, shared = dh.respond(group.ident, ke.data, self.host.rng)
        except CryptoError as e:
            self._refuse_init(msg, notify(NotifyType.INVALID_SYNTAX))
            self.fail("IKE_SA_INIT", f"bad KE payload: {e}")
            return
        self._keys(chosen, shared)
        payloads: list[Payload] = [SA((chosen.proposal(),)), KE(group.ident, public),
                                   Nonce(self.nr)]
        self._note_hashes(msg.payloads)
        self._detect_nat(msg.payloads, bytes(8))
        payloads += self._signature_notify()
        payloads += certs.certreq(self.peer.trust)
        if self.peer.nat_traversal and any(
                isinstance(p, Notify) and p.type == NotifyType.NAT_DETECTION_SOURCE_IP
                for p in msg.payloads):
            payloads += [
                notify(NotifyType.NAT_DETECTION_SOURCE_IP,
                        nat_hash(self.spi_i, self.spi_r, self.local)),
                notify(NotifyType.NAT_DETECTION_DESTINATION_IP,
                        nat_hash(self.spi_i, self.spi_r, self.remote))]
        self.init_response = message.encode(
            self._header(ExchangeType.IKE_SA_INIT, 0, True, tuple(payloads)))
        self.answer(0, self.init_response)

    def _refuse_init(self, msg: Message, note: Notify) -> None:
        data = message.encode(Message(msg.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                                      (note,), FLAG_RESPONSE))
        self.host.send(self, data)

    # -- IKE_AUTH ----------------------------------------------------------------------------

    def _detect_nat(self, payloads: Sequence[Payload], spi_r: bytes) -> None:
        """Compare the peer's NAT_DETECTION hashes with the endpoints as we see them."""
        notes = {p.type: p.data for p in payloads if isinstance(p, Notify)}
        source = notes.get(NotifyType.NAT_DETECTION_SOURCE_IP)
        destination = notes.get(NotifyType.NAT_DETECTION_DESTINATION_IP)
        if not self.peer.nat_traversal or source is None or destination is None:
            return
        peer_moved = source != nat_hash(self.spi_i, spi_r, self.remote)
        self.behind_nat = destination != nat_hash(self.spi_i, spi_r, self.local)
        self.nat = peer_moved or self.behind_nat
        if self.nat:
            self.host.emit(NatDetected(self.name, self.behind_nat, peer_moved))

    def _float(self) -> None:
        """After NAT detection the initiator moves IKE to port 4500 (RFC 7296 §2.23)."""
        if self.nat and self.initiator and self.local.port != NAT_T_PORT:
            self.local = Endpoint(self.local.addr, NAT_T_PORT)
            self.remote = Endpoint(self.remote.addr, NAT_T_PORT)

    def _signature_notify(self) -> list[Payload]:
        # RFC 7427: announce the hashes we sign and verify with whenever certificates are in
        # play on either side.
        if self.peer.signature or self.peer.trust is not None:
            return [notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, certs.hash_notify_data())]
        return []

    def _note_hashes(self, payloads: Sequence[Payload]) -> None:
        for p in payloads:
            if isinstance(p, Notify) and p.type == NotifyType.SIGNATURE_HASH_ALGORITHMS:
                self.peer_hashes = certs.parse_hashes(p.data)

    def pick_child(self, sa: SA, tsi: TSi, tsr: TSr, transport: bool,
                   extra: Sequence[tt.Transform] = ()
                   ) -> tuple[Child, Chosen, tuple[list[Ts], list[Ts]]] | Notify:
        """The responder's CHILD_SA for an offer: the first policy of this remote whose
        selectors cover the TS, and the chosen proposal; else the notify to answer.
        ``extra`` adds transforms to our proposals (the KE group of a PFS exchange)."""
        offered_i = childmod.from_wire(tsi.selectors)
        offered_r = childmod.from_wire(tsr.selectors)
        exact = self.host.exact_ts(self.peer.remote)
        configured = []
        for settings in self.host.children(self.peer.remote):
            if settings.rw:
                # IP_RW: the peer's side of the policy is the address we leased it, else the
                # one it has now.
                peer = self.leased[1] if self.leased else self.remote.addr
                here = Ts(peer, peer)
                settings = replace(settings, remote_ts=tuple(
                    t for t in (intersect(here, r) for r in settings.remote_ts) if t))
            configured.append(f"{settings.policy}: {childmod.show(settings.remote_ts)} <=> "
                              f"{childmod.show(settings.local_ts)}")
            # An IP_RW peer may ask for anything on its side (a client with a leased address
            # offers 0.0.0.0/0): that side is narrowed, whatever selector_check says.
            answer = childmod.responder_ts(settings, offered_i, offered_r,
                                           exact and not settings.rw)
            if answer is None:
                continue
            if transport == settings.tunnel:
                self.host.emit(NegotiationFailed(
                    self.name, "CHILD_SA", "mode mismatch",
                    "transport" if transport else "tunnel",
                    f"policy {settings.policy}: {'tunnel' if settings.tunnel else 'transport'}"))
                return notify(NotifyType.NO_PROPOSAL_CHOSEN)
            mine = settings.proposals(bytes(4), extra)
            chosen = proposals.choose(sa.proposals, mine)
            if chosen is None:
                self.host.emit(NegotiationFailed(
                    self.name, "CHILD_SA", "no proposal chosen",
                    proposals.describe(sa.proposals), proposals.describe(mine)))
                return notify(NotifyType.NO_PROPOSAL_CHOSEN)
            return Child(settings), chosen, answer
        self.host.emit(NegotiationFailed(
            self.name, "CHILD_SA", "traffic selectors unacceptable",
            f"TSi {childmod.show(offered_i)}, TSr {childmod.show(offered_r)}",
            "; ".join(configured) or f"no policy names remote {self.peer.remote}"))
        return notify(NotifyType.TS_UNACCEPTABLE)

    def install(self, c: Child, chosen: Chosen, nonces: tuple[bytes, bytes] | None = None,
                initiator: bool | None = None, shared: bytes = b"") -> None:
        """Derive ``c``'s keys and hand its two SAs to the kernel.  ``nonces``, ``initiator``
        and ``shared`` are the CREATE_CHILD_SA exchange's (default: IKE_AUTH's)."""
        assert self.crypto is not None
        ni, nr = nonces or (self.ni, self.nr)
        neg = childmod.negotiate(c.settings, chosen, self.crypto.prf, self.crypto.keys.sk_d,
                                 ni, nr, self.initiator if initiator is None else initiator,
                                 c.spi_in, c.spi_out, self.local.addr, self.remote.addr,
                                 self.host.rng, shared,
                                 (self.local.port, self.remote.port) if self.nat else None,
                                 c.ipcomp)
        c.negotiated = neg
        self.children.append(c)

        results: list[bool] = []

        def done(what: str) -> Continue:
            def check(result: object, now: Now) -> None:
                if isinstance(result, Racoon2Error):
                    self.host.emit(KernelFailed(self.name, what, str(result)))
                results.append(not isinstance(result, Racoon2Error))
                if len(results) == len(neg.specs) + c.settings.rw and all(results):
                    self.host.emit(ChildSaUp(
                        self.name, c.settings.policy, c.settings.selector,
                        api.Mode.TUNNEL if c.settings.tunnel else api.Mode.TRANSPORT,
                        c.spi_in, c.spi_out, childmod.show(c.settings.local_ts),
                        childmod.show(c.settings.remote_ts), neg.algorithms,
                        self._hook_event(c), c.rekey_of is not None))
            return check

        if c.settings.rw:
            self.host.request(self, PolicyAdd(*self._rw_policy(c)), done(
                f"have spmd install the policies of {c.settings.selector}"))
        self.host.request(self, api.UpdateSa(neg.inbound), done(
            f"install inbound SA spi 0x{c.spi_in:08x}"))
        self.host.request(self, api.AddSa(neg.outbound), done(
            f"install outbound SA spi 0x{c.spi_out:08x}"))
        if neg.ipcomp is not None:
            comp_in, comp_out = neg.ipcomp
            self.host.request(self, api.UpdateSa(comp_in), done(
                f"install inbound IPComp SA cpi 0x{comp_in.spi:04x}"))
            self.host.request(self, api.AddSa(comp_out), done(
                f"install outbound IPComp SA cpi 0x{comp_out.spi:04x}"))

    def establish(self, now: Now) -> None:
        """The SA is up: lifetime and liveness timers run, IkeSaUp is reported."""
        self.state = State.ESTABLISHED
        self.deadline_nego = None
        if self.peer.lifetime:
            self.deadline_life = now + self.peer.lifetime
        self._arm_dpd(now)
        if self.behind_nat:
            self.deadline_keepalive = now + NAT_KEEPALIVE
        self.host.emit(IkeSaUp(self.name, self.peer.remote, self.local, self.remote,
                               self.initiator, self.rekey_of))

    def _arm_dpd(self, now: Now) -> None:
        self.deadline_dpd = now + self.peer.dpd_delay if self.peer.dpd_delay else None

    # -- INFORMATIONAL -----------------------------------------------------------------------

    def _informational_request(self, msg: Message, inner: tuple[Payload, ...],
                               now: Now) -> None:
        answer: list[Payload] = []
        for p in inner:
            if not isinstance(p, Delete):
                continue
            if p.protocol == ProtocolId.IKE:
                self.answer(msg.message_id, self.seal(ExchangeType.INFORMATIONAL,
                                                        msg.message_id, True, ()))
                self._die("deleted by the peer")
                return
            gone = []
            for spi in p.spis:
                out = int.from_bytes(spi, "big")
                for c in [c for c in self.children if c.spi_out == out]:
                    self._remove_child(c, "deleted by the peer")
                    self.children.remove(c)
                    gone.append(struct.pack("!I", c.spi_in))
            if gone:
                answer.append(Delete(p.protocol, 4, tuple(gone)))
        self.answer(msg.message_id, self.seal(ExchangeType.INFORMATIONAL, msg.message_id,
                                                True, tuple(answer)))

    def expire_child(self, spi_in: int, hard: bool, now: Now) -> None:
        """The kernel's lifetime of one of our inbound SAs ran out: rekey the CHILD_SA (soft),
        or delete what is left of it and tell the peer (hard)."""
        for c in [c for c in self.children if c.spi_in == spi_in]:
            if hard:
                self.delete_child(c, now, "hard lifetime expired")
            elif not create_child.start_rekey(self, c, now):
                self.host.emit(NegotiationFailed(self.name, "CHILD_SA rekey",
                                                 "another exchange is in progress"))

    def delete_child(self, c: Child, now: Now, reason: str) -> None:
        """Remove ``c`` from the kernel and tell the peer (INFORMATIONAL Delete)."""
        if c not in self.children:
            return
        self.children.remove(c)
        self._remove_child(c, reason)
        if self.state is State.ESTABLISHED and not self.window.busy:
            self.send_request(self.seal(ExchangeType.INFORMATIONAL, self.window.next_mid, False,
                                        (Delete(childmod.PROTOCOL_ID[c.settings.protocol], 4,
                                                (struct.pack("!I", c.spi_in),)),)), now)

    def delete(self, now: Now) -> None:
        """Send INFORMATIONAL Delete for the whole IKE SA (its CHILD_SAs go with it)."""
        if self.state is not State.ESTABLISHED or self.window.busy:
            self._die("shut down")
            return
        self.state = State.DELETING
        self.send_request(self.seal(ExchangeType.INFORMATIONAL, self.window.next_mid, False,
                                 (Delete(ProtocolId.IKE, 0),)), now)

    # -- input and timers --------------------------------------------------------------------

    def receive(self, msg: Message, data: bytes, now: Now, local: Endpoint | None = None,
                remote: Endpoint | None = None) -> None:
        """A message for this SA (the core routed it by SPI), received on ``local`` from
        ``remote``; an authenticated message moves the SA there (the peer's switch to port
        4500, RFC 7296 §2.23)."""
        if self.state is State.DEAD:
            return
        verdict = self.window.classify(msg.message_id, msg.response)
        if verdict is Verdict.RETRANSMITTED_REQUEST:
            for packet in self.window.cached:
                self.host.send(self, packet)
            return
        if verdict in (Verdict.STALE, Verdict.BUSY):
            self.host.drop(self.remote, DropReason.STALE if verdict is Verdict.STALE
                           else DropReason.BUSY, f"message ID {msg.message_id}")
            return
        if msg.exchange == ExchangeType.IKE_SA_INIT:
            if msg.response and self.state is State.INIT_SENT:
                self.window.answered()
                self._init_response(msg, data, now)
            else:
                self.host.drop(self.remote, DropReason.UNEXPECTED, "IKE_SA_INIT")
            return
        if self.crypto is None:
            self.host.drop(self.remote, DropReason.UNEXPECTED, "encrypted before keys")
            return
        try:
            inner = self._open(data, msg)
        except CryptoError as e:
            self.host.drop(self.remote, DropReason.BAD_ICV, str(e))
            return
        except ParseError as e:
            self.host.drop(self.remote, DropReason.MALFORMED, str(e))
            return
        if local is not None and remote is not None:
            self.local, self.remote = local, remote
        if msg.response:
            self.window.answered()
            self._response(msg, inner, now)
        else:
            self.window.start_answer(msg.message_id)
            self._arm_dpd(now)
            self._request_in(msg, inner, now)

    def _response(self, msg: Message, inner: tuple[Payload, ...], now: Now) -> None:
        if msg.exchange == ExchangeType.IKE_AUTH and self.state is State.AUTH_SENT:
            ike_auth.process_response(self, inner, now)
        elif msg.exchange == ExchangeType.CREATE_CHILD_SA and self.ike_rekeying is not None:
            ike_rekey.on_response(self, inner, now)
        elif msg.exchange == ExchangeType.CREATE_CHILD_SA:
            create_child.on_response(self, inner, now)
        elif self.state is State.DELETING:
            self._die("deleted")
        else:
            self._arm_dpd(now)

    def _request_in(self, msg: Message, inner: tuple[Payload, ...], now: Now) -> None:
        if msg.exchange == ExchangeType.IKE_AUTH and self.state is State.INIT_DONE:
            ike_auth.process_request(self, msg, inner, now)
        elif msg.exchange == ExchangeType.INFORMATIONAL and self.state in (
                State.ESTABLISHED, State.DELETING):
            self._informational_request(msg, inner, now)
        elif msg.exchange == ExchangeType.CREATE_CHILD_SA and self.state is State.ESTABLISHED:
            create_child.respond(self, msg.message_id, inner, now)
        else:
            self.window.finish_answer(msg.message_id, ())
            self.host.drop(self.remote, DropReason.UNEXPECTED,
                           f"{exchange_name(msg.exchange)} in state {self.state.value}")

    def deadline(self) -> Now | None:
        """The earliest moment :meth:`on_timer` has work."""
        times = [t for t in (self.window.deadline, self.deadline_nego, self.deadline_dpd,
                             self.deadline_life, self.deadline_keepalive) if t is not None]
        return min(times) if times and self.state is not State.DEAD else None

    def on_timer(self, now: Now) -> None:
        """Retransmit, give up, probe liveness or expire, whichever is due."""
        if self.state is State.DEAD:
            return
        if self.deadline_nego is not None and now >= self.deadline_nego:
            self.fail("negotiation", "kmp_sa_nego_time_limit reached")
            return
        if self.deadline_life is not None and now >= self.deadline_life:
            # As the original: an IKE SA with CHILD_SAs is rekeyed, an idle one deleted.
            self.deadline_life = None
            if not (self.children and ike_rekey.start(self, now)):
                self.delete(now)
            return
        if self.deadline_keepalive is not None and now >= self.deadline_keepalive:
            # RFC 3948 §4: one 0xFF octet keeps the NAT's mapping open.
            self.deadline_keepalive = now + NAT_KEEPALIVE
            self.host.send(self, NAT_KEEPALIVE_PACKET)
        again = self.window.timer(now)
        if again is False:
            if self.state is State.DELETING:
                self._die("deleted (no answer)")
            elif self.state is State.ESTABLISHED:
                self._die("peer not responding")
            else:
                self.fail(self.state.value, "no response from the peer",
                           configured=f"{self.peer.schedule.max_retry} retransmissions")
            return
        if isinstance(again, bytes):
            self._transmit(again)
            return
        if self.deadline_dpd is not None and now >= self.deadline_dpd:
            self.deadline_dpd = None
            if self.state is State.ESTABLISHED and not self.window.busy:
                self.send_request(self.seal(ExchangeType.INFORMATIONAL, self.window.next_mid,
                                         False, ()), now)
