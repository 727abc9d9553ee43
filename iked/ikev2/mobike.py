"""MOBIKE, RFC 4555 (pure): an IKE SA and its CHILD_SAs move to new addresses.

Both sides announce MOBIKE_SUPPORTED in IKE_AUTH (§3.2; the responder only when the initiator
did); from then on the initiator alone decides which addresses the SA uses (§3.1) and tells
the responder with an INFORMATIONAL carrying UPDATE_SA_ADDRESSES, NAT detection for the new
path and a COOKIE2 (§3.5, §3.7).  The responder believes the addresses of that request, which
the SK payload authenticates whatever address it came from, and nothing else: with MOBIKE the
dynamic address update of RFC 7296 §2.23 is not done (§3.8) (:func:`iked.ikev2.dispatch.receive`).
Only the latest request moves the SA (§3.6: by message ID).  Moving the CHILD_SAs is
:func:`relocate`: spmd migrates the policies and the kernel the SAs with them (spmif MIGRATE,
XFRM_MSG_MIGRATE: the replay counters stay); new NAT ports are set with UPDSA, and a NAT that
appears or goes (ESP-in-UDP on or off, which MIGRATE does not change) rekeys the CHILD_SAs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from iked.events import IkeSaMoved, KernelFailed, NegotiationFailed, Now
from iked.ikev2 import create_child
from iked.ikev2.child import Negotiated
from iked.ikev2.common import notify
from iked.ikev2.nat import nat_notifies, nat_seen
from iked.ikev2.sa import NAT_KEEPALIVE
from iked.ikev2.tasks import Kind, Task
from iked.queues import Continue
from racoon2.errors import Racoon2Error
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import Notify, Payload
from racoon2.kernel import api
from racoon2.net import Address, Endpoint
from racoon2.spmif.commands import Migrate

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa

#: COOKIE2 is 8 to 64 octets (§4.2.5); ours are 16 random ones.
COOKIE2_SIZE = 16


@dataclass
class Mobility:
    """An IKE SA's MOBIKE state, once both peers announced MOBIKE_SUPPORTED."""

    #: The peer's other addresses (ADDITIONAL_IP4/6_ADDRESS, §3.6), the latest list.
    peer_addresses: tuple[Address, ...] = ()
    #: The peer said NO_ADDITIONAL_ADDRESSES (its one address is all it has).
    no_additional: bool = False
    #: The message ID of the last UPDATE_SA_ADDRESSES that moved the SA (§3.6).
    last_update: int = -1
    #: Our COOKIE2 in flight (initiator), which the answer must echo (§3.7).
    cookie2: bytes = b""


def offer(sa: IkeSa) -> list[Payload]:
    """The initiator's IKE_AUTH request: MOBIKE_SUPPORTED when ``mobike`` is on."""
    return [notify(NotifyType.MOBIKE_SUPPORTED)] if sa.peer.mobike else []


def negotiate(sa: IkeSa, inner: tuple[Payload, ...]) -> None:
    """The peer's IKE_AUTH (request or response): MOBIKE is used when both announced it."""
    if sa.peer.mobike and _notes(inner).get(NotifyType.MOBIKE_SUPPORTED) is not None:
        sa.mobike = Mobility()
        _note_addresses(sa.mobike, inner)


def answer(sa: IkeSa) -> list[Payload]:
    """The responder's IKE_AUTH response: MOBIKE_SUPPORTED when MOBIKE is agreed."""
    return [notify(NotifyType.MOBIKE_SUPPORTED)] if sa.mobike is not None else []


def _notes(inner: tuple[Payload, ...]) -> dict[int, bytes]:
    return {p.type: p.data for p in inner if isinstance(p, Notify)}


def _note_addresses(m: Mobility, inner: tuple[Payload, ...]) -> None:
    """§3.6: a message with ADDITIONAL_IP4/6_ADDRESS or NO_ADDITIONAL_ADDRESSES replaces the
    list; one with neither leaves it."""
    found: list[Address] = []
    for p in inner:
        if isinstance(p, Notify) and p.type in (NotifyType.ADDITIONAL_IP4_ADDRESS,
                                                NotifyType.ADDITIONAL_IP6_ADDRESS):
            if len(p.data) in (4, 16):
                found.append(ipaddress.ip_address(p.data))
    none = any(isinstance(p, Notify) and p.type == NotifyType.NO_ADDITIONAL_ADDRESSES
               for p in inner)
    if found or none:
        m.peer_addresses, m.no_additional = tuple(found), none and not found


def informational(sa: IkeSa, msg: Message, inner: tuple[Payload, ...],
                  now: Now) -> list[Payload]:
    """The MOBIKE part of our answer to the peer's INFORMATIONAL request: COOKIE2 echoed
    (§3.7, in any INFORMATIONAL), the peer's address list noted (§3.6), UPDATE_SA_ADDRESSES
    answered by moving the SA to the path it came on (§3.5), and NAT detection answered
    whenever asked (§3.8), for the path the SA uses then."""
    notes = _notes(inner)
    out: list[Payload] = []
    cookie2 = notes.get(NotifyType.COOKIE2)
    if cookie2 is not None:
        out.append(notify(NotifyType.COOKIE2, cookie2))
    m = sa.mobike
    if m is None:
        return out
    _note_addresses(m, inner)
    # Only the latest request moves the SA: one reordered behind a later one is old news.
    if NotifyType.UPDATE_SA_ADDRESSES in notes and sa.arrived is not None and \
            msg.message_id > m.last_update:
        m.last_update = msg.message_id
        local, remote = sa.arrived
        relocate(sa, local, remote, nat_seen(sa, inner, sa.spi_r, local, remote), now)
    if sa.peer.nat_traversal and NotifyType.NAT_DETECTION_SOURCE_IP in notes:
        out += nat_notifies(sa, sa.spi_r)
    return out


def relocate(sa: IkeSa, local: Endpoint, remote: Endpoint, nat: tuple[bool, bool] | None,
             now: Now) -> None:
    """Move ``sa`` to ``local`` <-> ``remote`` with ``nat`` = (a NAT in front of us, one in
    front of the peer) from NAT detection on that path (None: none done, no NAT): the IKE
    SA's ends, then each CHILD_SA whose SA ends are the IKE SA's (tunnel ends fixed by
    ``my_sa_ipaddr``/``peers_sa_ipaddr`` stay)."""
    old_local, old_remote = sa.local, sa.remote
    old_udp = _udp(sa)
    before = [(c, sa.ends(c)) for c in sa.children if c.negotiated is not None]
    sa.local, sa.remote = local, remote
    sa.behind_nat, peer_behind = nat or (False, False)
    sa.nat = sa.behind_nat or peer_behind
    sa.deadline_keepalive = now + NAT_KEEPALIVE if sa.behind_nat else None
    udp = _udp(sa)
    # One MIGRATE per policy and path.  For each entry the kernel moves the first SA it finds
    # between the old ends with the reqid: the newest (XFRM inserts at the head of its hash
    # chain).  So only the policy's newest CHILD_SA moves; an older one (the old half of a
    # rekey, or a duplicate, on its way out) keeps its ends, where its Delete finds its SAs,
    # and a second MIGRATE for it would find the templates moved and be refused by spmd.
    migrations: set[Migrate] = set()
    for c, (me0, peer0) in reversed(before):
        me, peer = sa.ends(c)
        if (me, peer) != (me0, peer0):
            if not c.settings.tunnel:
                # A transport-mode CHILD_SA's selectors are the addresses: it cannot move.
                sa.host.emit(KernelFailed(sa.name, f"move the transport-mode CHILD_SA of "
                                          f"policy {c.settings.policy}", "MOBIKE moves tunnel-mode "
                                          "SAs only (RFC 4555)"))
                continue
            migration = Migrate(c.settings.selector, me0, peer0, me, peer)
            if migration in migrations:
                continue
            migrations.add(migration)
            sa.host.request(sa, migration, _reported(
                sa, f"migrate the SAs of policy {c.settings.policy} "
                    f"from {me0} <=> {peer0} to {me} <=> {peer}"))
        assert c.negotiated is not None
        c.negotiated = _moved(c.negotiated, me, peer, udp)
        if (old_udp is None) != (udp is None):
            create_child.start_rekey(sa, c, now)  # ESP-in-UDP on or off: new SAs
        elif udp != old_udp:
            # The NAT's ports changed: UPDSA sets the new ones on the migrated SAs.
            for spec in c.negotiated.specs:
                if spec.encap is not None:
                    sa.host.request(sa, api.UpdateSa(spec), _reported(
                        sa, f"set the NAT ports of SA spi 0x{spec.spi:08x}"))
    if (old_local, old_remote) != (local, remote):
        where = " and ".join(w for w, b in (("this host", sa.behind_nat),
                                            ("the peer", peer_behind)) if b)
        sa.host.emit(IkeSaMoved(sa.name, sa.peer.remote, old_local, old_remote, local, remote,
                                where or "none"))


def _udp(sa: IkeSa) -> tuple[int, int] | None:
    return (sa.local.port, sa.remote.port) if sa.nat else None


def _moved(neg: Negotiated, me: Address, peer: Address,
           udp: tuple[int, int] | None) -> Negotiated:
    """``neg`` with its SAs between ``me`` and ``peer`` (ESP in UDP on ``udp``)."""
    def move(spec: api.SaSpec, inbound: bool) -> api.SaSpec:
        ports = (udp[::-1] if inbound else udp) if udp else None
        encap = spec.encap
        if spec.proto is api.Proto.ESP:
            encap = api.Encap(*ports) if ports else None
        src, dst = (peer, me) if inbound else (me, peer)
        return replace(spec, src=src, dst=dst, encap=encap)
    comp = (move(neg.ipcomp[0], True), move(neg.ipcomp[1], False)) if neg.ipcomp else None
    return replace(neg, inbound=move(neg.inbound, True), outbound=move(neg.outbound, False),
                   ipcomp=comp)


def _reported(sa: IkeSa, what: str) -> Continue:
    def done(result: object, now: Now) -> None:
        if isinstance(result, Racoon2Error):
            sa.host.emit(KernelFailed(sa.name, what, str(result)))
    return done


# -- initiator ---------------------------------------------------------------------------------


def roam(sa: IkeSa, local: Address, now: Now) -> bool:
    """Our address of ``sa`` went away: move it to ``local`` (UPDATE_SA_ADDRESSES when the
    window lets us); False when MOBIKE is not used or we are not the SA's initiator (§3.1:
    the initiator decides)."""
    if sa.mobike is None or not sa.initiator or local == sa.local.addr:
        return False
    sa.tasks.want(Task(Kind.UPDATE_ADDRESSES, reason=str(local)), now)
    return True


def start_update(sa: IkeSa, task: Task, now: Now) -> bool:
    """Send UPDATE_SA_ADDRESSES from the new address (task.reason): the IKE SA's messages,
    this one's retransmissions too, go from there at once (§3.5); the CHILD_SAs follow when
    the answer comes."""
    m = sa.mobike
    if m is None or not task.reason:
        return False
    addr = ipaddress.ip_address(task.reason)
    task.old_ends = (sa.local, sa.remote)
    # IKE stays on its port: 4500 from IKE_AUTH on with NAT traversal (RFC 4555 §3.2).
    sa.local = Endpoint(addr, sa.local.port)
    m.cookie2 = sa.host.rng.random_bytes(COOKIE2_SIZE)
    inner: list[Payload] = [notify(NotifyType.UPDATE_SA_ADDRESSES)]
    if sa.peer.nat_traversal:
        inner += nat_notifies(sa, sa.spi_r)
    inner.append(notify(NotifyType.COOKIE2, m.cookie2))
    sa.tasks.request(task, ExchangeType.INFORMATIONAL, tuple(inner), now)
    return True


def on_update_response(sa: IkeSa, task: Task, inner: tuple[Payload, ...], now: Now) -> None:
    """The answer to our UPDATE_SA_ADDRESSES: its COOKIE2 must be ours (§3.7), its NAT
    detection tells how the CHILD_SAs travel now."""
    m = sa.mobike
    if m is None or task.old_ends is None:
        return
    notes = _notes(inner)
    if notes.get(NotifyType.COOKIE2) != m.cookie2:
        sa.fail("UPDATE_SA_ADDRESSES", "the answer does not echo our COOKIE2 (RFC 4555 §3.7)")
        return
    m.cookie2 = b""
    _note_addresses(m, inner)
    local, remote = sa.local, sa.remote
    sa.local, sa.remote = task.old_ends
    if NotifyType.UNACCEPTABLE_ADDRESSES in notes:
        sa.host.emit(NegotiationFailed(sa.name, "UPDATE_SA_ADDRESSES",
                                       "the peer refused our new address",
                                       "UNACCEPTABLE_ADDRESSES", str(local.addr)))
        return
    relocate(sa, local, remote, nat_seen(sa, inner, sa.spi_r, local, remote), now)
