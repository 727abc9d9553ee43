"""One IKE SA (pure): its state, keys and CHILD_SAs (chosen and installed by
:mod:`~iked.ikev2.child_sa`).

The exchanges are modules over the SA (:mod:`~iked.ikev2.ike_init`, :mod:`~iked.ikev2.ike_auth`,
:mod:`~iked.ikev2.create_child`, :mod:`~iked.ikev2.ike_rekey`, :mod:`~iked.ikev2.informational`),
chosen by the table in :mod:`~iked.ikev2.dispatch`; this module imports none of them.  Message
IDs, retransmission and the exchanges in progress are the SA's
:class:`~iked.ikev2.tasks.TaskManager`.  The SA speaks only through its :class:`Host` (the
core): datagrams out, kernel requests with a continuation, events.  Time comes in as ``now``;
randomness from the host's Rng.  Every state change goes through :meth:`IkeSa.move`:

    initiator  INIT_SENT -> (SPI allocation) -> AUTH_SENT -> ESTABLISHED
    responder  INIT_DONE -> (IKE_AUTH, SPI allocation) -> ESTABLISHED
    rekeyed    INIT_SENT / INIT_DONE -> ESTABLISHED (the successor of an IKE SA rekey)
    both       ESTABLISHED -> DELETING -> DEAD; any failure -> DEAD
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from iked.events import (
    ChildSaDown,
    DropReason,
    Event,
    IkeSaDown,
    IkeSaUp,
    NegotiationFailed,
    Now,
    Op,
)
from iked.hooks import CfgReply, ChildEvent
from iked.ikev2 import child as childmod
from iked.ikev2 import fragments, intauth, ppk
from iked.ikev2.child import Child
from iked.ikev2.common import State
from iked.ikev2.fragments import Reassembly
from iked.ikev2.intauth import FollowUp, Intermediate
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.tasks import Kind, Task, TaskManager
from iked.queues import Continue
from racoon2.crypto import dh, keymat
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import TransformType
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_INITIATOR, FLAG_RESPONSE, ExchangeType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import SK, SKF, Payload
from racoon2.ikev2.sk import SkCipher, SkKeys
from racoon2.ipsec import Mode as SpmifMode
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, Prefix
from racoon2.spmif.commands import PolicyDelete

if TYPE_CHECKING:  # the type alone: the exchange modules import this one, not the reverse
    from iked.ikev2.eap import EapState
    from iked.ikev2.eap_radius import Accounted
    from iked.ikev2.mobike import Mobility

__all__ = ["Host", "IkeSa", "State"]

NAT_T_PORT = 4500
NAT_KEEPALIVE = 20.0  # seconds, the original's natk_interval
NAT_KEEPALIVE_PACKET = b"\xff"
#: How long past ``kmp_sa_lifetime_time`` an IKE SA waits for its rekey (queued behind
#: another exchange, or in flight) when ``kmp_sa_nego_time_limit`` is 0: then it is deleted.
REKEY_GRACE = 60.0



class Host(Protocol):
    """What an IKE SA needs from the core around it."""

    rng: Rng
    tracing: bool  # iked -P: report messages in the clear through trace()
    fragments: Reassembly  # RFC 7383: the peers' fragments being reassembled
    counters: collections.Counter[str]  # exchanges and retransmissions (ikedctl stats)
    clock: Now  # the time of the input being handled (for what ends without a ``now``)

    def trace(self, sa: IkeSa, data: bytes, outgoing: bool) -> None:
        """A message of ``sa`` with its SK payload replaced by the payloads inside."""

    def new_spi(self) -> bytes:
        """A fresh SPI of ours for a new IKE SA (iked -j: one that steers to this worker)."""

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

    def lease(self, pools: Sequence[str], version: int, owner: tuple[int, bytes] | None
              ) -> tuple[str, Address] | None:
        """(pool, address) of IP ``version`` from the first of ``pools`` that has one for
        ``owner`` (the client's identity), or None when none is free."""

    def pool_versions(self, pools: Sequence[str]) -> frozenset[int]:
        """The address families ``pools`` hold addresses of."""

    def release(self, pool: str, addr: Address, keep: float) -> None:
        """Give a leased address back; it stays reserved for its owner ``keep`` seconds."""

    def adopt(self, sa: IkeSa) -> None:
        """Take over an IKE SA made by a rekey."""

    def start(self, sa: IkeSa, task: Task, now: Now) -> bool:
        """Begin the exchange ``task`` on ``sa`` (the dispatch table's initiator side)."""

    def listens(self, ep: Endpoint) -> bool:
        """Whether ``ep`` is one of our ``interface ike`` endpoints now."""

    def first_contact(self, sa: IkeSa) -> bool:
        """Whether ``sa`` is our only IKE SA with its peer (INITIAL_CONTACT may be sent)."""

    def initial_contact(self, sa: IkeSa, now: Now) -> None:
        """The peer of ``sa`` sent INITIAL_CONTACT: its other IKE SAs with us are gone."""


#: Every state change an IKE SA may make (h11's rule: all of them in this one file).
_TRANSITIONS: dict[State, frozenset[State]] = {
    State.INIT_SENT: frozenset({State.AUTH_SENT, State.ESTABLISHED, State.DEAD}),
    State.INIT_DONE: frozenset({State.ESTABLISHED, State.DEAD}),
    State.AUTH_SENT: frozenset({State.ESTABLISHED, State.DEAD}),
    State.ESTABLISHED: frozenset({State.DELETING, State.DEAD}),
    State.DELETING: frozenset({State.DEAD}),
    State.DEAD: frozenset(),
}


@dataclass
class _Crypto:
    """The IKE SA's negotiated suite and keys."""

    chosen: Chosen
    prf: Prf
    sk: SkCipher
    keys: keymat.IkeKeys = field(repr=False)


class IkeSa:
    """One IKE SA: made by the core, driven by the exchange modules through the dispatch
    table (:func:`iked.ikev2.ike_init.start` as initiator, ``respond`` as responder)."""

    def __init__(self, host: Host, peer: PeerSettings, local: Endpoint, remote: Endpoint,
                 initiator: bool, spi_i: bytes, now: Now) -> None:
        self.host = host
        self.peer = peer
        self.local, self.remote = local, remote
        self.origin = remote  # where IKE_SA_INIT came from: the core's half-open index key
        self.initiator = initiator
        self.spi_i, self.spi_r = spi_i, bytes(8)
        self.state = State.INIT_SENT if initiator else State.INIT_DONE
        self.tasks = TaskManager(self, peer.schedule, lambda data: host.send(self, data))
        self.deadline_nego: Now | None = now + peer.nego_limit if peer.nego_limit else None
        self.deadline_dpd: Now | None = None
        self.deadline_life: Now | None = None
        self.deadline_hard: Now | None = None  # the lifetime's rekey had its time: Delete
        self.deadline_gone: Now | None = None  # shut down: ends then, Delete answered or not
        self.children: list[Child] = []
        # Rekeyed CHILD_SAs whose inbound SA still takes the peer's last packets until our
        # Delete of them is answered (:func:`iked.ikev2.child_sa.rekeyed`).
        self.retiring: list[Child] = []
        self.crypto: _Crypto | None = None
        self.ni = self.nr = b""
        self.init_request = self.init_response = b""
        self.exchange: dh.Exchange | None = None
        self.exchange_group = 0
        #: RFC 9242/9370: the IKE_INTERMEDIATE exchanges, when additional ones were agreed.
        self.intermediate: Intermediate | None = None
        #: The peer's IKE SA rekey whose IKE_FOLLOWUP_KE exchanges we answer (RFC 9370).
        self.followup: FollowUp | None = None
        #: RFC 7383: both sides announced IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT.
        self.fragmenting = False
        #: The last protected message opened and its inner payloads' octets (IntAuth).
        self.opened: tuple[bytes, bytes] = (b"", b"")
        #: RFC 8784: both peers sent USE_PPK; the keys IKE_AUTH tries with our PPK (initiator);
        #: the PPK_ID the keys were mixed with once IKE_AUTH used one.
        self.ppk_agreed = False
        self.ppk_keys: keymat.IkeKeys | None = None
        self.ppk_id: bytes | None = None
        self.cookie = b""
        self.peer_id: tuple[int, bytes] | None = None
        self.peer_hashes: frozenset[int] = frozenset()  # RFC 7427, from IKE_SA_INIT
        self.rekey_of: str | None = None  # the IKE SA this one replaces
        self.replaced = False             # a rekey replaced this IKE SA
        #: (pool, address) of each address given to the peer, one of each family at most
        self.leased: list[tuple[str, Address]] = []
        self.cfg_reply: CfgReply | None = None  # what our CFG_REQUEST got (initiator)
        self.eap: EapState | None = None  # the client's EAP conversation (responder)
        #: RFC 2866: the RADIUS accounting of an EAP client's session (eap_radius)
        self.accounting: Accounted | None = None
        self.nat = False                  # a NAT lies between us (RFC 7296 §2.23)
        self.behind_nat = False           # ... in front of us: we send NAT keepalives
        self.deadline_keepalive: Now | None = None
        #: The inbound SAs' packet counters at the last liveness check (ESP counts as life).
        self.esp_seen: dict[api.SaKey, int] = {}
        self.established_at: Now | None = None  # for ikedctl
        #: RFC 4555 MOBIKE, once both peers announced it (:mod:`iked.ikev2.mobike`).
        self.mobike: Mobility | None = None
        #: (local, remote) the last authenticated message came in on.
        self.arrived: tuple[Endpoint, Endpoint] | None = None
        #: The deadline of this SA's newest entry in its table's timer heap, while that entry
        #: is there (the table's bookkeeping: one entry per SA and deadline).
        self.timer_queued: Now | None = None

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

    def header(self, exchange: ExchangeType, mid: int, response: bool,
                payloads: tuple[Payload, ...] = ()) -> Message:
        return Message(self.spi_i, self.spi_r, exchange, mid, payloads, self._flags(response))

    def seal(self, exchange: ExchangeType, mid: int, response: bool,
             inner: tuple[Payload, ...]) -> tuple[bytes, ...]:
        """A protected message of this SA carrying ``inner``: whole, or its RFC 7383
        fragments once both sides announced fragmentation and it outgrows the path's
        fragment size (RFC 7383 §2.5; IKE_SA_INIT, unprotected, never is)."""
        assert self.crypto is not None
        k = self.crypto.keys
        keys = SkKeys(k.sk_ei, k.sk_ai) if self.initiator else SkKeys(k.sk_er, k.sk_ar)
        if self.host.tracing:
            self.host.trace(self, message.encode(self.header(exchange, mid, response, inner)),
                            True)
        head = self.header(exchange, mid, response)
        whole = self.crypto.sk.seal(head, inner, keys, self.host.rng)
        if not self.fragmenting or not self.peer.fragment_size:
            return (whole,)  # not agreed, or turned off since (a reload, a removed remote)
        natt = NAT_T_PORT in (self.local.port, self.remote.port)
        size = fragments.message_size(self.peer.fragment_size, self.remote.addr.version == 6,
                                      natt)
        if len(whole) <= size:
            return (whole,)
        return self.crypto.sk.seal_fragments(head, inner, keys, self.host.rng, size)

    def unfragmented(self, exchange: ExchangeType, mid: int, response: bool,
                     inner: tuple[Payload, ...]) -> bytes:
        """The octets before ``inner`` of our message as if whole (RFC 9242 §3.3.2's IntAuth
        input, fragmented or not; :func:`iked.ikev2.intauth.octets` sets the lengths)."""
        first, _ = message.encode_chain(inner)
        return fragments.unfragmented(self.header(exchange, mid, response), first)

    def _peer_keys(self) -> SkKeys:
        assert self.crypto is not None
        k = self.crypto.keys
        return SkKeys(k.sk_er, k.sk_ar) if self.initiator else SkKeys(k.sk_ei, k.sk_ai)

    def open(self, data: bytes, msg: Message) -> tuple[Payload, ...]:
        """The payloads inside a protected message of the peer's (raises CryptoError,
        ParseError)."""
        assert self.crypto is not None
        inner, plain = self.crypto.sk.open_plain(data, msg, self._peer_keys())
        return self._opened(msg, inner, data, plain)

    def open_fragment(self, data: bytes, msg: Message) -> bytes:
        """What one RFC 7383 fragment of the peer's carries, its ICV checked (raises
        CryptoError, ParseError)."""
        assert self.crypto is not None
        return self.crypto.sk.open_fragment(data, msg, self._peer_keys())

    def assembled(self, first: Message, plain: bytes) -> tuple[Payload, ...]:
        """The payloads of a message of the peer's reassembled from fragments (``first`` is
        fragment 1, ``plain`` the inner payloads' octets; raises ParseError)."""
        skf = first.payloads[-1]
        assert isinstance(skf, SKF)
        inner = message.decode_chain(plain, skf.first_inner)
        whole = replace(first, payloads=first.payloads[:-1])
        return self._opened(whole, inner, fragments.unfragmented(first, skf.first_inner),
                            plain)

    def _opened(self, msg: Message, inner: tuple[Payload, ...], data: bytes,
                plain: bytes) -> tuple[Payload, ...]:
        if self.intermediate is not None and self.intermediate.pending:
            self.opened = (data, plain)
        if self.host.tracing:
            clear = tuple(p for p in msg.payloads if not isinstance(p, SK | SKF))
            self.host.trace(self, message.encode(replace(msg, payloads=clear + inner)), False)
        return inner

    def set_crypto(self, chosen: Chosen, prf: Prf, sk: SkCipher, keys: keymat.IkeKeys) -> None:
        """The negotiated suite and keys (IKE_SA_INIT's, or a rekey's)."""
        self.crypto = _Crypto(chosen, prf, sk, keys)

    def key_exchanges(self) -> list[int]:
        """The key exchanges (KE transform IDs) that made this SA's keys so far: IKE_SA_INIT's
        and the additional ones done, or a rekey's (all done once it exists; RFC 9370)."""
        if self.intermediate is not None:
            return list(self.intermediate.done)
        if self.crypto is None:
            return []
        group = self.crypto.chosen.get(TransformType.KE)
        return ([group.ident] if group else []) + list(self.crypto.chosen.additional())

    def suite(self) -> tuple[str, ...]:
        """IKE_SA_INIT's negotiated transforms by name (``ENCR_AES_CBC-128``,
        ``AUTH_HMAC_SHA2_256_128``, ``PRF_HMAC_SHA2_256``, ``MODP_2048``; key_exchanges() has
        RFC 9370's additional ones): for ikedctl and the weak-algorithm warning; () before
        IKE_SA_INIT's answer."""
        if self.crypto is None:
            return ()
        ch = self.crypto.chosen
        names = [t.name + (f"-{t.key_size * 8}" if t.variable_key and kind is TransformType.ENCR
                           else "")
                 for kind in (TransformType.ENCR, TransformType.INTEG, TransformType.PRF,
                              TransformType.KE) if (t := ch.get(kind)) is not None]
        return tuple(names)

    def move(self, state: State) -> None:
        """The one place an IKE SA changes state; a change not in the table is a bug."""
        if state not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"IKE SA {self.name}: {self.state.value} -> {state.value}")
        self.state = state

    def fail(self, stage: str, reason: str, received: str = "", configured: str = "") -> None:
        """Report a failed negotiation (received vs configured) and end the SA."""
        self.host.emit(NegotiationFailed(self.name, stage, reason, received, configured))
        self.die(f"{stage}: {reason}")

    def die(self, reason: str) -> None:
        """End the SA: its CHILD_SAs leave the kernel, a leased address goes back."""
        if self.state is State.DEAD:
            return
        was_up = self.state in (State.ESTABLISHED, State.DELETING)
        self.move(State.DEAD)
        for c in self.children:
            self.remove_child(c, reason)
        self.children.clear()
        for c in list(self.retiring):
            self.withdraw_outbound(c)
            self.release_inbound(c)
        active = self.tasks.active
        if active is not None and active.child is not None and active.child.spi_in and \
                active.child.negotiated is None:
            self.drop_larval(active.child)  # the SPI our CREATE_CHILD_SA in flight offered
        leases = tuple(a for _, a in self.leased)
        for pool, addr in self.leased:
            self.host.release(pool, addr, self.peer.provide.lease_time if self.peer.provide
                              else 0.0)
        self.leased = []
        if was_up and self.accounting is not None:
            from iked.ikev2 import eap_radius  # imported here: see establish
            from racoon2.radius.packet import AcctStatus

            eap_radius.account(self, self.accounting, AcctStatus.STOP, self.host.clock)
        if was_up:
            self.host.emit(IkeSaDown(self.name, self.peer.remote, self.local, self.remote,
                                     "rekeyed" if self.replaced else reason, self.replaced,
                                     leases))

    def rw_policies(self, c: Child) -> list[tuple[str, int, SpmifMode, Prefix, Prefix,
                                                  Address, Address]]:
        """spmif POLICY ADD/DELETE arguments for an IP_RW policy and this peer (one per
        address family leased)."""
        return childmod.rw_policies(c.settings, *self.ends(c))

    def remove_child(self, c: Child, reason: str) -> None:
        """Take ``c``'s SAs (and an IP_RW policy) out of the kernel; report it down."""
        if c.negotiated is None:
            return
        if c.settings.rw and not c.replaced:
            for selector, _, mode, src, dst, sa_src, sa_dst in self.rw_policies(c):
                self.host.request(self, PolicyDelete(selector, mode, src, dst, sa_src, sa_dst),
                                  self.ignore)
        held = c.outbound_held_until is not None  # its outbound SAs never went in
        for spec in c.negotiated.inbound_specs if held else c.negotiated.specs:
            self.host.request(self, api.DelSa(spec.key), self.ignore)
        self.host.emit(ChildSaDown(self.name, c.settings.policy, c.spi_in, c.spi_out, reason,
                                   self.hook_event(c), c.replaced))

    def retire(self, c: Child, now: Now) -> None:
        """``c`` was rekeyed: it is no CHILD_SA of ours any more (reported down as a rekey)
        but its kernel SAs stay in :attr:`retiring` until :meth:`withdraw_outbound` and
        :meth:`release_inbound`; the peer is told (INFORMATIONAL Delete) when the window
        lets us.  The order is :func:`iked.ikev2.child_sa.rekeyed`'s."""
        if c not in self.children:
            return
        self.children.remove(c)
        self.retiring.append(c)
        self.host.emit(ChildSaDown(self.name, c.settings.policy, c.spi_in, c.spi_out,
                                   "rekeyed", self.hook_event(c), True))
        self.tasks.want(Task(Kind.DELETE_CHILD, child=c, reason="rekeyed"), now)

    def withdraw_outbound(self, c: Child) -> None:
        """Take the outbound SAs of a retiring CHILD_SA out of the kernel."""
        if c in self.retiring and c.negotiated is not None:
            for spec in c.negotiated.outbound_specs:
                self.host.request(self, api.DelSa(spec.key), self.ignore)

    def release_inbound(self, c: Child) -> None:
        """Take the inbound SAs of a retiring CHILD_SA out of the kernel: it is gone."""
        if c not in self.retiring:
            return
        self.retiring.remove(c)
        if c.negotiated is not None:
            for spec in c.negotiated.inbound_specs:
                self.host.request(self, api.DelSa(spec.key), self.ignore)

    def drop_larval(self, c: Child) -> None:
        """Delete the inbound SPI (and CPI) reserved for a CHILD_SA that did not come up."""
        me, peer = self.ends(c)
        self.host.request(self, api.DelSa(api.SaKey(peer, me, c.settings.protocol, c.spi_in)),
                          self.ignore)
        if c.cpi_in:
            self.host.request(self, api.DelSa(api.SaKey(peer, me, api.Proto.IPCOMP, c.cpi_in)),
                              self.ignore)

    def hook_event(self, c: Child) -> ChildEvent:
        """What the hooks of ``c`` are told."""
        return childmod.hook_event(c, self.ends(c), tuple(a for _, a in self.leased),
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
                  shares: Sequence[bytes], ni: bytes, nr: bytes, now: Now) -> IkeSa:
        """The IKE SA that a rekey makes of this one (RFC 7296 §2.18): keys from our SK_d
        and the rekey's shared secrets ``shares`` (SK(0), then RFC 9370's SK(1)...), our
        CHILD_SAs moved over, handed to the core."""
        assert self.crypto is not None
        prf_t, encr = chosen.get(TransformType.PRF), chosen.get(TransformType.ENCR)
        assert prf_t is not None and encr is not None
        integ = chosen.get(TransformType.INTEG)
        seed = keymat.rekey_skeyseed(self.crypto.prf, self.crypto.keys.sk_d, shares[0], ni, nr,
                                     shares[1:])
        prf = prf_for(prf_t.ident)
        keys = keymat.ike_sa_keys(prf, encr, integ, seed, ni, nr, spi_i, spi_r)
        new = IkeSa(self.host, self.peer, self.local, self.remote, initiator, spi_i, now)
        new.spi_r, new.ni, new.nr = spi_r, ni, nr
        new.set_crypto(chosen, prf, SkCipher(encr, integ), keys)
        new.peer_id, new.peer_hashes, new.rekey_of = self.peer_id, self.peer_hashes, self.name
        new.children, self.children = self.children, []
        new.retiring, self.retiring = self.retiring, []
        new.leased, self.leased = self.leased, []
        new.accounting, self.accounting = self.accounting, None  # one session across rekeys
        new.cfg_reply, new.mobike = self.cfg_reply, self.mobike
        new.ppk_id = self.ppk_id  # SK_d came from the PPK
        # RFC 7383 is agreed in IKE_SA_INIT only (no notify in a rekey): the successor keeps it,
        # as strongSwan's does.
        new.fragmenting = self.fragmenting
        self.replaced = True
        new.establish(now)
        self.tasks.hand_over(new.tasks, now)
        if self.deadline_gone is not None:
            # A shutdown's Delete waited behind this rekey: the successor goes as well.
            new.delete(now, max(0.0, self.deadline_gone - now))
        self.host.adopt(new)  # after the hand-over: its deadline includes a queued retry
        return new

    def establish(self, now: Now) -> None:
        """The SA is up: lifetime and liveness timers run, IkeSaUp is reported."""
        self.move(State.ESTABLISHED)
        self.established_at = now
        if self.accounting is not None and self.rekey_of is None:
            # Imported here: only eap { method radius; } accounts, and RADIUS is ms of every
            # iked start.
            from iked.ikev2 import eap_radius
            from racoon2.radius.packet import AcctStatus

            eap_radius.account(self, self.accounting, AcctStatus.START, now)
        self.deadline_nego = None
        if self.peer.lifetime:
            self.deadline_life = now + self.peer.lifetime
        self.arm_dpd(now)
        if self.behind_nat:
            self.deadline_keepalive = now + NAT_KEEPALIVE
        self.host.emit(IkeSaUp(self.name, self.peer.remote, self.local, self.remote,
                               self.initiator, self.rekey_of,
                               tuple(intauth.name(i) for i in self.key_exchanges()),
                               tuple(a for _, a in self.leased),
                               ppk.show(self.ppk_id) if self.ppk_id is not None else None,
                               self.suite()))

    def arm_dpd(self, now: Now) -> None:
        """The peer showed life: the next liveness check is dpd_delay away."""
        self.deadline_dpd = now + self.peer.dpd_delay if self.peer.dpd_delay else None

    # -- exchanges of ours, through the dispatch table ---------------------------------------

    def delete_child(self, c: Child, now: Now, reason: str) -> None:
        """Remove ``c`` from the kernel now and tell the peer (INFORMATIONAL Delete) when
        the window lets us."""
        if c not in self.children:
            return
        self.children.remove(c)
        self.remove_child(c, reason)
        self.tasks.want(Task(Kind.DELETE_CHILD, child=c, reason=reason), now)

    def delete(self, now: Now, within: float | None = None) -> None:
        """Delete the whole IKE SA (its CHILD_SAs go with it): INFORMATIONAL Delete now, or,
        while an exchange of ours holds the window (RFC 7296 §2.3: window size 1, a request
        may not overtake it), first in the queue behind it.  The shutdown and the reload give
        ``within`` (iked --stop-wait): that many seconds from now the SA ends even without
        the answer; else the retransmissions decide.  An SA that is not up ends at once."""
        if self.state is not State.ESTABLISHED:
            self.die("shut down")
            return
        if within is not None:
            gone = now + within
            self.deadline_gone = gone if self.deadline_gone is None else min(
                gone, self.deadline_gone)
        self.tasks.want(Task(Kind.DELETE_IKE), now)

    def _held_deadline(self) -> Now | None:
        # A rekey's outbound SAs held back (iked.ikev2.child_sa.release_outbound).
        return min((c.outbound_held_until for c in self.children
                    if c.outbound_held_until is not None), default=None)

    def deadline(self) -> Now | None:
        """The earliest moment a timer of this SA (retransmission, negotiation limit,
        liveness check, lifetime, NAT keepalive, a queued retry, held outbound SAs) has work."""
        times = [t for t in (self.tasks.window.deadline, self.deadline_nego, self.deadline_dpd,
                             self.deadline_life, self.deadline_hard, self.deadline_gone,
                             self.deadline_keepalive, self.tasks.deadline(),
                             self._held_deadline()) if t is not None]
        return min(times) if times and self.state is not State.DEAD else None
