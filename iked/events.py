"""The vocabulary between iked's pure cores and its asyncio shell.

A core consumes datagrams, kernel events, request results and the time; it produces
:class:`Datagram` values to send, :class:`Request` values only the shell can perform (kernel
operations), and :class:`Event` values the shell logs and turns into hook runs.
"""

from __future__ import annotations

import enum
from dataclasses import field
from typing import TYPE_CHECKING

from iked.hooks import ChildEvent
from racoon2.frozen import frozen
from racoon2.ipsec import Mode
from racoon2.kernel.api import KernelOp
from racoon2.net import Address, Endpoint
from racoon2.spmif.commands import Migrate, PolicyAdd, PolicyDelete

if TYPE_CHECKING:  # RADIUS is imported where eap { method radius; } is used
    from racoon2.radius.access import Radius
    from racoon2.radius.packet import Attribute

Now = float  # monotonic seconds, always passed in


@frozen
class Datagram:
    """One IKE message to send (the shell adds the non-ESP marker on port 4500)."""

    data: bytes
    local: Endpoint
    remote: Endpoint


@frozen
class CheckPassword:
    """XAuth: whether ``password`` is ``user``'s in the users file ``users`` or PAM service
    ``pam`` (the remote's ``xauth { }``).  The shell checks it in a worker thread (a hash or
    PAM takes its time); the result is a bool."""

    remote_name: str
    users: str | None
    pam: str | None
    user: str
    password: bytes = field(repr=False)


@frozen
class RadiusAccess:
    """``eap { method radius; }``: one Access-Request with these attributes (EAP-Message,
    State, ...) to ``radius``'s servers; the result is a
    :class:`racoon2.radius.access.Answer` (or the Racoon2Error when no server answers)."""

    radius: Radius = field(repr=False)
    user: str
    attributes: tuple[Attribute, ...] = field(repr=False)


@frozen
class RadiusAccounting:
    """An Accounting-Request (RFC 2866) for a RADIUS-authenticated IKE SA; result None."""

    radius: Radius = field(repr=False)
    session: str
    attributes: tuple[Attribute, ...] = field(repr=False)


#: What a core asks the shell to do: a kernel operation, spmd's POLICY ADD/DELETE for the
#: policies of an IP_RW peer, an XAuth password check, or a RADIUS request.
Op = (KernelOp | PolicyAdd | PolicyDelete | Migrate | CheckPassword | RadiusAccess
      | RadiusAccounting)


@frozen
class Request:
    """A kernel operation for the shell; its result comes back through ``core.reply(id, …)``."""

    id: int
    op: Op


class DropReason(enum.Enum):
    """Why an incoming datagram was dropped; each is a counter in the core's status."""

    MALFORMED = "malformed message"
    UNKNOWN_SPI = "unknown IKE SPI"
    BAD_ICV = "integrity check failed"
    STALE = "stale or unexpected message ID"
    BUSY = "request still being answered"
    BAD_COOKIE = "missing or wrong cookie"
    UNEXPECTED = "message not valid in this state"
    NO_REMOTE = "no remote accepts this peer"
    HALF_OPEN = "too many half-open SAs"
    FRAGMENT = "IKE fragment refused"  # RFC 7383 reassembly bounds (iked.ikev2.fragments)


@frozen
class Event:
    """Base of everything a core reports."""


@frozen
class IkeSaUp(Event):
    """An IKE SA is established."""

    sa: str
    remote_name: str
    local: Endpoint
    remote: Endpoint
    initiator: bool
    rekey_of: str | None = None  # the IKE SA this one replaces (phase1_rekey)
    #: The key exchanges its keys come from, first (kmp_dh_group's) to last (RFC 9370).
    key_exchanges: tuple[str, ...] = ()
    #: The addresses we leased the peer (CFG_REPLY), IPv4 first.
    leases: tuple[Address, ...] = ()
    ppk: str | None = None  # the RFC 8784 PPK_ID its keys were mixed with
    #: The transform names of its suite (the weak ones are named in a warning).
    algorithms: tuple[str, ...] = ()


@frozen
class IkeSaDown(Event):
    """An IKE SA is gone."""

    sa: str
    remote_name: str
    local: Endpoint
    remote: Endpoint
    reason: str
    replaced: bool = False  # a rekey replaced it: no phase1_down
    leases: tuple[Address, ...] = ()  # what the peer was leased (now reserved for it)


@frozen
class AddressLeased(Event):
    """The responder's CFG_REPLY leased us ``addresses``: the shell puts them on the interface
    the route to ``remote`` leaves by, and takes them off when the IKE SA goes."""

    sa: str
    remote_name: str
    remote: Address
    addresses: tuple[Address, ...]


@frozen
class RemoteAccess(Event):
    """Gateway: one step of a client's XAuth or mode-config (IKEv1) or EAP (IKEv2); ``what``
    says which."""

    sa: str
    remote: Endpoint
    what: str
    kind: str = "ISAKMP SA"  # "IKE SA" for IKEv2's EAP


@frozen
class ProposalMatched(Event):
    """A remote with ``proposal_profile``: which set (a profile, or its own "configured"
    lists) accepted the client's offer for ``what`` (IKE SA or CHILD_SA), and the choice."""

    sa: str
    what: str
    profile: str
    chosen: str


@frozen
class ChildSaUp(Event):
    """A CHILD_SA's keys are negotiated and its SAs handed to the kernel."""

    sa: str
    policy: str
    selector: str
    mode: Mode
    spi_in: int
    spi_out: int
    local_ts: str
    remote_ts: str
    algorithms: str
    hook: ChildEvent
    rekey: bool = False  # it replaces an older CHILD_SA (phase2_rekey, not phase2_up)


@frozen
class ChildSaDown(Event):
    """A CHILD_SA was deleted."""

    sa: str
    policy: str
    spi_in: int
    spi_out: int
    reason: str
    hook: ChildEvent | None = None
    replaced: bool = False  # a rekey replaced it: no phase2_down


@frozen
class NatDetected(Event):
    """NAT detection found a NAT: IKE moves to port 4500 and ESP travels in UDP."""

    sa: str
    local_behind: bool
    peer_behind: bool


@frozen
class IkeSaMoved(Event):
    """MOBIKE (RFC 4555) moved an IKE SA and its CHILD_SAs to new endpoints; ``nat`` says
    where a NAT lies on the new path ("none", "this host", "the peer", "both")."""

    sa: str
    remote_name: str
    old_local: Endpoint
    old_remote: Endpoint
    local: Endpoint
    remote: Endpoint
    nat: str


@frozen
class RekeyCollision(Event):
    """Both ends rekeyed one SA at once (RFC 7296 §2.8.1, §2.8.2): which rekey the nonces made
    redundant, decided when our own CREATE_CHILD_SA is answered."""

    sa: str
    what: str                # "IKE SA" or "CHILD_SA of policy …"
    ours_redundant: bool
    #: Our redundant rekey had additional key exchanges to run: it stops before them (RFC
    #: 9370 §2.2.4).
    followups_dropped: bool = False


@frozen
class NegotiationFailed(Event):
    """A negotiation failed: what was received beside what is configured, in one place."""

    sa: str
    stage: str
    reason: str
    received: str = ""
    configured: str = ""


@frozen
class KernelFailed(Event):
    """A kernel operation the core asked for failed."""

    sa: str
    what: str
    error: str


@frozen
class InvalidSpiHint(Event):
    """An unprotected INVALID_IKE_SPI for one of our IKE SAs came from its peer's address:
    unauthenticated, so only a hint (RFC 7296 §2.21.4); a liveness check follows if the SA
    is up (``checking``), else it changes nothing (our Delete of it still waits for its answer,
    or the SA is not established yet)."""

    sa: str
    remote: Endpoint
    checking: bool = True


@frozen
class Dropped(Event):
    """An incoming datagram was dropped (also counted in the core's statistics)."""

    remote: Endpoint
    reason: DropReason
    detail: str = ""


def journal_fields(event: Event) -> dict[str, str | None]:
    """What ``journalctl IKE_SA=… PEER=… CHILD_SA=…`` finds an event's log line by: its IKE
    SA, the peer's address and the CHILD_SA's inbound SPI, those the event has."""
    remote = getattr(event, "remote", None)
    peer = remote.addr if isinstance(remote, Endpoint) else remote
    spi = getattr(event, "spi_in", None)
    return {"IKE_SA": getattr(event, "sa", None), "PEER": None if peer is None else str(peer),
            "CHILD_SA": None if spi is None else f"{spi:08x}"}
