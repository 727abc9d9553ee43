"""Every reach of the pair tests past IkeCore's public interface, in one place.

What a test cannot see through ``initiate``/``receive_datagram``/``kernel_event``/``status``
and the messages on the wire is read or forced here: the SA and CHILD_SA objects, their
deadlines, and the exchange modules' hooks.  When iked/ikev2's internals are restructured,
this module is the one to follow them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from iked.ikev2 import child as childmod
from iked.ikev2 import child_sa, create_child, dispatch, ike_rekey, ipcomp, mobike
from iked.ikev2.common import State, notify
from iked.ikev2.settings import ChildSettings
from iked.ikev2.tasks import Kind, Task
from racoon2.crypto import transforms as tt
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Payload, Transform
from racoon2.kernel import api

from .harness import Side


def _the_sa(side: Side) -> Any:
    (sa,) = side.core.sas.values()
    return sa


def _the_child(side: Side) -> Any:
    (child,) = _the_sa(side).children
    return child


def is_dead(sa: Any) -> bool:
    """The IKE SA ``initiate`` returned has given up."""
    return bool(sa.state is State.DEAD)


def forget_sas(side: Side) -> None:
    """The core keeps no IKE SA (a flooder's view of its spoofed requests)."""
    side.core.sas.clear()


def deadlines(side: Side) -> tuple[float | None, float | None, float | None]:
    """The only IKE SA's (lifetime, DPD, NAT keepalive) deadlines."""
    sa = _the_sa(side)
    return sa.deadline_life, sa.deadline_dpd, sa.deadline_keepalive


def never_expires(side: Side) -> None:
    """The only IKE SA's lifetime ends nowhere (so that the other side's ends first)."""
    _the_sa(side).deadline_life = None


def peer_limits(side: Side) -> tuple[float, float]:
    """The only IKE SA's peer settings: (kmp_sa_lifetime_time, kmp_sa_nego_time_limit)."""
    peer = _the_sa(side).peer
    return peer.lifetime, peer.nego_limit


def local_port(side: Side) -> int:
    """The only IKE SA's local port (4500 once NAT-T floated it)."""
    return int(_the_sa(side).local.port)


def child_local_ts(side: Side) -> list[str]:
    """The only CHILD_SA's local traffic selectors (what a rekey will propose)."""
    return [str(t) for t in _the_child(side).settings.local_ts]


def ipcomp_state(side: Side) -> tuple[int, int, int]:
    """The only CHILD_SA's (offered CPI, agreed inbound CPI, agreed outbound CPI)."""
    child = _the_child(side)
    assert child.ipcomp is not None
    return child.cpi_in, child.ipcomp.cpi_in, child.ipcomp.cpi_out


def negotiated_specs(side: Side) -> list[api.SaSpec]:
    """The kernel SAs of the only CHILD_SA's negotiation."""
    child = _the_child(side)
    assert child.negotiated is not None
    return list(child.negotiated.specs)


def children_specs(side: Side) -> list[list[api.SaSpec]]:
    """The kernel SAs of each CHILD_SA of the only IKE SA, oldest first."""
    return [list(c.negotiated.specs) for c in _the_sa(side).children if c.negotiated]


def ipcomp_offer(side: Side) -> Sequence[Payload]:
    """The IPCOMP_SUPPORTED notifies the only CHILD_SA offers."""
    return ipcomp.offer(_the_child(side))


def ipcomp_pick(side: Side, notifies: Sequence[Payload]) -> tuple[int, int] | None:
    """The (CPI, transform) the only CHILD_SA picks from ``notifies``."""
    return ipcomp.pick(_the_child(side), notifies)


def ipcomp_received(notifies: Sequence[Payload]) -> list[tuple[int, int]]:
    """What :mod:`iked.ikev2.ipcomp` makes of a peer's IPCOMP_SUPPORTED ``notifies``."""
    return ipcomp.received(notifies)


def child_pfs_offers(monkeypatch: pytest.MonkeyPatch, ke: tt.Transform,
                     also: tt.Transform | None) -> None:
    """CREATE_CHILD_SA makes its KE payload of group ``ke`` (unless the peer asked for
    another in INVALID_KE_PAYLOAD); proposals offer ``also`` too."""
    monkeypatch.setattr(create_child, "_pfs_group", lambda sa, task: tt.by_id(
        tt.TransformType.KE, task.group) if task.group else ke)
    proposals = ChildSettings.proposals
    monkeypatch.setattr(ChildSettings, "proposals", lambda self, spi, pfs=(), addke=(): proposals(
        self, spi, (*pfs, also) if pfs and also is not None else pfs, addke))


def rekey_ike_with_ke(side: Side, ke_id: int, now: float) -> bool:
    """Rekey the only IKE SA now, its own record of the suite saying KE group ``ke_id``."""
    sa = _the_sa(side)
    assert sa.crypto is not None
    sa.crypto = replace(sa.crypto, chosen=replace(sa.crypto.chosen, transforms=tuple(
        Transform(t.type, ke_id) if t.type == tt.TransformType.KE else t
        for t in sa.crypto.chosen.transforms)))
    return bool(ike_rekey.start(sa, Task(Kind.REKEY_IKE), now))


def record_collisions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Every call of a ``collide`` hook from now on, as (our task's kind, the peer's
    exchange, whether the hook answered it)."""
    calls: list[tuple[str, str, bool]] = []

    def spy(hook: dispatch.Collide) -> dispatch.Collide:
        def wrapped(sa: Any, ours: Any, msg: Any, inner: Any, now: float) -> bool:
            answered = hook(sa, ours, msg, inner, now)
            calls.append((ours.kind.value, ExchangeType(msg.exchange).name, answered))
            return answered
        return wrapped

    for kind, hook in list(dispatch.COLLIDE.items()):
        monkeypatch.setitem(dispatch.COLLIDE, kind, spy(hook))
    return calls


def expiry_index(side: Side) -> set[api.SaKey]:
    """The kernel SAs whose EXPIRE the core would take as its CHILD_SAs'."""
    return set(side.core._by_child_sa)


class _ForcedNonces:
    """The core's Rng, except that its next draws of ``len(nonce)`` bytes are ``nonces``."""

    def __init__(self, rng: Any, nonces: Sequence[bytes]) -> None:
        self._rng, self._nonces = rng, list(nonces)

    def random_bytes(self, n: int) -> bytes:
        if self._nonces and len(self._nonces[0]) == n:
            return self._nonces.pop(0)
        return bytes(self._rng.random_bytes(n))


def timer_entries(side: Side) -> list[tuple[float, Any]]:
    """The core's timer heap as (deadline, SA), stale entries included."""
    return [(deadline, sa) for deadline, _, sa in side.core._timers]


def force_nonces(side: Side, *nonces: bytes) -> None:
    """The side's next nonces (the draws of their length) are ``nonces``, in order: the RFC
    7296 §2.8 collision rules depend on them."""
    side.core.rng = _ForcedNonces(side.core.rng, nonces)


def nonce_size(side: Side) -> int:
    """The only IKE SA's nonce_size."""
    return int(_the_sa(side).peer.nonce_size)


def forget_children(side: Side) -> None:
    """The only IKE SA loses its CHILD_SAs silently, kernel SAs included (a peer that lost
    them, as after a crash of its kernel state)."""
    _the_sa(side).children.clear()
    side.kernel.sas.clear()


def set_life(side: Side, when: float) -> None:
    """The only IKE SA's lifetime ends at ``when``."""
    _the_sa(side).deadline_life = when


def refuse_child_offers(monkeypatch: pytest.MonkeyPatch, side: Side, kind: NotifyType,
                        times: int = 1) -> None:
    """``side`` answers its peer's next ``times`` CHILD_SA offers with the error ``kind``
    (as a responder whose policy or proposals do not fit answers)."""
    pick, left = child_sa.pick, [times]

    def refusing(sa: Any, *args: Any, **kwargs: Any) -> Any:
        if sa.host is side.core and left[0]:
            left[0] -= 1
            return notify(kind)
        return pick(sa, *args, **kwargs)

    monkeypatch.setattr(child_sa, "pick", refusing)


def refuse_answers(monkeypatch: pytest.MonkeyPatch, times: int = 1) -> None:
    """The initiator refuses the next ``times`` CREATE_CHILD_SA answers (their traffic
    selectors, as if outside its policy)."""
    accepts, left = childmod.initiator_accepts, [times]

    def refusing(*args: Any) -> bool:
        if left[0]:
            left[0] -= 1
            return False
        return bool(accepts(*args))

    monkeypatch.setattr(childmod, "initiator_accepts", refusing)


def retry_times(side: Side) -> list[float]:
    """When the only IKE SA's queued CHILD_SA rekeys may start (0: at once)."""
    return [t.not_before for t in _the_sa(side).tasks.queued if t.kind is Kind.REKEY_CHILD]


def mobike_of(side: Side) -> Any:
    """The only IKE SA's MOBIKE state."""
    return _the_sa(side).mobike


def mobike_reorder(side: Side, mid: int) -> list[int]:
    """Hand the only IKE SA an UPDATE_SA_ADDRESSES of message ID ``mid`` from 192.0.2.9 (as
    if reordered on the way): the notify types of its answer but COOKIE2."""
    sa = _the_sa(side)
    sa.arrived = (sa.local, replace(sa.remote, addr=ipaddress.ip_address("192.0.2.9")))
    msg = Message(sa.spi_i, sa.spi_r, ExchangeType.INFORMATIONAL, mid, ())
    inner = (notify(NotifyType.UPDATE_SA_ADDRESSES), notify(NotifyType.COOKIE2, b"c" * 8))
    return [p.type for p in mobike.informational(sa, msg, inner, 0.0)
            if p.type != NotifyType.COOKIE2]


def queue_rekey_retry(side: Side, not_before: float) -> None:
    """A rekey of the side's one CHILD_SA waiting for its retry, as a TEMPORARY_FAILURE
    leaves it (iked.ikev2.create_child)."""
    sa, old = _the_sa(side), _the_child(side)
    sa.tasks.want(Task(Kind.REKEY_CHILD, child=childmod.Child(old.settings, rekey_of=old),
                       old=old, not_before=not_before), not_before - 1)
