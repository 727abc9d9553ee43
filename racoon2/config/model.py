"""The configuration as immutable, typed data (doc/design.md, "Configuration").

Every node knows ``where`` it was opened (``file:line``) and ``where_of(directive)`` tells where a
directive was written.  A directive that was not written is ``None``; ``infinite`` is
:data:`INFINITE`, never 0.  Only :mod:`racoon2.config.effective` (remotes) and
:mod:`racoon2.config.defaults` (policies, ipsecs) turn an unset value into the ``default``
section's or the built-in one.  References are objects: ``selector.policy``,
``policy.ipsecs[0].sas``, ``policy.remote`` and back, ``remote.policies``.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from racoon2.config.effective import EffectiveKmp, EffectivePolicy

from racoon2.ipsec import Action, Direction, Level, Mode

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


#: RFC 9370's additional key exchanges, one ikev2 directive per position (doc/config.md §5).
ADDKE_DIRECTIVES: Final = tuple(f"kmp_addke{n}" for n in range(1, 8))

class Infinite(enum.Enum):
    """The ``infinite`` keyword: the C code stored 0 and then treated it as unset."""

    INFINITE = "infinite"


INFINITE = Infinite.INFINITE
Seconds = int | Infinite
Bytes = int | Infinite


class Kmp(enum.Enum):
    IKEV1 = "ikev1"
    IKEV2 = "ikev2"
    KINK = "kink"


class LogMode(enum.Enum):
    NORMAL = "normal"
    DEBUG = "debug"


class SelectorCheck(enum.Enum):
    OBEY = "obey"
    EXACT = "exact"


class ProposalCheck(enum.Enum):
    OBEY = "obey"
    STRICT = "strict"
    CLAIM = "claim"
    EXACT = "exact"


class ExchangeMode(enum.Enum):
    MAIN = "main"
    AGGRESSIVE = "aggressive"
    BASE = "base"


class IdType(enum.Enum):
    IPADDR = "ipaddr"
    EMAIL = "email"
    FQDN = "fqdn"
    KEYID = "keyid"
    X509_SUBJECT = "x509_subject"


class IdQualifier(enum.Enum):
    FILE = "file"
    TAG = "tag"


class KeyType(enum.Enum):
    X509PEM = "x509pem"
    PKCS12 = "pkcs12"
    ASCII = "ascii"


class MobilityRole(enum.Enum):
    AGENT = "agent"
    MOBILE = "mobile"
    CORRESPONDENT = "correspondent"


class ScriptType(enum.Enum):
    """Hook types; ``ike_sa_up``… ``child_rekey`` are read as the phase names (doc/iked.md,
    "Hook scripts")."""

    PHASE1_UP = "phase1_up"
    PHASE1_DOWN = "phase1_down"
    PHASE1_REKEY = "phase1_rekey"
    PHASE2_UP = "phase2_up"
    PHASE2_DOWN = "phase2_down"
    PHASE2_REKEY = "phase2_rekey"
    MIGRATION = "migration"


SCRIPT_SYNONYMS: Mapping[str, ScriptType] = MappingProxyType({
    "ike_sa_up": ScriptType.PHASE1_UP, "ike_sa_down": ScriptType.PHASE1_DOWN,
    "ike_sa_rekey": ScriptType.PHASE1_REKEY, "child_up": ScriptType.PHASE2_UP,
    "child_down": ScriptType.PHASE2_DOWN, "child_rekey": ScriptType.PHASE2_REKEY,
})


class SaProtocol(enum.Enum):
    ESP = "esp"
    AH = "ah"
    IPCOMP = "ipcomp"


class AddrKind(enum.Enum):
    INET = "inet"      # a numeric address with its prefix length
    MACRO = "macro"    # MY_IP, IP_ANY, … expanded when used
    FQDN = "fqdn"      # a host name resolved when used
    RANGE = "range"    # selector src/dst START-END: ``address`` to ``end``
    UNIX = "unix"      # a Unix-domain socket path


MACROS = frozenset({
    "MY_IP", "MY_IPV4", "MY_IPV6", "MY_IPV6_GLOBAL", "MY_IPV6_LINKLOCAL", "MY_HOA",
    "IP_ANY", "IP_RW", "IP_UNSPECIFIED",
})


#: iked's built-in proposal sets for ``proposal_profile`` (iked/ikev2/profiles.py holds them).
PROPOSAL_PROFILES: Final = ("roadwarrior", "windows_legacy")


class ConfigRequest(enum.IntFlag):
    """``request { … }`` items: the C bit mask."""

    IP4_DNS = 0x01
    IP6_DNS = 0x02
    IP4_DHCP = 0x04
    IP6_DHCP = 0x08
    APPLICATION_VERSION = 0x10
    MIP6_HOME_PREFIX = 0x20
    IP4 = 0x40
    IP6 = 0x80


class Node:
    """Mixin: ``where`` of the block, ``at`` = (directive, line) of each written directive."""

    __slots__ = ()
    where: str
    at: tuple[tuple[str, int], ...]

    def where_of(self, directive: str) -> str | None:
        """``file:line`` where ``directive`` was written in this block (None if it was not)."""
        # Lines only: a block and its directives are always in one file (includes are
        # top-level), and 200,000 "file:line" strings were a measurable part of a big load.
        for name, line in self.at:
            if name == directive:
                return f"{self.where.rpartition(':')[0]}:{line}"
        return None


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something a daemon will run with but an admin should hear about."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class AddrSpec:
    """One ``addr_spec``: ``text`` is the expanded address text (without ``/len`` and port)."""

    kind: AddrKind
    text: str
    where: str
    address: Address | None = None
    prefixlen: int | None = None
    port: int | None = None
    ifname: str | None = None
    end: Address | None = None

    def prefixes(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The prefixes an INET entry or a RANGE covers exactly (kernel policies need
        prefixes); empty for macros and names, which are expanded where they are used."""
        if self.address is None:
            return []
        if self.kind is AddrKind.RANGE and self.end is not None:
            return list(ipaddress.summarize_address_range(self.address, self.end))
        plen = self.address.max_prefixlen if self.prefixlen is None else self.prefixlen
        return [ipaddress.ip_network((int(self.address), plen), strict=False)]

    @property
    def is_rw(self) -> bool:
        """True for ``IP_RW``: the peer's address is not known in advance."""
        return self.kind is AddrKind.MACRO and self.text == "IP_RW"


@dataclass(frozen=True, slots=True)
class AlgSpec:
    """``ALG[, KEYLEN[, KEY]]``: ``keylen`` in bits, -1 for the ``ALG,,KEY`` form."""

    name: str
    where: str
    keylen: int | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """``my_id``/``peers_id`` entry: TYPE [file|tag] VALUE."""

    type: IdType
    value: str
    where: str
    qualifier: IdQualifier | None = None


@dataclass(frozen=True, slots=True)
class PublicKey:
    """``my_public_key`` / ``peers_public_key``: TYPE FILE [FILE]."""

    type: KeyType
    file: str
    where: str
    second: str | None = None


@dataclass(frozen=True, slots=True)
class Ppk:
    """``ppk "PPK_ID" "FILE";`` in an ikev2 block (an extension): one RFC 8784 post-quantum
    preshared key, the identity both peers know it by and the 0600 file holding it."""

    id: str
    file: str
    where: str


@dataclass(frozen=True, slots=True)
class Script:
    type: ScriptType
    path: str
    where: str


@dataclass(frozen=True, slots=True)
class Provide(Node):
    """IKEv2 responder configuration payload values."""

    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    #: the pools to lease from, in order (one may hold both families, or one pool each)
    addresspool: tuple[str, ...] = ()
    dns: tuple[AddrSpec, ...] = ()
    dhcp: tuple[AddrSpec, ...] = ()
    application_version: str | None = None
    mip6_home_prefix: AddrSpec | None = None
    #: extensions: RFC 8598 split-DNS domains, split-tunnel subnets, offline lease lifetime
    dns_domain: tuple[str, ...] = ()
    subnet: tuple[AddrSpec, ...] = ()
    lease_time: Seconds | None = None


@dataclass(frozen=True, slots=True)
class Xauth(Node):
    """``xauth { users FILE; }`` or ``xauth { pam SERVICE; }`` in an ikev1 block: XAuth as
    the gateway (an extension), passwords from a file or from PAM."""

    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    users: str | None = None
    pam: str | None = None


class EapMethod(enum.Enum):
    """``eap { method M; }``: the EAP method iked runs as the IKEv2 responder."""

    MSCHAPV2 = "mschapv2"
    MD5 = "md5"  # tests only: no MSK, the server unauthenticated (doc/iked.md)
    TLS = "tls"  # client certificates from peers_public_key's CAs; needs pyOpenSSL
    RADIUS = "radius"  # relayed to RADIUS servers (RFC 3579), which run the method


@dataclass(frozen=True, slots=True)
class RadiusServer(Node):
    """``radius_server ADDR [port N] radius_secret FILE;`` in ``eap { }``: one RADIUS
    server, in failover order; accounting (RFC 2866) goes to port + 1."""

    where: str
    address: str
    port: int
    secret: str


@dataclass(frozen=True, slots=True)
class Eap(Node):
    """``eap { method M; users FILE; }`` in an ikev2 block: the responder authenticates its
    clients with EAP (RFC 7296 §2.16, an extension), passwords from a users file."""

    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    method: EapMethod | None = None
    users: str | None = None
    radius_server: tuple[RadiusServer, ...] = ()
    radius_nas_identifier: str | None = None
    radius_accounting: bool | None = None
    eap_only: bool | None = None   # RFC 5998: omit our CERT/AUTH when the client asks


@dataclass(frozen=True, slots=True)
class KmpBlock(Node):
    """``ikev1 { }``, ``ikev2 { }`` or ``kink { }`` inside a remote; ``kmp`` says which."""

    kmp: Kmp
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    logmode: LogMode | None = None
    logfile: str | None = None
    passive: bool | None = None
    use_coa: bool | None = None
    peers_ipaddr: tuple[AddrSpec, ...] | None = None
    peers_kmp_port: int | None = None
    verify_id: bool | None = None
    verify_pubkey: bool | None = None
    send_cert: bool | None = None
    send_cert_req: bool | None = None
    nonce_size: Bytes | None = None
    initial_contact: bool | None = None
    support_proxy: bool | None = None
    nat_traversal: bool | None = None
    my_id: tuple[Identity, ...] | None = None
    peers_id: tuple[Identity, ...] | None = None
    selector_check: SelectorCheck | None = None
    proposal_check: ProposalCheck | None = None
    random_pad_content: bool | None = None
    random_padlen: bool | None = None
    max_padlen: Bytes | None = None
    max_retry_to_send: int | None = None
    interval_to_send: Seconds | None = None
    times_per_send: int | None = None
    kmp_sa_lifetime_time: Seconds | None = None
    kmp_sa_lifetime_byte: Bytes | None = None
    kmp_sa_nego_time_limit: Seconds | None = None
    kmp_sa_grace_period: Seconds | None = None
    ipsec_sa_nego_time_limit: Seconds | None = None
    kmp_enc_alg: tuple[AlgSpec, ...] | None = None
    kmp_hash_alg: tuple[AlgSpec, ...] | None = None
    kmp_prf_alg: tuple[AlgSpec, ...] | None = None
    kmp_dh_group: tuple[AlgSpec, ...] | None = None
    kmp_auth_method: tuple[AlgSpec, ...] | None = None
    mobility_role: MobilityRole | None = None
    script: tuple[Script, ...] | None = None
    exchange_mode: ExchangeMode | None = None
    my_gssapi_id: str | None = None
    need_pfs: bool | None = None
    my_public_key: PublicKey | None = None
    peers_public_key: PublicKey | None = None
    pre_shared_key: str | None = None
    dpd: bool | None = None
    dpd_delay: Seconds | None = None
    dpd_retry: Seconds | None = None
    dpd_maxfail: int | None = None
    cookie_required: bool | None = None
    mobike: bool | None = None
    send_peers_id: bool | None = None
    fragmentation: bool | None = None
    fragment_size: Bytes | None = None
    kmp_addke1: tuple[AlgSpec, ...] | None = None
    kmp_addke2: tuple[AlgSpec, ...] | None = None
    kmp_addke3: tuple[AlgSpec, ...] | None = None
    kmp_addke4: tuple[AlgSpec, ...] | None = None
    kmp_addke5: tuple[AlgSpec, ...] | None = None
    kmp_addke6: tuple[AlgSpec, ...] | None = None
    kmp_addke7: tuple[AlgSpec, ...] | None = None
    proposal_profile: tuple[str, ...] | None = None
    ppk: tuple[Ppk, ...] | None = None
    ppk_required: bool | None = None
    require_config_payload: bool | None = None
    request: ConfigRequest | None = None
    provide: Provide | None = None
    xauth: Xauth | None = None
    eap: Eap | None = None
    my_principal: str | None = None
    peers_principal: str | None = None

    def script_for(self, kind: ScriptType) -> str | None:
        """The path of the hook of type ``kind`` (last written wins), or None."""
        found = None
        for s in self.script or ():
            if s.type is kind:
                found = s.path
        return found


@dataclass(frozen=True, slots=True)
class Remote(Node):
    """``remote NAME { }``; ``policies`` are the policies whose ``remote_index`` names it."""

    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    acceptable_kmp: tuple[Kmp, ...] = ()
    ikev1: KmpBlock | None = None
    ikev2: KmpBlock | None = None
    kink: KmpBlock | None = None
    selector_index: str | None = None
    policies: tuple[Policy, ...] = field(default=(), compare=False, repr=False)

    def block(self, kmp: Kmp) -> KmpBlock | None:
        """The ``ikev1``/``ikev2``/``kink`` block for ``kmp``."""
        if kmp is Kmp.IKEV1:
            return self.ikev1
        if kmp is Kmp.IKEV2:
            return self.ikev2
        return self.kink


@dataclass(frozen=True, slots=True)
class Sa(Node):
    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    sa_protocol: SaProtocol | None = None
    esp_enc_alg: tuple[AlgSpec, ...] | None = None
    esp_auth_alg: tuple[AlgSpec, ...] | None = None
    ah_auth_alg: tuple[AlgSpec, ...] | None = None
    ipcomp_alg: tuple[AlgSpec, ...] | None = None
    spi: int | None = None


@dataclass(frozen=True, slots=True)
class Ipsec(Node):
    """One proposal alternative: ``sas`` in ``sa_index`` order (at most one per protocol)."""

    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    ipsec_sa_lifetime_time: Seconds | None = None
    ipsec_sa_lifetime_byte: Bytes | None = None
    ext_sequence: bool | None = None
    sa_index: tuple[str, ...] = ()
    sas: tuple[Sa, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy(Node):
    """``policy NAME { }``; ``remote`` is None when ``remote_index`` names no remote."""

    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    action: Action | None = None
    install: bool | None = None
    remote_index: str | None = None
    ipsec_index: tuple[str, ...] = ()
    ipsec_mode: Mode | None = None
    my_sa_ipaddr: AddrSpec | None = None
    peers_sa_ipaddr: AddrSpec | None = None
    ipsec_level: Level | None = None
    ipsecs: tuple[Ipsec, ...] = ()
    remote: Remote | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Selector(Node):
    """``selector NAME { }``; ``upper_layer_protocol`` 255 means any."""

    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    direction: Direction | None = None
    src: tuple[AddrSpec, ...] = ()
    dst: tuple[AddrSpec, ...] = ()
    upper_layer_protocol: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    next_header_including: tuple[str, ...] = ()
    tagged: str | None = None
    policy_index: str | None = None
    reqid: int | None = None
    order: int | None = None
    policy: Policy | None = None


@dataclass(frozen=True, slots=True)
class AddressPool(Node):
    """``addresspool NAME { START - END; … }``: inclusive ranges of one family each."""

    name: str
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    ranges: tuple[tuple[Address, Address], ...] = ()


@dataclass(frozen=True, slots=True)
class Interface(Node):
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    ike: tuple[AddrSpec, ...] = ()
    kink: tuple[AddrSpec, ...] = ()
    spmd: tuple[AddrSpec, ...] = ()
    spmd_password: str | None = None
    application_bypass: bool | None = None


@dataclass(frozen=True, slots=True)
class Resolver(Node):
    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    resolver: bool | None = None
    nameserver: tuple[AddrSpec, ...] = ()
    dns_query: tuple[AddrSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Defaults(Node):
    """The ``default { }`` section: each part is None when not written."""

    where: str
    at: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    remote: Remote | None = None
    policy: Policy | None = None
    ipsec: Ipsec | None = None
    sa: Sa | None = None


def _no_names() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Config:
    """A whole configuration.  Lookups by name take the first block of that name, as in C."""

    file: str
    setval: tuple[tuple[str, str], ...] = ()
    default: Defaults | None = None
    interface: Interface | None = None
    resolver: Resolver | None = None
    remotes: tuple[Remote, ...] = ()
    selectors: tuple[Selector, ...] = ()
    policies: tuple[Policy, ...] = ()
    ipsecs: tuple[Ipsec, ...] = ()
    sas: tuple[Sa, ...] = ()
    addresspools: tuple[AddressPool, ...] = ()
    notes: tuple[ConfigWarning, ...] = ()
    _remotes: Mapping[str, Remote] = field(default_factory=_no_names, compare=False, repr=False)
    _selectors: Mapping[str, Selector] = field(default_factory=_no_names, compare=False, repr=False)
    _pools: Mapping[str, AddressPool] = field(default_factory=_no_names, compare=False, repr=False)
    #: :mod:`racoon2.config.effective`'s memo, (id(remote), kmp) or (id(policy), None): built
    #: when a remote is first used, not by the loader (10,000 remotes load as fast).  Not an
    #: init field, so ``dataclasses.replace`` starts a new one rather than share it.
    effective_cache: dict[tuple[int, Kmp | None], EffectiveKmp | EffectivePolicy] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def remote(self, name: str) -> Remote | None:
        """The first ``remote`` called ``name``."""
        return self._remotes.get(name)

    def selector(self, name: str) -> Selector | None:
        """The first ``selector`` called ``name``."""
        return self._selectors.get(name)

    def addresspool(self, name: str) -> AddressPool | None:
        """The first ``addresspool`` called ``name``."""
        return self._pools.get(name)

    @property
    def default_remote(self) -> Remote | None:
        """``default { remote { } }``, also the configuration for unknown peers."""
        return self.default.remote if self.default else None
