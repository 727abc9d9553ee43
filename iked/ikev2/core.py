"""iked's IKEv2 front door (pure): routing by SPI, cookies, half-open limit, initiation.

The shell feeds datagrams, kernel results and the time in; it drains datagrams to send, kernel
requests and events, and re-arms one timer at :meth:`IkeCore.next_timer`.  Nothing here awaits,
reads a clock or touches a socket.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from iked.events import (
    Datagram,
    Dropped,
    DropReason,
    Event,
    NegotiationFailed,
    Now,
    Op,
    Request,
)
from iked.ikev2 import create_child, dispatch, ike_init
from iked.ikev2.config_payload import Pool
from iked.ikev2.cookies import Cookies, cookie_needed
from iked.ikev2.sa import NAT_T_PORT, Continue, IkeSa, State
from iked.ikev2.settings import (
    ChildSettings,
    PeerSettings,
    ReadFile,
    SettingsError,
    child_settings,
    config_identity,
    peer_settings,
)
from iked.ikev2.tasks import Task
from racoon2.config import lookup
from racoon2.config.effective import ikev2
from racoon2.config.model import AddrKind, AddrSpec, Config, Kmp, Remote, Selector, SelectorCheck
from racoon2.crypto.rng import Rng
from racoon2.errors import ParseError, Racoon2Error
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_RESPONSE, ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import KE, Nonce, Notify, first
from racoon2.kernel import api
from racoon2.net import Address, Endpoint


def _comparable(peer: PeerSettings) -> tuple[object, ...]:
    """What decides whether a remote changed: the settings, with our key as its public half
    (private key objects compare by identity, a reread file is a new object)."""
    creds = peer.credentials
    mine = (creds.chain, creds.key.public_key()) if creds is not None else None
    return (replace(peer, credentials=None), mine)


def _same_child(sa: IkeSa, old: ChildSettings, new: ChildSettings | None) -> bool:
    """Whether a CHILD_SA negotiated with ``old`` is what ``new`` describes."""
    if new is None:
        return False
    # The negotiation narrowed these sides (to the IP_RW peer's address, to the address a
    # CFG_REPLY leased us): the configuration's wider ones are what to compare.
    if new.rw:
        old = replace(old, remote_ts=new.remote_ts)
    if sa.cfg_reply is not None:
        old = replace(old, local_ts=new.local_ts)
    return old == new


#: Local addresses a macro (MY_IP…) stands for on this host.
LocalAddresses = Callable[[AddrSpec], Sequence[Address]]


class IkeCore:
    """Every IKEv2 SA of one iked."""

    def __init__(self, config: Config, rng: Rng, read: ReadFile, now: Now,
                 local_addresses: LocalAddresses = lambda spec: (),
                 read_public: ReadFile | None = None, ports: tuple[int, int] = (500, 500)
                 ) -> None:
        self.config = config
        # (our IKE port for interface entries without one, the peers' port when
        # peers_ipaddr has none): iked's -p and -t.
        self.ike_port, self.target_port = ports
        self.rng = rng
        self._read = read
        self._read_public = read_public or read
        self._local_addresses = local_addresses
        self.sas: dict[bytes, IkeSa] = {}
        self._half_open: dict[tuple[Endpoint, bytes], IkeSa] = {}
        self._cookies = Cookies(rng.random_bytes, now)
        self._out: list[Datagram] = []
        self._requests: list[Request] = []
        self._events: collections.deque[Event] = collections.deque()
        self._waiting: dict[int, tuple[IkeSa, Op, Continue]] = {}
        self._next_request = 1
        self._peers: dict[str, PeerSettings] = {}
        self._children: dict[str, list[ChildSettings]] = {}
        self.dropped: collections.Counter[DropReason] = collections.Counter()
        self._timers: list[tuple[Now, int, IkeSa]] = []
        self.tracing = False
        self._traces: list[Datagram] = []
        # Every kernel SA of every CHILD_SA, both directions and IPComp: its EXPIRE's IKE SA.
        self._by_child_sa: dict[api.SaKey, IkeSa] = {}
        self._child_keys: dict[IkeSa, set[api.SaKey]] = {}
        self._pools: dict[str, Pool] = {}
        self._order = itertools.count()

    # -- Host (what each IkeSa calls) ---------------------------------------------------------

    def send(self, sa: IkeSa, data: bytes) -> None:
        """Queue ``data`` from the SA's local endpoint to its peer."""
        self._out.append(Datagram(data, sa.local, sa.remote))
        # A NAT keepalive (RFC 3948 §2.3: one octet) is no IKE message: nothing to trace.
        if self.tracing and len(data) > 18 and data[18] == ExchangeType.IKE_SA_INIT:
            self._traces.append(Datagram(data, sa.local, sa.remote))

    def trace(self, sa: IkeSa, data: bytes, outgoing: bool) -> None:
        """Keep a message in the clear for :meth:`traces` (iked -P)."""
        ends = (sa.local, sa.remote) if outgoing else (sa.remote, sa.local)
        self._traces.append(Datagram(data, *ends))

    def traces(self) -> list[Datagram]:
        """Messages in the clear since the last call, as (data, from, to)."""
        out, self._traces = self._traces, []
        return out

    def request(self, sa: IkeSa, op: Op, then: Continue) -> None:
        """Queue a kernel request; ``then`` runs when :meth:`reply` brings its result."""
        rid = self._next_request
        self._next_request += 1
        self._waiting[rid] = (sa, op, then)
        self._requests.append(Request(rid, op))

    def emit(self, event: Event) -> None:
        """Queue an event for the shell."""
        self._events.append(event)

    def drop(self, remote: Endpoint, reason: DropReason, detail: str = "") -> None:
        """Count a dropped datagram and report it."""
        self.dropped[reason] += 1
        self._events.append(Dropped(remote, reason, detail))

    def start(self, sa: IkeSa, task: Task, now: Now) -> bool:
        """Begin the exchange ``task`` on ``sa`` (through the dispatch table)."""
        return dispatch.start(sa, task, now)

    def adopt(self, sa: IkeSa) -> None:
        """Register an IKE SA a rekey made."""
        self.sas[sa.local_spi] = sa
        self._after(sa)

    def first_contact(self, sa: IkeSa) -> bool:
        """Whether ``sa`` is our only IKE SA with its peer (same remote, same address)."""
        return not any(o is not sa and o.state is not State.DEAD and o.remote.addr ==
                       sa.remote.addr and o.peer.remote == sa.peer.remote
                       for o in self.sas.values())

    def initial_contact(self, sa: IkeSa, now: Now) -> None:
        """RFC 7296 §2.4: the peer of ``sa`` says it has no other IKE SA with us (it
        restarted), so ours with the same authenticated identity end here, without a Delete
        it could not read; their kernel SAs go."""
        for other in list(self.sas.values()):
            if other is not sa and other.state is not State.DEAD and \
                    other.peer_id == sa.peer_id and other.peer.remote == sa.peer.remote:
                other.die("the peer restarted (INITIAL_CONTACT)")
                self._after(other)

    def lease(self, pool: str, version: int) -> Address | None:
        """An address of ``addresspool`` ``pool`` (None when unknown or exhausted)."""
        if pool not in self._pools:
            found = self.config.addresspool(pool)
            if found is None:
                return None
            self._pools[pool] = Pool(found.ranges)
        return self._pools[pool].lease(version)

    def release(self, pool: str, addr: Address) -> None:
        """Return a leased address to its pool."""
        if pool in self._pools:
            self._pools[pool].release(addr)

    def peer_by_id(self, id_type: int, data: bytes) -> PeerSettings | None:
        """The remote whose ``peers_id`` names this identity."""
        found = config_identity(id_type, data)
        if found is None:
            return None
        remote = lookup.remote_for_id(self.config, *found)
        return self._peer(remote.name) if remote is not None else None

    def children(self, remote: str) -> Sequence[ChildSettings]:
        """The CHILD_SAs of the auto_ipsec policies that name ``remote``."""
        if remote not in self._children:
            out = []
            for policy in self.config.policies:
                if policy.remote_index == remote or (
                        remote == "default" and policy.remote_index is not None
                        and self.config.remote(policy.remote_index) is None):
                    try:
                        out.append(child_settings(self.config, policy, self._local_addresses))
                    except SettingsError:
                        continue
            self._children[remote] = out
        return self._children[remote]

    def exact_ts(self, remote: str) -> bool:
        """``selector_check`` of ``remote``: exact (default) or obey."""
        check = ikev2(self.config, self.config.remote(remote)).selector_check
        return check is not SelectorCheck.OBEY

    def _peer(self, name: str | None) -> PeerSettings | None:
        key = name or "default"
        if key not in self._peers:
            remote = self.config.remote(name) if name else None
            self._peers[key] = peer_settings(self.config, remote, self._read,
                                             self._read_public)
        return self._peers[key]

    # -- inputs -------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, local: Endpoint, remote: Endpoint, now: Now) -> None:
        """One IKE message (non-ESP marker removed)."""
        try:
            msg = message.decode(data)
        except ParseError as e:
            self.drop(remote, DropReason.MALFORMED, str(e))
            return
        if self.tracing and msg.exchange == ExchangeType.IKE_SA_INIT:
            self._traces.append(Datagram(data, remote, local))
        ours = msg.spi_r if msg.initiator else msg.spi_i
        sa = self.sas.get(ours)
        if sa is None and msg.exchange == ExchangeType.IKE_SA_INIT and msg.initiator:
            if msg.response:
                self.drop(remote, DropReason.UNEXPECTED, "IKE_SA_INIT response from initiator")
                return
            sa = self._half_open.get((remote, msg.spi_i))
            if sa is None:
                self._new_responder(msg, data, local, remote, now)
                return
        if sa is None:
            self.drop(remote, DropReason.UNKNOWN_SPI, f"SPIs {msg.spi_i.hex()}:{msg.spi_r.hex()}")
            return
        with self._guard(sa):
            dispatch.receive(sa, msg, data, now, local, remote)
        self._after(sa)

    @contextlib.contextmanager
    def _guard(self, sa: IkeSa) -> Iterator[None]:
        # A configuration or key problem met in the middle of an exchange (an unreadable
        # certificate, a key that cannot sign) ends that SA with its reason, not the daemon.
        try:
            yield
        except Racoon2Error as e:
            sa.fail(sa.state.value, str(e))

    def _after(self, sa: IkeSa) -> None:
        """Bookkeeping after ``sa`` ran: index, half-open set, timer heap, removal."""
        # The EXPIRE index follows the SA's CHILD_SAs (gone ones leave it, moved ones are
        # re-pointed by their new IKE SA's turn here).
        keys = {spec.key for c in sa.children if sa.state is not State.DEAD
                for spec in (c.negotiated.specs if c.negotiated else ())}
        for key in self._child_keys.pop(sa, set()) - keys:
            if self._by_child_sa.get(key) is sa:
                del self._by_child_sa[key]
        if sa.state is State.DEAD:
            if self.sas.get(sa.local_spi) is sa:
                del self.sas[sa.local_spi]
            self._half_open.pop((sa.origin, sa.spi_i), None)
            return
        self.sas.setdefault(sa.local_spi, sa)
        for key in keys:
            self._by_child_sa[key] = sa
        if keys:
            self._child_keys[sa] = keys
        if sa.state is not State.INIT_DONE:
            self._half_open.pop((sa.origin, sa.spi_i), None)
        deadline = sa.deadline()
        if deadline is not None:
            heapq.heappush(self._timers, (deadline, next(self._order), sa))

    def _new_responder(self, msg: Message, data: bytes, local: Endpoint, remote: Endpoint,
                       now: Now) -> None:
        remote_cfg = lookup.remote_for_address(self.config, remote.addr, Kmp.IKEV2)
        if remote_cfg is None and self.config.default_remote is None:
            self.drop(remote, DropReason.NO_REMOTE, str(remote.addr))
            return
        kmps = lookup.acceptable_kmp(self.config, remote_cfg)
        if kmps and Kmp.IKEV2 not in kmps:
            # Only the default remote can get here: the others are looked up among the remotes
            # that accept ikev2.
            self.drop(remote, DropReason.NO_REMOTE, f"{remote.addr}: remote "
                      f"{remote_cfg.name if remote_cfg else 'default'} does not accept ikev2")
            return
        try:
            peer = self._peer(remote_cfg.name if remote_cfg else None)
        except Racoon2Error as e:
            self.drop(remote, DropReason.NO_REMOTE, str(e))
            return
        assert peer is not None
        nonce = first(msg.payloads, Nonce)
        ke = first(msg.payloads, KE)
        if nonce is None or ke is None:
            self.drop(remote, DropReason.MALFORMED, "IKE_SA_INIT without Nonce or KE")
            return
        if cookie_needed(peer.cookie_required, len(self._half_open)):
            cookie = next((p.data for p in msg.payloads
                           if isinstance(p, Notify) and p.type == NotifyType.COOKIE), b"")
            if not self._cookies.check(cookie, nonce.data, remote.addr, msg.spi_i, now):
                if cookie:
                    self.drop(remote, DropReason.BAD_COOKIE, "wrong cookie")
                made = self._cookies.make(nonce.data, remote.addr, msg.spi_i, now)
                reply = Message(msg.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                                (Notify(0, NotifyType.COOKIE, b"", made),), FLAG_RESPONSE)
                self._out.append(Datagram(message.encode(reply), local, remote))
                return
        sa = IkeSa(self, peer, local, remote, False, msg.spi_i, now)
        with self._guard(sa):
            ike_init.respond(sa, msg, data, now)
        if sa.state is not State.DEAD:
            self.sas[sa.local_spi] = sa
            self._half_open[(remote, msg.spi_i)] = sa
            self._after(sa)

    def reply(self, request_id: int, result: object, now: Now) -> None:
        """The result of a kernel request: a value, or the Racoon2Error it raised."""
        waiting = self._waiting.pop(request_id, None)
        if waiting is None:
            return
        sa, _, then = waiting
        with self._guard(sa):
            then(result, now)
        self._after(sa)

    def initiate(self, selector_name: str, now: Now, peer_addr: Address | None = None,
                 local_addr: Address | None = None) -> IkeSa | None:
        """Start an IKE SA (and its first CHILD_SA) for the policy of ``selector_name``."""
        sel = self.config.selector(selector_name)
        if sel is None or sel.policy is None:
            self.emit(NegotiationFailed("-", "initiate", f"no selector {selector_name!r} "
                                        "with a policy in the configuration"))
            return None
        try:
            return self._initiate(sel, now, peer_addr, local_addr)
        except Racoon2Error as e:
            self.emit(NegotiationFailed("-", "initiate", str(e)))
            return None

    def _initiate(self, sel: Selector, now: Now, peer_addr: Address | None,
                  local_addr: Address | None) -> IkeSa | None:
        assert sel.policy is not None
        policy = sel.policy
        name = policy.remote_index
        remote_cfg = self.config.remote(name) if name else None
        peer = self._peer(remote_cfg.name if remote_cfg else None)
        assert peer is not None
        kmps = lookup.acceptable_kmp(self.config, remote_cfg)
        if kmps and kmps[0] is not Kmp.IKEV2:
            # The first of acceptable_kmp is the protocol that initiates (doc/config.md, remote).
            raise SettingsError(f"remote {peer.remote} initiates with {kmps[0].value} "
                                "(the first of its acceptable_kmp), not ikev2")
        if peer.passive or (peer.provide is not None and peer.provide.pool is not None):
            # As the original: a passive remote, or one that leases addresses, only answers.
            raise SettingsError(f"remote {peer.remote} is passive: it does not initiate")
        child = child_settings(self.config, policy, self._local_addresses)
        target = self._target(remote_cfg, peer_addr)
        if target is None:
            raise SettingsError(f"remote {peer.remote}: no peers_ipaddr to send IKE_SA_INIT to")
        for sa in self.sas.values():
            if sa.state is not State.DEAD and (sa.remote.addr == target.addr and any(
                    c.settings.policy == child.policy for c in sa.children) or
                    child.policy in sa.tasks.policies()):
                return sa  # already negotiating or up: one ACQUIRE per packet burst is enough
        for sa in self.sas.values():
            # Another policy for a peer we already have an IKE SA with: CREATE_CHILD_SA.
            if sa.remote.addr == target.addr and sa.peer.remote == peer.remote and \
                    sa.state is State.ESTABLISHED and create_child.start_new(sa, child, now):
                self._after(sa)
                return sa
        local = self._local(target.addr, local_addr)
        if local is None:
            raise SettingsError(f"no interface ike address of IPv{target.addr.version} to "
                                f"reach {target.addr}")
        sa = IkeSa(self, peer, local, target, True, self.rng.random_bytes(8), now)
        self.sas[sa.local_spi] = sa
        ike_init.start(sa, now, child)
        self._after(sa)
        return sa

    def _target(self, remote_cfg: Remote | None, peer_addr: Address | None) -> Endpoint | None:
        spec = lookup.initiator_target(self.config, remote_cfg, Kmp.IKEV2) if remote_cfg \
            else None
        port = ikev2(self.config, remote_cfg).peers_kmp_port if remote_cfg else None
        if spec is not None and spec.address is not None:
            return Endpoint(spec.address, spec.port or port or self.target_port)
        return Endpoint(peer_addr, port or self.target_port) if peer_addr is not None else None

    def _local(self, peer: Address, wanted: Address | None) -> Endpoint | None:
        iface = self.config.interface
        for spec in (iface.ike if iface else ()):
            addrs = [spec.address] if spec.kind is AddrKind.INET and spec.address else \
                list(self._local_addresses(spec))
            for a in addrs:
                if a is not None and a.version == peer.version and (wanted is None or
                                                                    a == wanted):
                    if (spec.port or self.ike_port) != NAT_T_PORT:
                        return Endpoint(a, spec.port or self.ike_port)
        return Endpoint(wanted, self.ike_port) if wanted is not None else None

    def kernel_event(self, event: api.KernelEvent, now: Now) -> bool:
        """A kernel EXPIRE for one of our CHILD_SAs' SAs (either direction, or IPComp); True
        when it was ours.

        Soft: the CHILD_SA is rekeyed.  Hard: it is deleted (the peer told).
        """
        if not isinstance(event, api.Expire):
            return False
        sa = self._by_child_sa.get(event.key)
        child = next((c for c in sa.children if c.negotiated is not None and
                      event.key in {s.key for s in c.negotiated.specs}), None) if sa else None
        if sa is None or child is None:
            return False
        dispatch.expire_child(sa, child, event.hard, now)
        self._after(sa)
        return True

    def handle_timer(self, now: Now) -> None:
        """Run every SA whose deadline has come."""
        while self._timers and self._timers[0][0] <= now:
            _, _, sa = heapq.heappop(self._timers)
            deadline = sa.deadline()
            if deadline is not None and deadline <= now:
                dispatch.on_timer(sa, now)
                self._after(sa)
            elif deadline is not None and sa.state is not State.DEAD:
                heapq.heappush(self._timers, (deadline, next(self._order), sa))

    def reconfigure(self, config: Config, now: Now) -> None:
        """SIGHUP: run ``config`` from now on, keeping every SA it still describes alike.

        An IKE SA whose remote is gone, or whose effective settings (:class:`PeerSettings`)
        differ, is deleted (INFORMATIONAL Delete; its kernel SAs go when the peer answers or
        the retransmissions give up).  Of the others, a CHILD_SA whose policy is gone or whose
        :class:`ChildSettings` differ is deleted; the next ACQUIRE (spmd's policy is still
        there) negotiates it again with the new settings.  Everything else is untouched: same
        SPIs, no message, no kernel request.  Renegotiation rather than a rekey because a
        rekey keeps the old authentication and IKE SA, which a changed key, identity or
        proposal must not inherit (RFC 7296 §2.18 rekeys keep the IKE SA's peer).
        """
        self.config = config
        self._peers.clear()
        self._children.clear()
        # The leases of the SAs that stay must stay leased: a pool keeps its state while
        # its name is configured.
        self._pools = {name: pool for name, pool in self._pools.items()
                       if config.addresspool(name) is not None}
        for sa in list(self.sas.values()):
            if sa.state is State.DEAD:
                continue
            if not self._same_peer(sa.peer.remote, sa.peer):
                sa.delete(now)
            elif sa.state is State.ESTABLISHED:
                wanted = {c.policy: c for c in self.children(sa.peer.remote)}
                for c in list(sa.children):
                    if not _same_child(sa, c.settings, wanted.get(c.settings.policy)):
                        sa.delete_child(c, now, "configuration changed")
            self._after(sa)

    def _same_peer(self, name: str, old: PeerSettings) -> bool:
        if name != "default" and self.config.remote(name) is None:
            return False
        try:
            new = self._peer(None if name == "default" else name)
        except Racoon2Error:
            return False
        return new is not None and _comparable(new) == _comparable(old)

    def shutdown(self, now: Now, force: bool = False) -> None:
        """Delete every IKE SA (INFORMATIONAL Delete to each established peer); ``force``
        ends those still waiting for the answer at once (their kernel SAs removed)."""
        for sa in list(self.sas.values()):
            if force:
                sa.die("shut down")
            else:
                sa.delete(now)
            self._after(sa)

    # -- outputs ------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[Datagram]:
        """Everything queued for sending, in order."""
        out, self._out = self._out, []
        return out

    def requests(self) -> list[Request]:
        """Kernel requests queued since the last call."""
        out, self._requests = self._requests, []
        return out

    def next_event(self) -> Event | None:
        """The next event, or None."""
        return self._events.popleft() if self._events else None

    def next_timer(self) -> Now | None:
        """When :meth:`handle_timer` must run next."""
        # The heap holds stale entries too (an SA's deadline moved or it died): drop them
        # here, so the answer is exact and the cost stays O(log n) per SA event.
        while self._timers:
            deadline, _, sa = self._timers[0]
            if sa.state is not State.DEAD and sa.deadline() == deadline:
                return deadline
            heapq.heappop(self._timers)
        return None

    def status(self) -> dict[str, object]:
        """Counters and SAs for logs and ``--json`` status."""
        kernel: dict[int, list[str]] = collections.defaultdict(list)
        for rid, (sa, op, _) in self._waiting.items():
            kernel[id(sa)].append(f"{rid} {type(op).__name__}")
        return {
            "ike_sas": [{"sa": sa.name, "remote": sa.peer.remote, "peer": str(sa.remote),
                         "state": sa.state.value, "initiator": sa.initiator,
                         "children": [{"policy": c.settings.policy, "spi_in": f"{c.spi_in:08x}",
                                       "spi_out": f"{c.spi_out:08x}"} for c in sa.children],
                         "exchanges": sa.tasks.show(), "kernel_requests": kernel[id(sa)]}
                        for sa in self.sas.values()],
            "dropped": {r.name.lower(): n for r, n in self.dropped.items()},
        }

