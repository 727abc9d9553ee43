"""What ikedctl shows of iked's SAs and counters (pure): the documents of ``sa list``, ``sa
show`` and ``stats`` (their schema: doc/ikedctl.md), made from both cores, the kernel's SA
dump and one moment on both clocks; and the lookup of an SA by what an admin types.

The kernel dump gives each CHILD_SA's bytes and packets (``ip -s xfrm state``); a CHILD_SA
whose kernel SAs are not there (refused, not installed yet, gone) says ``"kernel":
"absent"`` with null counters, and ``"unknown"`` when the dump itself failed.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from iked.cores import Cores
from iked.events import DropReason
from iked.ikev2 import child as childmod
from iked.ikev2 import intauth, ppk
from iked.ikev2.child import Child
from iked.ikev2.common import id_text
from iked.ikev2.sa import IkeSa
from iked.ikev2.snapshot import Clock
from racoon2.errors import ControlError
from racoon2.kernel import api

if TYPE_CHECKING:  # the IKEv1 engine is imported only where IKEv1 is used (iked.cores)
    from iked.ikev1.sa import IsakmpSa

#: The kernel's SAs by key; None when they could not be listed.
Kernel = Mapping[api.SaKey, api.SaInfo] | None
AnySa: TypeAlias = "IkeSa | IsakmpSa"


class Numbers:
    """Short, stable numbers for the IKE SAs (``sa show 3``), given at first sight and never
    reused while the daemon runs; an SA's number goes with it."""

    def __init__(self, start: int = 1, step: int = 1) -> None:
        # iked -j: each worker its own arithmetic sequence (iked.ctl_merge.numbering).
        self._of: weakref.WeakKeyDictionary[AnySa, int] = weakref.WeakKeyDictionary()
        self._next = itertools.count(start, step)

    def of(self, sa: AnySa) -> int:
        """The number of ``sa``."""
        n = self._of.get(sa)
        if n is None:
            n = self._of[sa] = next(self._next)
        return n


def _wall(clock: Clock, t: float | None) -> int | None:
    wall = clock.to_wall(t)
    return None if wall is None else int(wall)


def _complete(info: api.SaInfo | None) -> bool:
    # An SPI allocated (ALLOCSPI) but never given its keys is a larval SA: not installed.
    s = info.spec if info is not None else None
    return s is not None and (s.proto is api.Proto.IPCOMP or s.cipher is not None or
                              s.integrity is not None or s.aead is not None)


def _counters(kernel: Kernel, specs: Sequence[api.SaSpec]) -> dict[str, int] | None:
    if kernel is None:
        return None
    infos = [kernel.get(s.key) for s in specs]
    if not infos or not all(_complete(i) for i in infos):
        return None
    return {"bytes": sum(i.current.bytes for i in infos if i is not None),
            "packets": sum(i.current.packets for i in infos if i is not None)}


def child_view(c: Child, kernel: Kernel, clock: Clock) -> dict[str, object]:
    """One CHILD_SA (IKEv2) or IPsec SA (IKEv1)."""
    s, neg = c.settings, c.negotiated
    soft = neg.inbound.lifetime.soft_add_seconds if neg else 0
    rekey = c.established_at + soft if c.established_at is not None and soft else None
    inbound = _counters(kernel, neg.inbound_specs) if neg else None
    outbound = _counters(kernel, neg.outbound_specs) if neg else None
    if inbound is None or outbound is None:  # both or neither: half an SA pair carries nothing
        inbound = outbound = None
    present = "unknown" if kernel is None else "absent" if inbound is None else "installed"
    return {
        "policy": s.policy, "selector": s.selector,
        "state": "replaced" if c.replaced else "installed" if neg else "negotiating",
        "mode": "tunnel" if s.tunnel else "transport",
        "protocol": neg.inbound.proto.name.lower() if neg else None,
        "spi_in": f"{c.spi_in:08x}", "spi_out": f"{c.spi_out:08x}",
        "ipcomp": f"{c.ipcomp.cpi_in:04x}/{c.ipcomp.cpi_out:04x}" if c.ipcomp else None,
        "algorithms": neg.algorithms if neg else None,
        # a CREATE_CHILD_SA's PFS group, then RFC 9370's additional ones
        "key_exchanges": [intauth.name(k) for k in c.key_exchanges],
        "local_ts": childmod.show(s.local_ts), "remote_ts": childmod.show(s.remote_ts),
        "established": _wall(clock, c.established_at), "rekey": _wall(clock, rekey),
        "kernel": present, "in": inbound, "out": outbound,
    }


def _v2(sa: IkeSa, n: int, kernel: Kernel, clock: Clock) -> dict[str, object]:
    my_ids = sa.peer.my_ids
    # sa.leased holds (pool, address) pairs: one per family the client asked for.
    leased = [str(addr) for _, addr in sa.leased]
    virtual = leased + (
        [str(a) for a in (sa.cfg_reply.addr4, sa.cfg_reply.addr6) if a is not None]
        if sa.cfg_reply else [])
    return {
        "id": n, "version": 2, "name": sa.name, "remote": sa.peer.remote,
        "local": str(sa.local), "peer": str(sa.remote), "state": sa.state.value,
        "initiator": sa.initiator,
        "local_id": id_text(*my_ids[0]) if my_ids else None,
        "peer_id": id_text(*sa.peer_id) if sa.peer_id else None,
        "algorithms": "/".join(sa.suite()) or None,
        # IKE_SA_INIT's, then RFC 9370's IKE_INTERMEDIATE (or a rekey's IKE_FOLLOWUP_KE) ones
        "key_exchanges": [intauth.name(k) for k in sa.key_exchanges()],
        "ppk": ppk.show(sa.ppk_id) if sa.ppk_id is not None else None,  # RFC 8784
        "nat": {"detected": sa.nat, "local_behind": sa.behind_nat},
        "virtual_addresses": virtual,
        "leased_to_peer": ", ".join(leased) or None,
        "established": _wall(clock, sa.established_at),
        "rekey": _wall(clock, sa.deadline_life),
        "children": [child_view(c, kernel, clock) for c in sa.children],
    }


def _v1(sa: IsakmpSa, n: int, kernel: Kernel, clock: Clock) -> dict[str, object]:
    my_ids = sa.settings.my_ids
    algs = sa.algs
    return {
        "id": n, "version": 1, "name": sa.name, "remote": sa.settings.remote,
        "local": str(sa.local), "peer": str(sa.remote), "state": sa.state.value,
        "initiator": sa.initiator,
        "local_id": id_text(*my_ids[0]) if my_ids else None,
        "peer_id": id_text(*sa.peer_id) if sa.peer_id else None,
        "algorithms": "/".join(algs.names()) if algs else None,
        # IKEv1's group descriptions are IKEv2's KE transform IDs (RFC 2409 §6, RFC 3526 §8)
        "key_exchanges": [intauth.name(algs.group)] if algs else [],
        "ppk": None,
        "nat": {"detected": bool(sa.nat and sa.nat.nat),
                "local_behind": bool(sa.nat and sa.nat.local_behind)},
        "virtual_addresses": [str(sa.leased)] if sa.leased else [],
        "leased_to_peer": str(sa.leased) if sa.leased and not sa.initiator else None,
        "established": _wall(clock, sa.established_at),
        "rekey": _wall(clock, sa.rekey_at()),
        "children": [child_view(c, kernel, clock) for c in sa.children],
    }


def view(sa: AnySa, numbers: Numbers, kernel: Kernel, clock: Clock) -> dict[str, object]:
    """One IKE SA (IKEv2) or ISAKMP SA (IKEv1) with its CHILD_SAs."""
    if isinstance(sa, IkeSa):
        return _v2(sa, numbers.of(sa), kernel, clock)
    return _v1(sa, numbers.of(sa), kernel, clock)


def sa_list(cores: Cores, numbers: Numbers, kernel: Kernel, clock: Clock
            ) -> list[dict[str, object]]:
    """Every IKE and ISAKMP SA, by number."""
    sas = sorted(cores.sas.values(), key=numbers.of)
    return [view(sa, numbers, kernel, clock) for sa in sas]


@dataclass(frozen=True, slots=True)
class Target:
    """What an admin's ID names: an IKE SA, or one CHILD_SA of it."""

    sa: AnySa
    child: Child | None = None


def find(cores: Cores, numbers: Numbers, ident: str) -> Target:
    """The SA ``ident`` names: an IKE SA's number or ``spi_i:spi_r`` name, or a CHILD_SA's
    inbound or outbound SPI (``0x``-prefixed hex, as ``ip xfrm state`` shows it);
    ControlError when none does."""
    sas = list(cores.sas.values())
    if ident.isdigit():
        found = [sa for sa in sas if numbers.of(sa) == int(ident)]
        if found:
            return Target(found[0])
    for sa in sas:
        if sa.name == ident.lower():
            return Target(sa)
    if ident.lower().startswith("0x"):
        try:
            spi = int(ident, 16)
        except ValueError:
            spi = -1
        for sa in sas:
            for c in sa.children:
                if spi in (c.spi_in, c.spi_out) and not c.replaced:
                    return Target(sa, c)
    raise ControlError(f"no SA {ident!r}", hint="IKE SA number or name, or a CHILD_SA's SPI "
                       "as 0x…; see sa list")


def by_remote(cores: Cores, remote: str) -> list[AnySa]:
    """The live SAs of remote ``remote`` (by name) or of the peer at address ``remote``."""
    out: list[AnySa] = []
    for sa in cores.sas.values():
        name = sa.peer.remote if isinstance(sa, IkeSa) else sa.settings.remote
        if name == remote or str(sa.remote.addr) == remote:
            out.append(sa)
    return out


def _exchanges(counters: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """``{"initiated": {"IKE_AUTH": 2}, "answered": {…}}`` from the cores' counters."""
    out: dict[str, dict[str, int]] = {"initiated": {}, "answered": {}}
    for key, n in sorted(counters.items()):
        role, _, exchange = key.partition(" ")
        if role in out:
            out[role][exchange] = n
    return out


def stats(cores: Cores, events: Mapping[str, int]) -> dict[str, object]:
    """``stats``: the SA counts, drops by reason, exchanges, retransmissions and events."""
    counters = cores.counters
    sas = list(cores.sas.values())
    return {
        "ike_sas": sum(1 for sa in sas if isinstance(sa, IkeSa)),
        "isakmp_sas": sum(1 for sa in sas if not isinstance(sa, IkeSa)),
        "child_sas": sum(1 for sa in sas for c in sa.children if not c.replaced),
        "dropped": {r.name.lower(): cores.dropped.get(r, 0) for r in DropReason},
        "exchanges": _exchanges(counters),
        "retransmits": counters.get("retransmits", 0),
        "events": dict(sorted(events.items())),
    }

