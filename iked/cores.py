"""iked's two protocol cores behind one interface (pure): the shell feeds :class:`Cores` as
it would one core; datagrams go by the ISAKMP/IKE header's major version (RFC 2408 §3.1,
RFC 7296 §3.1: octet 17's high nibble), initiations by the remote's first ``acceptable_kmp``,
kernel results back to the core that asked.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias

from iked.endpoints import LocalAddresses
from iked.events import Datagram, DropReason, Event, Now, Request
from iked.ikev2 import snapshot
from iked.ikev2.child import Child
from iked.ikev2.core import IkeCore
from iked.ikev2.sa import IkeSa
from iked.ikev2.settings import ReadFile
from racoon2.config import lookup
from racoon2.config.model import Config, Kmp
from racoon2.crypto.rng import Rng
from racoon2.kernel import api
from racoon2.net import Address, Endpoint

if TYPE_CHECKING:
    from iked.ikev1.core import Ikev1Core
    from iked.ikev1.sa import IsakmpSa

Core: TypeAlias = "IkeCore | Ikev1Core"


def uses_ikev1(config: Config) -> bool:
    """Whether a remote (or the default remote) of ``config`` accepts IKEv1."""
    return any(Kmp.IKEV1 in r.acceptable_kmp
               for r in (*config.remotes, config.default_remote) if r is not None)


class Cores:
    """The IKEv2 core and the IKEv1 core of one iked.

    The IKEv1 core (and the import of the IKEv1 engine, 50 ms of every start here, several
    times that under TCG) is made when the configuration accepts IKEv1, else at its first use
    (an IKEv1 datagram, ikedctl's status): until then it would hold no SA and queue nothing,
    so leaving it out of the loops over :attr:`cores` changes no output.
    """

    def __init__(self, config: Config, rng: Rng, read: ReadFile, now: Now,
                 local_addresses: LocalAddresses = lambda spec: (),
                 read_public: ReadFile | None = None, ports: tuple[int, int] = (500, 500)
                 ) -> None:
        self.config = config
        self.v2 = IkeCore(config, rng, read, now, local_addresses, read_public, ports)
        self._v1_args = (rng, read, now, local_addresses, read_public, ports)
        self._v1: Ikev1Core | None = None
        self._ids = itertools.count(1)
        self._routes: dict[int, tuple[Core, int]] = {}
        if uses_ikev1(config):
            self._make_v1()  # now, not in the first IKEv1 exchange

    @property
    def v1(self) -> Ikev1Core:
        """The IKEv1 core, made at the first use (see the class docstring)."""
        return self._v1 if self._v1 is not None else self._make_v1()

    def _make_v1(self) -> Ikev1Core:
        from iked.ikev1.core import Ikev1Core

        self._v1 = Ikev1Core(self.config, *self._v1_args, pools=self.v2)
        self._v1.tracing, self._v1.worker = self.v2.tracing, self.v2.worker
        return self._v1

    @property
    def cores(self) -> tuple[Core, ...]:
        """The cores made so far, IKEv2 first."""
        return (self.v2,) if self._v1 is None else (self.v2, self._v1)

    @property
    def sas(self) -> dict[object, IkeSa | IsakmpSa]:
        """Every IKE and ISAKMP SA (the shell counts them and reads name and state)."""
        out: dict[object, IkeSa | IsakmpSa] = {k: v for k, v in self.v2.sas.items()}
        if self._v1 is not None:
            out.update({("v1", k): v for k, v in self._v1.sas.items()})
        return out

    @property
    def any_sa(self) -> bool:
        """Whether either core holds an SA: the shell asks after every input, so without the
        copy :attr:`sas` makes (O(SAs) per datagram)."""
        return any(core.sas for core in self.cores)

    @property
    def dropped(self) -> collections.Counter[DropReason]:
        """Both cores' drop counters, added."""
        return sum((core.dropped for core in self.cores), collections.Counter())

    @property
    def counters(self) -> collections.Counter[str]:
        """Both cores' exchange counters, added."""
        return sum((core.counters for core in self.cores), collections.Counter())

    @property
    def tracing(self) -> bool:
        """iked -P: keep the messages in the clear."""
        return self.v2.tracing

    @tracing.setter
    def tracing(self, on: bool) -> None:
        for core in self.cores:
            core.tracing = on

    def set_worker(self, index: int, workers: int, cookie_seed: bytes, origin: Now) -> None:
        """iked -j: this core is worker ``index`` of ``workers``: the SPIs it chooses steer
        to it (:mod:`iked.steering`), its cookies are every worker's."""
        for core in self.cores:
            core.worker = (index, workers)
        self.v2.share_cookies(cookie_seed, origin)

    def receive_datagram(self, data: bytes, local: Endpoint, remote: Endpoint, now: Now) -> None:
        """One datagram, to the core of its major version."""
        core: Core = self.v1 if len(data) > 17 and data[17] >> 4 == 1 else self.v2
        core.receive_datagram(data, local, remote, now)

    def initiate(self, selector_name: str, now: Now, peer_addr: Address | None = None,
                 local_addr: Address | None = None) -> None:
        """Initiate with the protocol the policy's remote names first in acceptable_kmp."""
        sel = self.config.selector(selector_name)
        remote = self.config.remote(sel.policy.remote_index) if sel is not None and \
            sel.policy is not None and sel.policy.remote_index else None
        kmps = lookup.acceptable_kmp(self.config, remote)
        core: Core = self.v1 if kmps and kmps[0] is Kmp.IKEV1 else self.v2
        core.initiate(selector_name, now, peer_addr, local_addr)

    def reply(self, request_id: int, result: object, now: Now) -> None:
        """A kernel result, to the core that asked."""
        route = self._routes.pop(request_id, None)
        if route is not None:
            route[0].reply(route[1], result, now)

    def addresses_changed(self, now: Now) -> None:
        """This host's addresses changed: IKEv2 SAs with MOBIKE follow (IKEv1 has none)."""
        self.v2.addresses_changed(now)

    def kernel_event(self, event: api.KernelEvent, now: Now) -> bool:
        """An EXPIRE, to the core whose SA it is; True when one took it."""
        return any(core.kernel_event(event, now) for core in self.cores)

    def handle_timer(self, now: Now) -> None:
        """Both cores' timers."""
        for core in self.cores:
            core.handle_timer(now)

    def reconfigure(self, config: Config, now: Now, stop_wait: float = 3.0) -> int:
        """SIGHUP, for both (``stop_wait``: how long an IKEv2 Delete may wait for its
        answer); how many SAs they delete."""
        self.config = config
        deleted = self.v2.reconfigure(config, now, stop_wait)
        if self._v1 is not None:
            return deleted + self._v1.reconfigure(config, now)
        if uses_ikev1(config):
            self._make_v1()  # with the new configuration, which it then holds
        return deleted

    def shutdown(self, now: Now, stop_wait: float = 3.0, force: bool = False) -> None:
        """Delete every SA of both (IKEv1's Deletes have no answer to wait for)."""
        self.v2.shutdown(now, stop_wait, force)
        if self._v1 is not None:
            self._v1.shutdown(now, force)

    def operate(self, sa: IkeSa | IsakmpSa, child: Child | None, rekey: bool, now: Now) -> None:
        """ikedctl's rekey or terminate of ``sa`` (or its CHILD_SA ``child``), to the core
        whose SA it is."""
        if isinstance(sa, IkeSa):
            self.v2.operate(sa, child, rekey, now)
        else:
            self.v1.operate(sa, child, rekey, now)

    def keep(self, clock: snapshot.Clock) -> bytes:
        """A stop that keeps the tunnels: the IKEv2 SAs' saved state (IkeCore.keep).  IKEv1
        SAs are not kept (the snapshot holds IKEv2 state only): they are deleted, peers told."""
        if self._v1 is not None:
            self._v1.shutdown(clock.mono)
        return self.v2.keep(clock)

    def restore(self, data: bytes, kernel: Sequence[api.SaInfo], clock: snapshot.Clock
                ) -> list[tuple[str, str]]:
        """Start from a keeping stop's saved state (IkeCore.restore)."""
        return self.v2.restore(data, kernel, clock)

    def requests(self) -> list[Request]:
        """Both cores' kernel requests, renumbered so that results find their way back."""
        out = []
        for core in self.cores:
            for r in core.requests():
                rid = next(self._ids)
                self._routes[rid] = (core, r.id)
                out.append(Request(rid, r.op))
        return out

    def datagrams_to_send(self) -> list[Datagram]:
        """Both cores' datagrams."""
        return [d for core in self.cores for d in core.datagrams_to_send()]

    def traces(self) -> list[Datagram]:
        """Both cores' messages in the clear."""
        return [d for core in self.cores for d in core.traces()]

    def next_event(self) -> Event | None:
        """The next event of either core."""
        return next(self._events(), None)

    def _events(self) -> Iterator[Event]:
        for core in self.cores:
            event = core.next_event()
            if event is not None:
                yield event

    def next_timer(self) -> Now | None:
        """The earlier of the cores' deadlines."""
        times = [t for core in self.cores if (t := core.next_timer()) is not None]
        return min(times) if times else None

    def status(self) -> dict[str, object]:
        """Both cores' status, IKEv1's SAs under ``isakmp_sas`` and drops added."""
        v2 = self.v2.status()
        # An IKEv1 core not made yet would show no ISAKMP SA.
        v1 = self._v1.status()["isakmp_sas"] if self._v1 is not None else []
        return {**v2, "isakmp_sas": v1,
                "dropped": {r.name.lower(): n for r, n in self.dropped.items()}}
