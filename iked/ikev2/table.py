"""iked's IKEv2 SA table (pure): every IKE SA of one core and its indexes (by SPI, half-open,
by peer identity, by kernel SA, the timer heap, the address pools, the fragments being
reassembled), and the Host callbacks each :class:`~iked.ikev2.sa.IkeSa` makes of it.

:class:`iked.ikev2.core.IkeCore` is this table with the inputs and the table-wide operations
(routing, initiation, reload, stop, keep/restore); :meth:`SaTable._after` is the one place
the indexes follow an SA after it ran.
"""

from __future__ import annotations

import heapq
import itertools
import types
from collections.abc import Sequence

from iked.endpoints import LocalAddresses, interface_endpoints
from iked.events import Datagram, Now
from iked.ikev2 import dispatch
from iked.ikev2.child import Negotiated
from iked.ikev2.cookies import Cookies, shared_secrets
from iked.ikev2.fragments import Reassembly
from iked.ikev2.sa import IkeSa, State
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
from iked.leases import Owner, Pools
from iked.queues import Queues
from iked.steering import own_spi
from racoon2.config import lookup
from racoon2.config.effective import ikev2
from racoon2.config.model import Config, SelectorCheck
from racoon2.crypto.rng import Rng
from racoon2.errors import Racoon2Error
from racoon2.ikev2.constants import FLAG_RESPONSE, ExchangeType
from racoon2.kernel import api
from racoon2.net import Address, Endpoint


class Guarded:
    """Around an SA's turn (:meth:`SaTable._guard`): a configuration or key problem met in the
    middle of an exchange (an unreadable certificate, a key that cannot sign) ends that SA
    with its reason, not the daemon.  (A class: contextlib's generator-based managers cost
    more, twice per IKE SA.)"""

    __slots__ = ("sa",)

    def __init__(self, sa: IkeSa) -> None:
        self.sa = sa

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: types.TracebackType | None) -> bool:
        if isinstance(error, Racoon2Error):
            self.sa.fail(self.sa.state.value, str(error))
            return True
        return False


class SaTable(Queues[IkeSa]):
    """The IKE SAs of one iked, their indexes, and what an SA asks of its core."""

    def __init__(self, config: Config, rng: Rng, read: ReadFile, now: Now,
                 local_addresses: LocalAddresses = lambda spec: (),
                 read_public: ReadFile | None = None, ports: tuple[int, int] = (500, 500)
                 ) -> None:
        super().__init__()
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
        #: (this worker's index, the number of workers) under iked -j (iked.steering).
        self.worker = (0, 1)
        self._peers: dict[str, PeerSettings] = {}
        self._children: dict[str, list[ChildSettings]] = {}
        self._timers: list[tuple[Now, int, IkeSa]] = []
        # Every kernel SA of every CHILD_SA, both directions and IPComp: its EXPIRE's IKE SA.
        self._by_child_sa: dict[api.SaKey, IkeSa] = {}
        # What that index holds for each IKE SA: the Negotiated objects it was made from
        # (immutable: the same objects mean the same keys).
        self._indexed_children: dict[IkeSa, tuple[Negotiated, ...]] = {}
        self.pools = Pools(self._ranges)
        #: The time of the input being handled: when a lease went offline (IkeSa.die has
        #: no ``now``; every input brings one).
        self.clock: Now = now
        # The live IKE SAs by (remote, authenticated peer ID), for INITIAL_CONTACT: a responder
        # gets one in nearly every IKE_AUTH, so it must not scan every SA (RFC 7296 §2.4).
        self._by_identity: dict[tuple[str, tuple[int, bytes]], dict[IkeSa, None]] = {}
        self._identity: dict[IkeSa, tuple[str, tuple[int, bytes]]] = {}
        self._order = itertools.count()
        self._invalid_spi_sent = (0, 0)  # (second, INVALID_IKE_SPI answers sent in it)
        self.fragments = Reassembly()

    # -- Host (what each IkeSa calls) ---------------------------------------------------------

    def send(self, sa: IkeSa, data: bytes) -> None:
        """Queue ``data`` from the SA's local endpoint to its peer; a response goes back
        where the request came from (RFC 7296 §2.11), which with MOBIKE need not be the SA's
        endpoints (RFC 4555 §3.5: a path check before UPDATE_SA_ADDRESSES)."""
        local, remote = sa.local, sa.remote
        if sa.arrived is not None and len(data) > 19 and data[19] & FLAG_RESPONSE:
            local, remote = sa.arrived
        self._out.append(Datagram(data, local, remote))
        # A NAT keepalive (RFC 3948 §2.3: one octet) is no IKE message: nothing to trace.
        if self.tracing and len(data) > 18 and data[18] == ExchangeType.IKE_SA_INIT:
            self._traces.append(Datagram(data, sa.local, sa.remote))

    def new_spi(self) -> bytes:
        """A fresh SPI of ours whose low bits name this worker (:mod:`iked.steering`)."""
        return own_spi(self.rng.random_bytes(8), *self.worker)

    def share_cookies(self, seed: bytes, origin: Now) -> None:
        """iked -j: make and check cookies as every other worker does, from the
        coordinator's ``seed`` with its secrets changing at the same times from ``origin``
        (every worker reads the same monotonic clock), so a cookie one worker made is valid
        at all of them."""
        self._cookies = Cookies(shared_secrets(seed), origin)

    def trace(self, sa: IkeSa, data: bytes, outgoing: bool) -> None:
        """Keep a message in the clear for :meth:`traces` (iked -P)."""
        ends = (sa.local, sa.remote) if outgoing else (sa.remote, sa.local)
        self._traces.append(Datagram(data, *ends))

    def start(self, sa: IkeSa, task: Task, now: Now) -> bool:
        """Begin the exchange ``task`` on ``sa`` (through the dispatch table)."""
        return dispatch.start(sa, task, now)

    def adopt(self, sa: IkeSa) -> None:
        """Register an IKE SA a rekey made."""
        self.sas[sa.local_spi] = sa
        self._after(sa)

    def listens(self, ep: Endpoint) -> bool:
        """Whether ``ep`` is one of our ``interface ike`` endpoints now."""
        return ep in interface_endpoints(self.config, self._local_addresses, self.ike_port)

    def first_contact(self, sa: IkeSa) -> bool:
        """Whether ``sa`` is our only IKE SA with its peer (same remote, same address)."""
        return not any(o is not sa and o.state is not State.DEAD and o.remote.addr ==
                       sa.remote.addr and o.peer.remote == sa.peer.remote
                       for o in self.sas.values())

    def initial_contact(self, sa: IkeSa, now: Now) -> None:
        """RFC 7296 §2.4: the peer of ``sa`` says it has no other IKE SA with us (it
        restarted), so ours with the same authenticated identity end here, without a Delete
        it could not read; their kernel SAs go."""
        if sa.peer_id is None:
            return
        for other in list(self._by_identity.get((sa.peer.remote, sa.peer_id), ())):
            if other is not sa and other.state is not State.DEAD:
                other.die("the peer restarted (INITIAL_CONTACT)")
                self._after(other)

    def _ranges(self, name: str) -> Sequence[tuple[Address, Address]] | None:
        found = self.config.addresspool(name)
        return found.ranges if found is not None else None

    def lease(self, pools: Sequence[str], version: int, owner: Owner | None
              ) -> tuple[str, Address] | None:
        """(pool, address) of IP ``version`` for ``owner`` from the first of the
        ``addresspool``s ``pools`` that has one (None when none has)."""
        return self.pools.lease(pools, version, owner, self.clock)

    def pool_versions(self, pools: Sequence[str]) -> frozenset[int]:
        """The address families the ``addresspool``s ``pools`` hold."""
        return self.pools.versions(pools)

    def release(self, pool: str, addr: Address, keep: float) -> None:
        """A leased address's IKE SA ended: reserved for its owner ``keep`` seconds."""
        self.pools.release(pool, addr, self.clock, keep)

    def reply(self, request_id: int, result: object, now: Now) -> None:
        """The result of a kernel request (the time noted for the lease table)."""
        self.clock = now
        super().reply(request_id, result, now)

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


    # -- the indexes ---------------------------------------------------------------------------

    def _guard(self, sa: IkeSa) -> Guarded:
        return Guarded(sa)

    def _after(self, sa: IkeSa) -> None:
        """Bookkeeping after ``sa`` ran: index, half-open set, timer heap, removal."""
        self._index_identity(sa)
        # The EXPIRE index follows the SA's CHILD_SAs (gone ones leave it, moved ones are
        # re-pointed by their new IKE SA's turn here).  Most turns change none of them: the
        # keys (addresses to hash) are only worked out when one did.
        negotiated = tuple(c.negotiated for c in sa.children if c.negotiated) \
            if sa.state is not State.DEAD else ()
        held = self._indexed_children.get(sa, ())
        if len(negotiated) != len(held) or any(
                a is not b for a, b in zip(negotiated, held, strict=True)):
            keys = {spec.key for n in negotiated for spec in n.specs}
            for key in {spec.key for n in held for spec in n.specs} - keys:
                if self._by_child_sa.get(key) is sa:
                    del self._by_child_sa[key]
            for key in keys:
                self._by_child_sa[key] = sa
            if negotiated:
                self._indexed_children[sa] = negotiated
            else:
                self._indexed_children.pop(sa, None)
        if sa.state is State.DEAD:
            if self.sas.get(sa.local_spi) is sa:
                del self.sas[sa.local_spi]
                self.fragments.forget_peer(sa.local_spi)
            self._half_open.pop((sa.origin, sa.spi_i), None)
            return
        self.sas.setdefault(sa.local_spi, sa)
        # Half-open (RFC 7296 §2.6) until the initiator authenticated itself: a responder
        # whose IKE_AUTH waits only for its kernel SPI has a proven peer, no flood's SA.
        if sa.state is not State.INIT_DONE or sa.peer_id is not None:
            self._half_open.pop((sa.origin, sa.spi_i), None)
        self._queue_timer(sa)

    def _queue_timer(self, sa: IkeSa) -> None:
        # Most turns leave an SA's deadline where it was (a kernel reply, a retransmitted
        # request): its entry in the heap still holds, and no second one is pushed.
        deadline = sa.deadline()
        if deadline is not None and deadline != sa.timer_queued:
            heapq.heappush(self._timers, (deadline, next(self._order), sa))
            sa.timer_queued = deadline

    def _pop_timer(self) -> IkeSa:
        deadline, _, sa = heapq.heappop(self._timers)
        if deadline == sa.timer_queued:
            sa.timer_queued = None
        return sa

    def _index_identity(self, sa: IkeSa) -> None:
        key = (sa.peer.remote, sa.peer_id) if sa.peer_id is not None and \
            sa.state is not State.DEAD else None
        old = self._identity.get(sa)
        if old == key:
            return
        if old is not None:
            del self._identity[sa]
            same = self._by_identity[old]
            del same[sa]
            if not same:
                del self._by_identity[old]
        if key is not None:
            self._identity[sa] = key
            self._by_identity.setdefault(key, {})[sa] = None
