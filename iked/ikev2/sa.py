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

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

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
from iked.ikev2.child import Child
from iked.ikev2.common import State
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.tasks import Kind, Task, TaskManager
from racoon2.crypto import dh, keymat
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import TransformType
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_INITIATOR, FLAG_RESPONSE, ExchangeType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Payload
from racoon2.ikev2.sk import SkCipher, SkKeys
from racoon2.ipsec import Mode as SpmifMode
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, Prefix
from racoon2.spmif.commands import PolicyDelete

__all__ = ["Host", "IkeSa", "State"]

NAT_T_PORT = 4500
NAT_KEEPALIVE = 20.0  # seconds, the original's natk_interval
NAT_KEEPALIVE_PACKET = b"\xff"
#: How long past ``kmp_sa_lifetime_time`` an IKE SA waits for its rekey (queued behind
#: another exchange, or in flight) when ``kmp_sa_nego_time_limit`` is 0: then it is deleted.
REKEY_GRACE = 60.0

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

    def start(self, sa: IkeSa, task: Task, now: Now) -> bool:
        """Begin the exchange ``task`` on ``sa`` (the dispatch table's initiator side)."""

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
        self.children: list[Child] = []
        # Rekeyed CHILD_SAs whose inbound SA still takes the peer's last packets until our
        # Delete of them is answered (:func:`iked.ikev2.child_sa.rekeyed`).
        self.retiring: list[Child] = []
        self.crypto: _Crypto | None = None
        self.ni = self.nr = b""
        self.init_request = self.init_response = b""
        self.exchange: dh.Exchange | None = None
        self.exchange_group = 0
        self.cookie = b""
        self.peer_id: tuple[int, bytes] | None = None
        self.peer_hashes: frozenset[int] = frozenset()  # RFC 7427, from IKE_SA_INIT
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

    def header(self, exchange: ExchangeType, mid: int, response: bool,
                payloads: tuple[Payload, ...] = ()) -> Message:
        return Message(self.spi_i, self.spi_r, exchange, mid, payloads, self._flags(response))

    def seal(self, exchange: ExchangeType, mid: int, response: bool,
             inner: tuple[Payload, ...]) -> bytes:
        """A protected message of this SA carrying ``inner``."""
        assert self.crypto is not None
        k = self.crypto.keys
        keys = SkKeys(k.sk_ei, k.sk_ai) if self.initiator else SkKeys(k.sk_er, k.sk_ar)
        if self.host.tracing:
            self.host.trace(self, message.encode(self.header(exchange, mid, response, inner)),
                            True)
        return self.crypto.sk.seal(self.header(exchange, mid, response), inner, keys,
                                   self.host.rng)

    def open(self, data: bytes, msg: Message) -> tuple[Payload, ...]:
        """The payloads inside a protected message of the peer's (raises CryptoError,
        ParseError)."""
        assert self.crypto is not None
        k = self.crypto.keys
        keys = SkKeys(k.sk_er, k.sk_ar) if self.initiator else SkKeys(k.sk_ei, k.sk_ai)
        inner = self.crypto.sk.open(data, msg, keys)
        if self.host.tracing:
            self.host.trace(self, message.encode(replace(msg, payloads=msg.payloads[:-1]
                                                         + inner)), False)
        return inner

    def set_crypto(self, chosen: Chosen, prf: Prf, sk: SkCipher, keys: keymat.IkeKeys) -> None:
        """The negotiated suite and keys (IKE_SA_INIT's, or a rekey's)."""
        self.crypto = _Crypto(chosen, prf, sk, keys)

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
        if self.leased is not None:
            self.host.release(*self.leased)
            self.leased = None
        if was_up:
            self.host.emit(IkeSaDown(self.name, self.peer.remote, self.local, self.remote,
                                     "rekeyed" if self.replaced else reason, self.replaced))

    def rw_policy(self, c: Child) -> tuple[str, int, SpmifMode, Prefix, Prefix, Address,
                                           Address]:
        """spmif POLICY ADD/DELETE arguments for an IP_RW policy and this peer."""
        s = c.settings
        me, peer = self.ends(c)
        local = s.local_ts[0].prefixes()[0] if s.local_ts else ipaddress.ip_network(me)
        remote = s.remote_ts[0].prefixes()[0] if s.remote_ts else ipaddress.ip_network(peer)
        return (s.selector, s.lifetime_seconds,
                SpmifMode.TUNNEL if s.tunnel else SpmifMode.TRANSPORT, local, remote, me, peer)

    def remove_child(self, c: Child, reason: str) -> None:
        """Take ``c``'s SAs (and an IP_RW policy) out of the kernel; report it down."""
        if c.negotiated is None:
            return
        if c.settings.rw and not c.replaced:
            selector, _, mode, src, dst, sa_src, sa_dst = self.rw_policy(c)
            self.host.request(self, PolicyDelete(selector, mode, src, dst, sa_src, sa_dst),
                              self.ignore)
        for spec in c.negotiated.specs:
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

    def hook_event(self, c: Child) -> ChildEvent:
        """What the hooks of ``c`` are told."""
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
        new.set_crypto(chosen, prf, SkCipher(encr, integ), keys)
        new.peer_id, new.peer_hashes, new.rekey_of = self.peer_id, self.peer_hashes, self.name
        new.children, self.children = self.children, []
        new.retiring, self.retiring = self.retiring, []
        new.leased, self.leased = self.leased, None
        new.cfg_reply = self.cfg_reply
        self.replaced = True
        new.establish(now)
        self.tasks.hand_over(new.tasks, now)
        self.host.adopt(new)  # after the hand-over: its deadline includes a queued retry
        return new

    def establish(self, now: Now) -> None:
        """The SA is up: lifetime and liveness timers run, IkeSaUp is reported."""
        self.move(State.ESTABLISHED)
        self.deadline_nego = None
        if self.peer.lifetime:
            self.deadline_life = now + self.peer.lifetime
        self.arm_dpd(now)
        if self.behind_nat:
            self.deadline_keepalive = now + NAT_KEEPALIVE
        self.host.emit(IkeSaUp(self.name, self.peer.remote, self.local, self.remote,
                               self.initiator, self.rekey_of))

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

    def delete(self, now: Now) -> None:
        """Send INFORMATIONAL Delete for the whole IKE SA (its CHILD_SAs go with it) now, or
        end the SA at once when it is not up or an exchange of ours holds it: this is the
        shutdown's and the reload's Delete, which cannot wait for the window."""
        if self.state is not State.ESTABLISHED or self.tasks.claimed() is not None:
            self.die("shut down")
            return
        self.host.start(self, Task(Kind.DELETE_IKE), now)

    def deadline(self) -> Now | None:
        """The earliest moment a timer of this SA (retransmission, negotiation limit,
        liveness check, lifetime, NAT keepalive, a queued retry) has work."""
        times = [t for t in (self.tasks.window.deadline, self.deadline_nego, self.deadline_dpd,
                             self.deadline_life, self.deadline_hard, self.deadline_keepalive,
                             self.tasks.deadline()) if t is not None]
        return min(times) if times and self.state is not State.DEAD else None
