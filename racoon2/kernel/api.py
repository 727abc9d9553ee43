"""The one kernel interface iked, kinkd and spmd use, whatever the backend.

Everything here is data: frozen dataclasses describing SAs, policies, events and operations, the
:class:`KernelBackend` protocol the netlink XFRM, PF_KEYv2 and in-memory backends implement, and
:func:`perform`, which runs a :data:`KernelOp` value against a backend (cores emit ops as data;
shells perform them).

Conventions shared by every backend:

* Algorithms are named by their Linux crypto API names ("cbc(aes)", "hmac(sha256)",
  "rfc4106(gcm(aes))", "rfc7539esp(chacha20,poly1305)"); keys are explicit bytes and the ICV or
  truncation length is always explicit, never a kernel default (the kernel's default for
  "hmac(sha256)" is 96 bits, RFC 4868 says 128).  A PF_KEY backend maps names to SADB ids.
* A lifetime limit of 0 means "no limit".
* Ownership: a policy belongs to an :class:`Owner` when its kernel priority lies in that owner's
  band, ``OWNER_BAND | owner << 16 | priority`` (see :func:`kernel_priority`); an SA belongs to
  an owner when its reqid is used by a template of one of that owner's policies.  spmd relies on
  this to reconcile what it installed with what it wants after a restart.
* Failures raise :class:`~racoon2.errors.KernelError` with the operation, the SA or policy it
  concerns (``str()`` of the key) and the errno when the kernel gave one.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import field
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from racoon2.errors import KernelError
from racoon2.frozen import frozen
from racoon2.ipsec import Direction, Level, Mode
from racoon2.net import Address, Prefix

__all__ = [
    "Acquire",
    "Aead",
    "AddPolicy",
    "AddSa",
    "AllocSpi",
    "Capabilities",
    "Cipher",
    "DelPolicy",
    "DelSa",
    "Direction",
    "Encap",
    "Expire",
    "GetSa",
    "Integrity",
    "KernelBackend",
    "KernelError",
    "KernelEvent",
    "KernelOp",
    "Level",
    "Lifetime",
    "LifetimeCurrent",
    "Mapping",
    "Mark",
    "Migrate",
    "MigrateEntry",
    "MigrateEvent",
    "Migration",
    "Mode",
    "OWNER_BAND",
    "Owner",
    "PolicyExpire",
    "PolicyInfo",
    "PolicyKey",
    "PolicySpec",
    "Proto",
    "SaInfo",
    "SaKey",
    "SaSpec",
    "SaStats",
    "Selector",
    "Template",
    "UpdatePolicy",
    "UpdateSa",
    "Verdict",
    "XFRM_DIRECTIONS",
    "XFRM_MODES",
    "direction_of_xfrm",
    "kernel_priority",
    "mode_of_xfrm",
    "owner_of_priority",
    "perform",
]


class Proto(enum.IntEnum):
    """IPsec protocols, by IP protocol number."""

    ESP = 50
    AH = 51
    IPCOMP = 108


#: XFRM's numbers for the shared words (xfrm_user_tmpl.mode, xfrm_userpolicy_info.dir); the
#: in-memory backend numbers its policy indexes the same way.
XFRM_MODES: Final = MappingProxyType({Mode.TRANSPORT: 0, Mode.TUNNEL: 1})
XFRM_DIRECTIONS: Final = MappingProxyType({
    Direction.INBOUND: 0, Direction.OUTBOUND: 1, Direction.FORWARD: 2})
#: How a policy key names its direction in messages (``policy out …``).
_DIRECTION_WORDS: Final = MappingProxyType({
    Direction.INBOUND: "in", Direction.OUTBOUND: "out", Direction.FORWARD: "fwd"})



def mode_of_xfrm(number: int) -> Mode:
    """The mode XFRM numbers ``number`` (:class:`ValueError` when none)."""
    for mode, n in XFRM_MODES.items():
        if n == number:
            return mode
    raise ValueError(f"{number} is not an XFRM mode")


def direction_of_xfrm(number: int) -> Direction:
    """The direction XFRM numbers ``number`` (:class:`ValueError` when none)."""
    for direction, n in XFRM_DIRECTIONS.items():
        if n == number:
            return direction
    raise ValueError(f"{number} is not an XFRM policy direction")


class Verdict(enum.IntEnum):
    """What a kernel policy does with matching traffic (XFRM_POLICY_ALLOW / _BLOCK); a
    configured policy's :class:`~racoon2.ipsec.Action` comes down to one of these."""

    ALLOW = 0
    BLOCK = 1


class Owner(enum.IntEnum):
    """Who installed a policy; encoded in the kernel priority band (see module docstring)."""

    SPMD = 1
    IKED = 2
    KINKD = 3
    TESTS = 0xEE


#: Base of the kernel priority band of our policies ('R' in the top byte).  Lower priority
#: values win in the kernel, so an admin's hand-made policy (priority 0 by default) or another
#: daemon's (strongSwan uses values below 2**20) takes precedence over ours.
OWNER_BAND = 0x52000000


def spi_band(owner: Owner) -> tuple[int, int]:
    """The inbound ESP/AH SPIs ``owner`` allocates (ALLOCSPI's range): the policies' 'R' band
    with the owner above the low 20 bits, 0x52200000-0x522fffff for iked.  XFRM SAs have no
    owner field; the SPI marks them without changing which packets they take, so a restarted
    daemon finds exactly its own (doc/design.md, "iked: kernel SAs after a crash").  The band
    lies outside strongSwan's default 0xc0000000-0xcfffffff, and each daemon's apart from
    the other's, so neither ever takes another's SA for its own.  A million SPIs per daemon
    are far more than the SAs it holds at once; ALLOCSPI picks at random within the band."""
    base = OWNER_BAND | owner << 20
    return base, base | 0xFFFFF
_OWNER_BAND_MASK = 0xFF000000


def kernel_priority(owner: Owner, priority: int) -> int:
    """The kernel priority for a policy of ``owner`` with relative ``priority`` (0..65535)."""
    if not 0 <= priority <= 0xFFFF:
        raise ValueError(f"policy priority {priority} is outside 0..65535")
    return OWNER_BAND | (int(owner) << 16) | priority


def owner_of_priority(prio: int) -> tuple[Owner, int] | None:
    """(owner, relative priority) when ``prio`` lies in our band, else None (not ours)."""
    if prio & _OWNER_BAND_MASK != OWNER_BAND:
        return None
    try:
        owner = Owner((prio >> 16) & 0xFF)
    except ValueError:
        return None
    return owner, prio & 0xFFFF


@frozen
class Selector:
    """Traffic a policy or SA applies to.  proto 0 and ports 0 mean any.

    For ICMP (proto 1) and ICMPv6 (58), ``sport`` carries the type and ``dport`` the code, as in
    the kernel.  ``ifindex`` 0 means any interface.
    """

    src: Prefix
    dst: Prefix
    proto: int = 0
    sport: int = 0
    dport: int = 0
    ifindex: int = 0

    def __str__(self) -> str:
        def side(p: Prefix, port: int) -> str:
            return f"{p}[{port}]" if port else f"{p}[any]"

        proto = "any" if self.proto == 0 else str(self.proto)
        return f"{side(self.src, self.sport)} -> {side(self.dst, self.dport)} proto {proto}"


@frozen
class Mark:
    """An XFRM mark: packets match when ``skb->mark & mask == value``."""

    value: int
    mask: int = 0xFFFFFFFF


@frozen
class Cipher:
    """An ESP cipher, e.g. Cipher("cbc(aes)", key).  "ecb(cipher_null)" takes an empty key."""

    name: str
    key: bytes = field(repr=False)


@frozen
class Integrity:
    """An integrity algorithm with its truncation length in bits, always explicit."""

    name: str
    key: bytes = field(repr=False)
    trunc_bits: int


@frozen
class Aead:
    """An AEAD: key includes the salt (4 bytes GCM/ChaCha20, 3 bytes CCM); ICV bits explicit."""

    name: str
    key: bytes = field(repr=False)
    icv_bits: int


@frozen
class Encap:
    """ESP-in-UDP (RFC 3948): ``type`` 2 is UDP_ENCAP_ESPINUDP; ``oa`` the original address."""

    sport: int
    dport: int
    type: int = 2
    oa: Address | None = None


@frozen
class Lifetime:
    """Soft and hard limits; 0 means no limit.  Times in seconds."""

    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_packets: int = 0
    hard_packets: int = 0
    soft_add_seconds: int = 0
    hard_add_seconds: int = 0
    soft_use_seconds: int = 0
    hard_use_seconds: int = 0


@frozen
class LifetimeCurrent:
    """What an SA or policy has used: bytes, packets, and add/first-use times (epoch seconds)."""

    bytes: int = 0
    packets: int = 0
    add_time: int = 0
    use_time: int = 0


@frozen
class SaKey:
    """Identifies an SA: the kernel looks it up by (dst, proto, spi, mark); src is for PF_KEY."""

    src: Address
    dst: Address
    proto: Proto
    spi: int
    mark: Mark | None = None

    def __str__(self) -> str:
        return f"SA {self.proto.name} spi 0x{self.spi:08x} {self.src} -> {self.dst}"


@frozen
class SaSpec:
    """Everything needed to install one SA.  Exactly one of cipher(+integrity), aead, integrity
    alone (AH or ESP-null-integrity), or compression (IPComp) is set."""

    src: Address
    dst: Address
    proto: Proto
    spi: int
    mode: Mode = Mode.TRANSPORT
    reqid: int = 0
    cipher: Cipher | None = None
    integrity: Integrity | None = None
    aead: Aead | None = None
    compression: str | None = None
    encap: Encap | None = None
    lifetime: Lifetime = Lifetime()
    replay_window: int = 32
    esn: bool = False
    mark: Mark | None = None
    if_id: int = 0
    selector: Selector | None = None
    #: sequence number of the ACQUIRE this SA answers (0: none); PF_KEY's sadb_msg_seq.
    acquire_seq: int = 0

    @property
    def key(self) -> SaKey:
        """The key that identifies this SA."""
        return SaKey(self.src, self.dst, self.proto, self.spi, self.mark)


@frozen
class SaStats:
    """Replay and integrity counters of an installed SA."""

    replay_window: int = 0
    replay: int = 0
    integrity_failed: int = 0


@frozen
class SaInfo:
    """An installed SA as the kernel reports it."""

    spec: SaSpec
    current: LifetimeCurrent = LifetimeCurrent()
    stats: SaStats = SaStats()

    @property
    def key(self) -> SaKey:
        """The key that identifies this SA."""
        return self.spec.key


def owned_sas(sas: Iterable[SaInfo], owner: Owner) -> list[SaKey]:
    """The keys of the SAs among ``sas`` that ``owner`` installed: its inbound ESP/AH SAs by
    their SPI (:func:`spi_band`), and the SAs it installed with a peer's SPI (outbound) or a
    16-bit CPI (IPComp), which carry the same reqid between the same two addresses as one of
    those inbound SAs.  An ESP/AH SA in another owner's band is that owner's, whatever its
    reqid (iked and kinkd may pick the same one for the same two hosts)."""
    sas = list(sas)
    lo, hi = spi_band(owner)
    others = [spi_band(o) for o in Owner if o is not owner]

    def pairing(s: SaInfo) -> tuple[int, frozenset[Address]]:
        return s.spec.reqid, frozenset((s.spec.src, s.spec.dst))

    ours = {pairing(s) for s in sas if s.spec.proto is not Proto.IPCOMP
            and lo <= s.spec.spi <= hi}
    return [s.key for s in sas if pairing(s) in ours and (
        s.spec.proto is Proto.IPCOMP or not any(a <= s.spec.spi <= b for a, b in others))]


@frozen
class Template:
    """One transform a policy requires (xfrm_user_tmpl / sadb_x_ipsecrequest).

    ``src``/``dst`` are the tunnel endpoints (None in transport mode); ``spi`` 0 means any.
    """

    proto: Proto
    mode: Mode = Mode.TRANSPORT
    src: Address | None = None
    dst: Address | None = None
    reqid: int = 0
    level: Level = Level.REQUIRE
    spi: int = 0


@frozen
class PolicyKey:
    """Identifies a policy: direction, selector, mark and if_id; or the kernel index when set."""

    direction: Direction
    selector: Selector
    mark: Mark | None = None
    if_id: int = 0
    index: int = 0

    def __str__(self) -> str:
        idx = f" index {self.index}" if self.index else ""
        return f"policy {_DIRECTION_WORDS[self.direction]} {self.selector}{idx}"


@frozen
class PolicySpec:
    """Everything needed to install one policy.  ``priority`` is relative to the owner's band;
    ``index`` 0 lets the kernel choose."""

    selector: Selector
    direction: Direction
    owner: Owner
    action: Verdict = Verdict.ALLOW
    templates: tuple[Template, ...] = ()
    priority: int = 0
    index: int = 0
    lifetime: Lifetime = Lifetime()
    mark: Mark | None = None
    if_id: int = 0

    @property
    def key(self) -> PolicyKey:
        """The key that identifies this policy (index included when given)."""
        return PolicyKey(self.direction, self.selector, self.mark, self.if_id, self.index)


@frozen
class PolicyInfo:
    """An installed policy.  ``owner`` is None (and ``spec.owner`` meaningless) when the
    policy is not in our priority band; ``kernel_priority`` is the raw value."""

    spec: PolicySpec
    index: int
    owner: Owner | None
    kernel_priority: int
    current: LifetimeCurrent = LifetimeCurrent()

    @property
    def key(self) -> PolicyKey:
        """The key of this policy, with its kernel index."""
        s = self.spec
        return PolicyKey(s.direction, s.selector, s.mark, s.if_id, self.index)


@frozen
class MigrateEntry:
    """One SA move of a MIGRATE: the old and new tunnel endpoints of (proto, mode, reqid)."""

    proto: Proto
    mode: Mode
    reqid: int
    old_src: Address
    old_dst: Address
    new_src: Address
    new_dst: Address


@frozen
class Migration:
    """A MIGRATE request (RFC 4555 MOBIKE, PF_KEY's X_MIGRATE): the policy and its moves."""

    selector: Selector
    direction: Direction
    entries: tuple[MigrateEntry, ...]
    #: the key manager's (local, remote) addresses, XFRMA_KMADDRESS; None to leave it out.
    kmaddress: tuple[Address, Address] | None = None


@frozen
class Capabilities:
    """What the running kernel can install (see :mod:`racoon2.kernel.probe`)."""

    protos: frozenset[Proto]
    modes: frozenset[Mode]
    ciphers: frozenset[str]
    integrity: frozenset[str]
    aead: frozenset[str]
    compression: frozenset[str]
    esn: bool
    encap: bool
    #: how the answer was found, e.g. "netlink probe in a private namespace", "/proc/crypto".
    source: str = ""

    def supports(self, sa: SaSpec) -> bool:
        """Whether an SA like ``sa`` could be installed."""
        if sa.proto not in self.protos or sa.mode not in self.modes:
            return False
        if sa.cipher is not None and sa.cipher.name not in self.ciphers:
            return False
        if sa.integrity is not None and sa.integrity.name not in self.integrity:
            return False
        if sa.aead is not None and sa.aead.name not in self.aead:
            return False
        if sa.compression is not None and sa.compression not in self.compression:
            return False
        return (self.esn or not sa.esn) and (self.encap or sa.encap is None)


# Events ------------------------------------------------------------------------------------


@frozen
class Acquire:
    """Traffic met a policy with no SA: negotiate one.  ``selector`` is the packet's flow."""

    seq: int
    policy_index: int
    direction: Direction
    selector: Selector
    src: Address
    dst: Address
    proto: Proto
    mode: Mode
    reqid: int


@frozen
class Expire:
    """An SA reached a soft (rekey now) or hard (it is gone) limit."""

    key: SaKey
    hard: bool
    reqid: int = 0


@frozen
class PolicyExpire:
    """A policy reached a soft or hard lifetime limit."""

    key: PolicyKey
    hard: bool


@frozen
class MigrateEvent:
    """Someone migrated SAs (another key manager, or a kernel report)."""

    migration: Migration


@frozen
class Mapping:
    """The NAT mapping of a UDP-encapsulated SA changed (XFRM_MSG_MAPPING)."""

    key: SaKey
    reqid: int
    old_src: Address
    old_sport: int
    new_src: Address
    new_sport: int


KernelEvent = Acquire | Expire | PolicyExpire | MigrateEvent | Mapping


# The backend -------------------------------------------------------------------------------


@runtime_checkable
class KernelBackend(Protocol):
    """One kernel's SAD and SPD.  Every method raises KernelError naming its SA or policy."""

    async def capabilities(self) -> Capabilities:
        """What the kernel supports; probed once, then cached."""
        ...

    async def alloc_spi(
        self,
        proto: Proto,
        src: Address,
        dst: Address,
        reqid: int,
        *,
        lo: int = 0x100,
        hi: int = 0xFFFFFFFF,
        seq: int = 0,
    ) -> int:
        """Reserve an SPI for an inbound SA (a larval SA until :meth:`update_sa` fills it).

        ``seq`` is the ACQUIRE's sequence number when answering one.
        """
        ...

    async def add_sa(self, sa: SaSpec) -> None:
        """Install a new SA; EEXIST if it is there."""
        ...

    async def update_sa(self, sa: SaSpec) -> None:
        """Fill in an SA whose SPI came from :meth:`alloc_spi`, or replace an existing one."""
        ...

    async def del_sa(self, key: SaKey) -> None:
        """Delete one SA; ENOENT if it is absent."""
        ...

    async def get_sa(self, key: SaKey) -> SaInfo:
        """One SA with its counters and used lifetime."""
        ...

    async def dump_sas(self) -> list[SaInfo]:
        """Every SA in the kernel (not only ours: callers filter by reqid)."""
        ...

    async def add_policy(self, sp: PolicySpec) -> PolicyKey:
        """Install a policy; returns its key with the kernel index."""
        ...

    async def add_policies(self, sps: Sequence[PolicySpec]) -> list[PolicyKey | KernelError]:
        """Install many policies in as few kernel round trips as possible; one result each."""
        ...

    async def update_policy(self, sp: PolicySpec) -> PolicyKey:
        """Install or replace a policy with the same key."""
        ...

    async def del_policy(self, key: PolicyKey) -> None:
        """Delete a policy by index (when the key has one) or by selector and direction."""
        ...

    async def dump_policies(self, owner: Owner | None = None) -> list[PolicyInfo]:
        """Every policy, or only ``owner``'s when given."""
        ...

    async def flush_own(self, owner: Owner) -> None:
        """Delete ``owner``'s policies and the SAs their templates' reqids name; nobody else's."""
        ...

    async def migrate(self, m: Migration) -> None:
        """Move the SAs and templates of one policy to new endpoints."""
        ...

    def events(self) -> AsyncIterator[KernelEvent]:
        """ACQUIRE, EXPIRE, POLEXPIRE, MIGRATE and MAPPING events as they arrive."""
        ...

    async def close(self) -> None:
        """Release sockets; pending calls fail with KernelError."""
        ...


@runtime_checkable
class PackedPolicies(Protocol):
    """A backend that installs policies from payloads packed earlier: spmd keeps its start's
    payloads in the configuration cache (doc/design.md, "spmd's start from the cache")."""

    #: Names the payloads' layout: payloads of another form are never given to this backend.
    packed_form: str

    def pack_policies(self, sps: Sequence[PolicySpec]) -> list[bytes]:
        """The payloads that install ``sps``."""
        ...

    async def add_packed(self, payloads: Sequence[bytes]) -> list[int | KernelError]:
        """:meth:`KernelBackend.add_policies` from payloads: each one's kernel index, or the
        error."""
        ...


# Operations as data ------------------------------------------------------------------------


@frozen
class AllocSpi:
    """Reserve an inbound SPI; performing it returns the SPI."""

    proto: Proto
    src: Address
    dst: Address
    reqid: int
    seq: int = 0
    lo: int = 0x100
    hi: int = 0xFFFFFFFF


@frozen
class AddSa:
    """Install an SA."""

    sa: SaSpec


@frozen
class UpdateSa:
    """Fill in a larval SA or replace one."""

    sa: SaSpec


@frozen
class DelSa:
    """Delete an SA."""

    key: SaKey


@frozen
class GetSa:
    """Read an SA; performing it returns SaInfo."""

    key: SaKey


@frozen
class AddPolicy:
    """Install a policy; performing it returns its PolicyKey."""

    sp: PolicySpec


@frozen
class UpdatePolicy:
    """Install or replace a policy; performing it returns its PolicyKey."""

    sp: PolicySpec


@frozen
class DelPolicy:
    """Delete a policy."""

    key: PolicyKey


@frozen
class Migrate:
    """Migrate a policy's SAs."""

    migration: Migration


KernelOp = (
    AllocSpi | AddSa | UpdateSa | DelSa | GetSa | AddPolicy | UpdatePolicy | DelPolicy | Migrate
)


async def perform(backend: KernelBackend, op: KernelOp) -> int | SaInfo | PolicyKey | None:
    """Run one operation: the SPI for AllocSpi, SaInfo for GetSa, the key for policy adds."""
    match op:
        case AllocSpi(proto, src, dst, reqid, seq, lo, hi):
            return await backend.alloc_spi(proto, src, dst, reqid, lo=lo, hi=hi, seq=seq)
        case AddSa(sa):
            await backend.add_sa(sa)
            return None
        case UpdateSa(sa):
            await backend.update_sa(sa)
            return None
        case DelSa(key):
            await backend.del_sa(key)
            return None
        case GetSa(key):
            return await backend.get_sa(key)
        case AddPolicy(sp):
            return await backend.add_policy(sp)
        case UpdatePolicy(sp):
            return await backend.update_policy(sp)
        case DelPolicy(key):
            await backend.del_policy(key)
            return None
        case Migrate(m):
            await backend.migrate(m)
            return None
