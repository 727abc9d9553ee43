"""The vocabulary between iked's pure cores and its asyncio shell.

A core consumes datagrams, kernel events, request results and the time; it produces
:class:`Datagram` values to send, :class:`Request` values only the shell can perform (kernel
operations), and :class:`Event` values the shell logs and turns into hook runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from iked.hooks import ChildEvent
from racoon2.ipsec import Mode
from racoon2.kernel.api import KernelOp
from racoon2.net import Address, Endpoint
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

Now = float  # monotonic seconds, always passed in


@dataclass(frozen=True, slots=True)
class Datagram:
    """One IKE message to send (the shell adds the non-ESP marker on port 4500)."""

    data: bytes
    local: Endpoint
    remote: Endpoint


#: What a core asks the shell to do: a kernel operation, or spmd's POLICY ADD/DELETE for the
#: policies of an IP_RW peer.
Op = KernelOp | PolicyAdd | PolicyDelete


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything a core reports."""


@dataclass(frozen=True, slots=True)
class IkeSaUp(Event):
    """An IKE SA is established."""

    sa: str
    remote_name: str
    local: Endpoint
    remote: Endpoint
    initiator: bool
    rekey_of: str | None = None  # the IKE SA this one replaces (phase1_rekey)


@dataclass(frozen=True, slots=True)
class IkeSaDown(Event):
    """An IKE SA is gone."""

    sa: str
    remote_name: str
    local: Endpoint
    remote: Endpoint
    reason: str
    replaced: bool = False  # a rekey replaced it: no phase1_down


@dataclass(frozen=True, slots=True)
class AddressLeased(Event):
    """The responder's CFG_REPLY leased us ``addresses``: the shell puts them on the interface
    the route to ``remote`` leaves by, and takes them off when the IKE SA goes."""

    sa: str
    remote_name: str
    remote: Address
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class ChildSaDown(Event):
    """A CHILD_SA was deleted."""

    sa: str
    policy: str
    spi_in: int
    spi_out: int
    reason: str
    hook: ChildEvent | None = None
    replaced: bool = False  # a rekey replaced it: no phase2_down


@dataclass(frozen=True, slots=True)
class NatDetected(Event):
    """NAT detection found a NAT: IKE moves to port 4500 and ESP travels in UDP."""

    sa: str
    local_behind: bool
    peer_behind: bool


@dataclass(frozen=True, slots=True)
class NegotiationFailed(Event):
    """A negotiation failed: what was received beside what is configured, in one place."""

    sa: str
    stage: str
    reason: str
    received: str = ""
    configured: str = ""


@dataclass(frozen=True, slots=True)
class KernelFailed(Event):
    """A kernel operation the core asked for failed."""

    sa: str
    what: str
    error: str


@dataclass(frozen=True, slots=True)
class Dropped(Event):
    """An incoming datagram was dropped (also counted in the core's statistics)."""

    remote: Endpoint
    reason: DropReason
    detail: str = ""
