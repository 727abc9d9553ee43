"""One ISAKMP SA (phase 1) and the IPsec SAs negotiated under it (pure).

The SA holds what its exchanges share: cookies, the agreed suite and keys, the Quick Mode
tasks by message ID, the IPsec SAs (IKEv2's :class:`~iked.ikev2.child.Child`: settings, SPIs
and kernel SAs), and the retransmission of its own last phase 1 message.  The exchanges are
modules of their own (``main_mode``, ``aggressive``, ``quick_mode``, ``informational``) that
:mod:`iked.ikev1.dispatch` calls by (exchange, role, state).
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from iked import ipsec_sas
from iked.events import ChildSaDown, Event, IkeSaDown, KernelFailed, NegotiationFailed, Now, Op
from iked.ikev1.dpd import PeerProbes, Prober
from iked.ikev1.keys import Phase1Keys
from iked.ikev1.natt import NatStatus, Variant
from iked.ikev1.proposals import Phase1Algorithms
from iked.ikev1.settings import Phase1Settings
from iked.ikev2.child import Child, hook_event, rw_policies
from iked.ikev2.settings import ChildSettings
from iked.ikev2.window import Schedule
from iked.queues import Continue
from racoon2.crypto.dh import Exchange
from racoon2.crypto.rng import Rng
from racoon2.errors import Racoon2Error
from racoon2.ikev1.payloads import Identification
from racoon2.kernel import api
from racoon2.net import Address, Endpoint
from racoon2.spmif.commands import PolicyDelete

if TYPE_CHECKING:
    from iked.ikev1.quick_mode import QuickTask
    from iked.ikev1.remote_access import Access

#: Message IDs an ISAKMP SA remembers to tell replays by: bounded memory per SA, more than
#: its Quick Modes, Informationals and DPD probes over a day's lifetime at usual rates (a
#: replay older than that many exchanges is taken as new, and fails its Quick Mode at HASH(3)).
MIDS_KEPT = 1024

class State(enum.Enum):
    """Where an ISAKMP SA stands; ``I``/``R`` name the role, the number the last message."""

    MM_I1 = "main mode: SA sent"
    MM_I3 = "main mode: KE sent"
    MM_I5 = "main mode: ID sent"
    MM_R2 = "main mode: SA answered"
    MM_R4 = "main mode: KE answered"
    AM_I1 = "aggressive mode: SA, KE, ID sent"
    AM_R2 = "aggressive mode: answered"
    ESTABLISHED = "established"
    DEAD = "dead"


class Host(Protocol):
    """What an SA needs from its core."""

    rng: Rng

    counters: collections.Counter[str]  # retransmissions (ikedctl stats)

    def send(self, sa: IsakmpSa, data: bytes) -> None: ...
    def request(self, sa: IsakmpSa, op: Op, then: Continue) -> None: ...
    def emit(self, event: Event) -> None: ...
    def children(self, remote: str) -> Sequence[ChildSettings]: ...
    def established(self, sa: IsakmpSa, now: Now) -> None: ...
    def first_contact(self, sa: IsakmpSa) -> bool: ...
    def initial_contact(self, sa: IsakmpSa, now: Now) -> None: ...
    def peer_deleted(self, sa: IsakmpSa, now: Now) -> None: ...


@dataclass
class Resend:
    """Our last message of one exchange, sent again on the remote's schedule until the
    peer's next message comes (RFC 2408 §5: the sender of a lost message retransmits)."""

    packet: bytes
    schedule: Schedule
    deadline: float
    attempt: int = 0

    def due(self, now: Now) -> bytes | bool | None:
        """At the deadline: the packet again, False when the retries are exhausted."""
        if now < self.deadline:
            return None
        if self.attempt >= self.schedule.max_retry:
            return False
        self.attempt += 1
        self.deadline = now + self.schedule.wait(self.attempt)
        return self.packet


@dataclass(eq=False)
class IsakmpSa:
    """One ISAKMP SA with one peer."""

    host: Host
    settings: Phase1Settings
    local: Endpoint
    remote: Endpoint
    initiator: bool
    cookie_i: bytes
    born: Now
    cookie_r: bytes = bytes(8)
    state: State = State.MM_I1
    algs: Phase1Algorithms | None = None
    keys: Phase1Keys | None = None
    dh: Exchange | None = None
    g_xi: bytes = b""
    g_xr: bytes = b""
    ni: bytes = b""
    nr: bytes = b""
    sai_b: bytes = b""                  # the initiator's SA payload body (RFC 2409 §5)
    lifetime: int = 0                   # agreed phase 1 seconds (0: none)
    peer_id: tuple[int, bytes] | None = None
    peer_ident: Identification | None = None  # aggressive mode: the initiator's, from AM1
    peer_vendor_ids: tuple[bytes, ...] = ()
    resend: Resend | None = None
    #: The peer's last message and our answer to it: the same message again is answered
    #: again, unprocessed (its IV chain has moved on).
    last_in: bytes = b""
    last_out: bytes = b""
    children: list[Child] = field(default_factory=list)
    #: Policies to negotiate once phase 1 is up (the initiator's ACQUIREs meanwhile).
    pending: list[ChildSettings] = field(default_factory=list)
    quick: dict[int, QuickTask] = field(default_factory=dict)  # by message ID
    #: The message IDs of the Quick Modes and Informationals under this SA, either end's,
    #: oldest first, at most MIDS_KEPT: one seen again is a replay (RFC 2408 §3.1, each
    #: phase 2 exchange has its own), dropped once its task has stopped lingering.
    mids: dict[int, None] = field(default_factory=dict)
    #: Rekeyed IPsec SAs whose inbound SAs stay until then (:meth:`remove_child`).
    retiring: list[tuple[Now, Child]] = field(default_factory=list)
    rekey_of: IsakmpSa | None = None    # the ISAKMP SA this one replaces
    replaced: bool = False
    #: A new phase 1 replaced this one: when it is deleted (iked.ikev1.core.RETIRE_DELAY).
    retire_at: Now | None = None
    #: NAT-T (iked.ikev1.nat_exchange): the variant spoken, what NAT-D said, the next
    #: keepalive, and the endpoints of the message being processed.
    nat_variant: Variant | None = None
    nat: NatStatus | None = None
    keepalive_at: Now | None = None
    arrived: tuple[Endpoint, Endpoint] | None = None
    #: DPD (iked.ikev1.dpd_exchange): our probes, and the peer's last answered.
    prober: Prober | None = None
    peer_probes: PeerProbes = field(default_factory=PeerProbes)
    #: The gateway's XAuth and mode-config with this client (iked.ikev1.remote_access).
    access: Access | None = None
    leased: Address | None = None       # the address mode-config gave the client
    lease_pool: str = ""                # the addresspool it came from
    filed: bytes = b""                  # the key of the core's table it is under now
    origin: Endpoint | None = None      # a responder's: where the first message came from
    established_at: Now | None = None   # phase 1 done (ikedctl)

    def leases(self) -> tuple[Address, ...]:
        """What the phase2 hooks report as INTERNAL_ADDR (the mode-config lease)."""
        return (self.leased,) if self.leased is not None else ()

    @property
    def name(self) -> str:
        """``cookie_i:cookie_r`` for logs and events."""
        return f"{self.cookie_i.hex()}:{self.cookie_r.hex()}"

    @property
    def cookies(self) -> bytes:
        """CKY-I | CKY-R, the ISAKMP SA's SPI in Delete and Notification (RFC 2408 §3.15)."""
        return self.cookie_i + self.cookie_r

    def new_mid(self) -> int:
        """A fresh message ID for a Quick Mode or Informational of ours, remembered."""
        mid = 0
        while mid == 0 or mid in self.quick or mid in self.mids:
            mid = int.from_bytes(self.host.rng.random_bytes(4), "big")
        self.remember_mid(mid)
        return mid

    def remember_mid(self, mid: int) -> None:
        """``mid`` is used: a message under it again is a replay."""
        self.mids[mid] = None
        if len(self.mids) > MIDS_KEPT:
            del self.mids[next(iter(self.mids))]

    def move(self, state: State) -> None:
        """Enter ``state``."""
        self.state = state

    def transmit(self, packet: bytes, now: Now, answer_to: bytes = b"") -> None:
        """Send our next phase 1 message and retransmit it until the peer moves on; an
        answer also becomes the reply to a repeat of ``answer_to``."""
        self.host.send(self, packet)
        self.resend = Resend(packet, self.settings.schedule,
                             now + self.settings.schedule.wait(0))
        if answer_to:
            self.last_in, self.last_out = answer_to, packet

    def deadline(self) -> Now | None:
        """The earliest time the SA must run: a retransmission, a Quick Mode's, its
        lifetime's."""
        times = [t for t in (self.resend.deadline if self.resend else None,
                             *(q.deadline() for q in self.quick.values()),
                             self.rekey_at(), self.expires_at(), self.keepalive_at,
                             self.retire_at,
                             self.prober.deadline if self.prober else None,
                             self.access.deadline() if self.access else None,
                             *(until for until, _ in self.retiring))
                 if t is not None]
        return min(times) if times else None

    def expires_at(self) -> Now | None:
        """When the phase 1 lifetime ends."""
        return self.born + self.lifetime if self.lifetime and \
            self.state is State.ESTABLISHED else None

    def rekey_at(self) -> Now | None:
        """When the original initiator begins the phase 1 that replaces this one (at 90 %
        of the lifetime, so that it is up before this one ends)."""
        if not self.lifetime or not self.initiator or self.replaced or \
                self.state is not State.ESTABLISHED:
            return None
        return self.born + self.lifetime * 0.9

    # -- the end ------------------------------------------------------------------------------

    def remove_child(self, c: Child, reason: str, notify: bool = True,
                     inbound_until: Now | None = None) -> None:
        """Take ``c``'s kernel SAs away and report it (``notify``: a ChildSaDown event).
        With ``inbound_until`` (a rekey's make-before-break) only the outbound SAs go now:
        the peer may still send on the old inbound SA until it has processed our HASH(3) or
        Delete, so that one stays until then (:meth:`release_retired`)."""
        if c in self.children:
            self.children.remove(c)
        if c.settings.rw and c.negotiated is not None and not c.replaced:
            where = ipsec_sas.ends(c.settings, self.local.addr, self.remote.addr)
            for selector, _, mode, src, dst, sa_src, sa_dst in rw_policies(
                    c.settings, where.me, where.peer):
                self.host.request(self, PolicyDelete(selector, mode, src, dst, sa_src, sa_dst),
                                  self._deleted(f"have spmd delete the policies of {selector}"))
        specs = c.negotiated.specs if c.negotiated else ()
        if inbound_until is not None and c.negotiated is not None:
            specs = c.negotiated.outbound_specs
            self.retiring.append((inbound_until, c))
        for spec in specs:
            self.host.request(self, api.DelSa(spec.key), self._deleted(f"delete SA {spec.key}"))
        if notify and c.negotiated is not None:
            self.host.emit(ChildSaDown(self.name, c.settings.policy, c.spi_in, c.spi_out,
                                       reason, hook_event(c, (self.local.addr,
                                                              self.remote.addr),
                                                          self.leases()),
                                       c.replaced))

    def release_retired(self, now: Now | None) -> None:
        """Delete the inbound SAs of rekeyed IPsec SAs whose time is up (all: ``now`` None)."""
        keep = []
        for until, c in self.retiring:
            if now is not None and now < until:
                keep.append((until, c))
            elif c.negotiated is not None:
                for spec in c.negotiated.inbound_specs:
                    self.host.request(self, api.DelSa(spec.key),
                                      self._deleted(f"delete SA {spec.key}"))
        self.retiring = keep

    def _deleted(self, what: str) -> Continue:
        def check(result: object, now: Now) -> None:
            # Gone already (its hard lifetime) is fine: it is what we wanted.
            if isinstance(result, Racoon2Error) and "No such" not in str(result):
                self.host.emit(KernelFailed(self.name, what, str(result)))
        return check

    def die(self, reason: str, keep_children: bool = False) -> None:
        """End the SA (no message); its IPsec SAs go too unless a new SA took them."""
        if self.state is State.DEAD:
            return
        established = self.state is State.ESTABLISHED
        if not keep_children:
            for c in list(self.children):
                self.remove_child(c, reason)
        self.release_retired(None)
        self.move(State.DEAD)
        self.resend = None
        self.quick.clear()
        if established:
            # As the original (daemons.md §7): every ISAKMP SA that ends is a phase1_down,
            # a replaced one too, and its successor a phase1_up.
            self.host.emit(IkeSaDown(self.name, self.settings.remote, self.local, self.remote,
                                     reason))

    def fail(self, stage: str, reason: str) -> None:
        """A negotiation failed: report it and end the SA."""
        self.host.emit(NegotiationFailed(self.name, stage, reason))
        self.die(f"{stage} failed: {reason}")
