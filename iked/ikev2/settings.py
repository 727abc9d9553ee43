"""What one IKE SA needs from racoon2.conf, resolved once into plain values (pure).

:func:`peer_settings` reads a ``remote``'s ikev2 block with the default-section rule applied;
:func:`child_settings` reads a ``policy`` and its selectors.  Secret and key files are read
through a callable the shell passes in, so this module does no I/O of its own.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from iked.ikev2 import profiles, proposals
from iked.ikev2.certs import Credentials, Trust, trust_from
from iked.ikev2.config_payload import LEASE_TIME, Provide
from iked.ikev2.ts import Ts, from_prefix
from iked.ikev2.window import Schedule
from racoon2.config import lookup
from racoon2.config.check_iked import ikev2_bundle_problem
from racoon2.config.effective import ikev2
from racoon2.config.model import (
    AddrKind,
    AddrSpec,
    AlgSpec,
    Config,
    ConfigRequest,
    EapMethod,
    Identity,
    IdQualifier,
    IdType,
    KeyType,
    Policy,
    PublicKey,
    Remote,
    SaProtocol,
    Selector,
)
from racoon2.config.model import (
    Eap as EapBlock,
)
from racoon2.config.model import (
    Provide as ProvideBlock,
)
from racoon2.crypto.transforms import Transform
from racoon2.errors import CryptoError
from racoon2.errors import SettingsError as SettingsError  # re-exported: callers import it here
from racoon2.ikev2.constants import IdType as WireId
from racoon2.ikev2.payloads import Proposal
from racoon2.ikev2.payloads import Transform as WireTransform
from racoon2.ipsec import Mode
from racoon2.kernel import api
from racoon2.net import Address

if TYPE_CHECKING:
    from cryptography import x509

    from iked.users import Users
    from racoon2.radius.access import Radius

# racoon2.crypto.x509 (and with it cryptography.x509) is imported in the functions that read
# certificates, iked.users (with MSCHAPv2) and racoon2.radius in the one that reads eap { }:
# most configurations use neither, and their imports are 40 ms of every iked start.

Algs = tuple[AlgSpec, ...] | None

#: Reads a secret or key file named in the configuration (mode and owner already checked).
ReadFile = Callable[[str], bytes]



@dataclass(frozen=True)
class EapSettings:
    """``eap { }``: the method iked runs as the responder, the users file's users (None for
    EAP-TLS), and for EAP-TLS our certificate and the CAs of the clients' certificates."""

    method: EapMethod
    users: Users | None = field(repr=False)
    credentials: Credentials = field(repr=False)
    anchors: tuple[x509.Certificate, ...] = ()
    radius: Radius | None = None   # method radius: the servers that run the method
    eap_only: bool = False         # RFC 5998: no CERT/AUTH of ours when the client asks


@dataclass(frozen=True)
class PeerSettings:
    """One remote's IKEv2 settings, defaults applied."""

    remote: str
    my_ids: tuple[tuple[int, bytes], ...]
    peers_ids: tuple[tuple[int, bytes], ...]
    verify_id: bool
    psk: bytes | None = field(repr=False)
    ike_proposals: tuple[Proposal, ...]
    nonce_size: int
    schedule: Schedule
    lifetime: float
    nego_limit: float
    dpd_delay: float
    send_peers_id: bool
    nat_traversal: bool
    initial_contact: bool
    need_pfs: bool
    cookie_required: bool
    passive: bool
    signature: bool = False                 # we authenticate with our certificate
    credentials: Credentials | None = field(default=None, repr=False)
    trust: Trust | None = None              # None: we accept no signature AUTH
    provide: Provide | None = None          # what a CFG_REQUEST gets (responder)
    request: ConfigRequest = ConfigRequest(0)  # what our CFG_REQUEST asks for (initiator)
    #: RFC 7383: the largest IP datagram of an IKE fragment we send; 0: fragmentation off.
    fragment_size: int = 0
    eap: EapSettings | None = None          # clients authenticate with EAP (responder)
    #: ``proposal_profile``: the built-in sets (:mod:`iked.ikev2.profiles`) tried after ours
    profiles: tuple[str, ...] = ()
    #: the responder's IKE proposal sets in order: (profile name or "configured", proposals)
    ike_sets: tuple[tuple[str, tuple[Proposal, ...]], ...] = ()
    #: RFC 8784 PPKs as (PPK_ID, key): the first one is offered, any is accepted.
    ppks: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)
    ppk_required: bool = False              # no IKE SA without a PPK (RFC 8784 §3)
    mobike: bool = True                     # RFC 4555: MOBIKE_SUPPORTED in IKE_AUTH


@dataclass(frozen=True)
class ChildSettings:
    """One policy's CHILD_SA settings, seen from this host."""

    policy: str
    selector: str
    reqid: int
    tunnel: bool
    local_ts: tuple[Ts, ...]
    remote_ts: tuple[Ts, ...]
    my_sa_addr: Address | None
    peers_sa_addr: Address | None
    esp: tuple[tuple[Algs, Algs], ...]  # per ESP sa: (esp_enc_alg, esp_auth_alg)
    esn: bool
    lifetime_seconds: int
    lifetime_bytes: int
    #: the peer side is IP_RW: any address, narrowed to the peer's; spmd installs the policies
    #: for it when iked asks (spmif POLICY ADD).
    rw: bool = False
    ah: tuple[Algs, ...] = ()  # per AH sa: ah_auth_alg (a policy negotiates AH or ESP)
    ipcomp: tuple[int, ...] = ()  # the IPComp transform IDs of its ipcomp sa, if any

    @property
    def protocol(self) -> api.Proto:
        """The protocol the CHILD_SA negotiates."""
        return api.Proto.AH if self.ah else api.Proto.ESP

    def proposals(self, spi: bytes, pfs: Sequence[Transform] = (),
                  addke: Sequence[WireTransform] = ()) -> tuple[Proposal, ...]:
        """The SA payload proposals with our inbound ``spi`` (and a PFS group in ``pfs``, the
        additional key exchanges' ADDKE transforms in ``addke``)."""
        if spi == bytes(4) and not pfs and not addke:
            return self._to_match
        return self._proposals(spi, pfs, addke)

    @functools.cached_property
    def _to_match(self) -> tuple[Proposal, ...]:
        # What every CHILD_SA offer of the policy is matched against (SPI zero): made once
        # per policy, not per SA (immutable, so shared).
        return self._proposals(bytes(4), (), ())

    def _proposals(self, spi: bytes, pfs: Sequence[Transform],
                   addke: Sequence[WireTransform]) -> tuple[Proposal, ...]:
        out: list[Proposal] = []
        for auth in self.ah:
            out += proposals.ah_proposal(len(out) + 1, spi, auth, self.esn, pfs, addke)
        for enc, auth in self.esp:
            out += proposals.child_proposal(len(out) + 1, spi, enc, auth, self.esn, pfs,
                                            addke)
        return tuple(out)


def identity(ident: Identity, read: ReadFile, read_public: ReadFile) -> tuple[int, bytes]:
    """The (ID type, data) of a ``my_id``/``peers_id`` entry."""
    if ident.type is IdType.IPADDR:
        addr = ipaddress.ip_address(ident.value)
        return (WireId.IPV4_ADDR if addr.version == 4 else WireId.IPV6_ADDR), addr.packed
    if ident.type is IdType.FQDN:
        return WireId.FQDN, ident.value.encode()
    if ident.type is IdType.EMAIL:
        return WireId.RFC822_ADDR, ident.value.encode()
    if ident.type is IdType.KEYID:
        # keyid [file|tag] V: without a qualifier V is a file, as with file (config.md).
        data = ident.value.encode() if ident.qualifier is IdQualifier.TAG else read(ident.value)
        return WireId.KEY_ID, data
    if ident.type is IdType.X509_SUBJECT:
        from racoon2.crypto.x509 import load_certificates

        try:
            cert = load_certificates(read_public(ident.value))[0]
        except (OSError, CryptoError) as e:
            raise SettingsError(f"{ident.where}: x509_subject {ident.value}: {e}") from None
        return WireId.DER_ASN1_DN, cert.subject.public_bytes()
    raise SettingsError(f"{ident.where}: {ident.type.value} identities are not supported")


def config_identity(id_type: int, data: bytes) -> tuple[IdType, str] | None:
    """A received ID as racoon2.conf writes it, for the ``peers_id`` lookup; None if it has
    no racoon2.conf form."""
    if id_type in (WireId.IPV4_ADDR, WireId.IPV6_ADDR) and len(data) in (4, 16):
        return IdType.IPADDR, str(ipaddress.ip_address(data))
    text = data.decode("utf-8", "replace")
    if id_type == WireId.FQDN:
        return IdType.FQDN, text
    if id_type == WireId.RFC822_ADDR:
        return IdType.EMAIL, text
    if id_type == WireId.KEY_ID:
        return IdType.KEYID, text
    return None


def ip_identity(addr: Address) -> tuple[int, bytes]:
    """The ID of a host known only by its address (no ``my_id`` configured)."""
    return (WireId.IPV4_ADDR if addr.version == 4 else WireId.IPV6_ADDR), addr.packed


def load_credentials(name: str, spec: PublicKey | None, read: ReadFile,
                     read_public: ReadFile) -> Credentials:
    """Our certificate chain and key from ``my_public_key x509pem CERT KEY``."""
    if spec is None or spec.type is not KeyType.X509PEM or spec.second is None:
        raise SettingsError(f"remote {name}: kmp_auth_method rsasig needs "
                            "my_public_key x509pem CERTFILE KEYFILE")
    from racoon2.crypto.x509 import load_certificates, load_private_key

    try:
        chain = tuple(load_certificates(read_public(spec.file)))
        key = load_private_key(read(spec.second))
    except (OSError, CryptoError) as e:
        raise SettingsError(f"{spec.where}: my_public_key: {e}") from None
    return Credentials(chain, key)


def load_trust(name: str, spec: PublicKey | None, read_public: ReadFile) -> Trust:
    """What vouches for the peer, from ``peers_public_key x509pem FILE``."""
    if spec is None or spec.type is not KeyType.X509PEM:
        raise SettingsError(f"remote {name}: kmp_auth_method rsasig needs peers_public_key "
                            "x509pem FILE (the peer's certificate or its CA certificates)")
    from racoon2.crypto.x509 import load_certificates

    try:
        return trust_from(load_certificates(read_public(spec.file)))
    except (OSError, CryptoError) as e:
        raise SettingsError(f"{spec.where}: peers_public_key: {e}") from None


def peer_settings(config: Config, remote: Remote | None, read: ReadFile,
                  read_public: ReadFile | None = None) -> PeerSettings:
    """The IKEv2 settings of ``remote`` (None: the default section alone).  ``read`` reads
    secret files (keys), ``read_public`` certificates (default: ``read``)."""
    eff = ikev2(config, remote)
    public = read_public or read
    name = eff.name
    methods = [a.name for a in eff.kmp_auth_method] or ["psk"]
    unknown = [m for m in methods if m not in ("psk", "rsasig")]
    if unknown:
        raise SettingsError(f"remote {name}: kmp_auth_method {', '.join(unknown)} is not "
                            "supported; use psk or rsasig")
    # The file's raw bytes, a trailing newline included, as the original and doc/pskgen.md:
    # a random key ending in CR or LF would otherwise differ from the peer's.
    psk = read(eff.pre_shared_key) if eff.pre_shared_key is not None else None
    if "psk" in methods and psk is None and methods[0] == "psk":
        raise SettingsError(f"remote {name}: no pre_shared_key for kmp_auth_method psk")
    if eff.ppk_required and not eff.ppk:
        raise SettingsError(f"remote {name}: ppk_required on, but no ppk")
    signature = methods[0] == "rsasig"
    credentials = load_credentials(name, eff.my_public_key, read, public) if signature else None
    # An EAP server's clients need not sign: peers_public_key is then optional.
    trust = load_trust(name, eff.peers_public_key, public) if "rsasig" in methods and not (
        eff.eap is not None and eff.peers_public_key is None) else None
    own = proposals.ike_proposals(eff.kmp_enc_alg, eff.kmp_prf_alg, eff.kmp_hash_alg,
                                  eff.kmp_dh_group, [algs for _, algs in eff.additional_ke])
    sets: tuple[tuple[str, tuple[Proposal, ...]], ...] = (
        ((profiles.CONFIGURED, own),) if own else ())
    sets += tuple((p, profiles.PROFILES[p].ike()) for p in eff.proposal_profile)
    # The initiator offers all of them, one numbered list (RFC 7296 §3.3.1).
    ike = tuple(replace(p, number=i + 1)
                for i, p in enumerate(p for _, props in sets for p in props))
    if not ike:
        raise SettingsError(f"remote {name}: kmp_enc_alg, kmp_hash_alg and kmp_dh_group "
                            "(or a proposal_profile) are required for ikev2")
    my_ids = tuple(identity(i, read, public) for i in eff.my_id)
    peers_ids = tuple(identity(i, read, public) for i in eff.peers_id)
    if not my_ids and credentials is not None:
        my_ids = ((WireId.DER_ASN1_DN, credentials.subject_dn),)
    eap = _eap(name, eff.eap, read, credentials, trust)
    if not isinstance(eff.nonce_size, int):
        # check_config refuses it before iked starts (check_common.check_measures).
        raise SettingsError(f"remote {name}: nonce_size infinite, expected a size")
    return PeerSettings(
        remote=name, my_ids=my_ids, peers_ids=peers_ids, verify_id=eff.verify_id,
        psk=psk, ike_proposals=ike, nonce_size=eff.nonce_size,
        schedule=Schedule(_seconds(eff.interval_to_send) or 1.0, eff.max_retry_to_send,
                          eff.times_per_send),
        lifetime=_seconds(eff.kmp_sa_lifetime_time),
        nego_limit=_seconds(eff.kmp_sa_nego_time_limit),
        dpd_delay=_seconds(eff.dpd_delay), send_peers_id=eff.send_peers_id,
        nat_traversal=eff.nat_traversal, initial_contact=eff.initial_contact,
        need_pfs=eff.need_pfs, cookie_required=eff.cookie_required,
        passive=eff.passive, signature=signature, credentials=credentials, trust=trust,
        provide=_provide(eff.provide), request=eff.request or ConfigRequest(0),
        fragment_size=eff.fragment_size if eff.fragmentation and isinstance(
            eff.fragment_size, int) else 0, eap=eap,
        profiles=eff.proposal_profile, ike_sets=sets,
        ppks=tuple((p.id.encode(), read(p.file)) for p in eff.ppk),
        ppk_required=bool(eff.ppk_required), mobike=eff.mobike)


def _eap(name: str, block: EapBlock | None, read: ReadFile, credentials: Credentials | None,
         trust: Trust | None) -> EapSettings | None:
    if block is None or block.method is None:
        return None
    if credentials is None:
        # RFC 7296 §2.16: the responder proves itself with a certificate before EAP.
        raise SettingsError(f"{block.where}: remote {name}: eap needs kmp_auth_method "
                            "rsasig and my_public_key x509pem CERT KEY (the server's "
                            "certificate)")
    if block.method is EapMethod.TLS:
        if trust is None or not trust.anchors:
            raise SettingsError(f"{block.where}: remote {name}: eap {{ method tls; }} needs "
                                "peers_public_key x509pem with the clients' CA certificates")
        return EapSettings(block.method, None, credentials, trust.anchors,
                           eap_only=bool(block.eap_only))
    if block.method is EapMethod.RADIUS:
        from racoon2.radius.access import Radius
        from racoon2.radius.access import Server as RadiusServer

        # The secret file's line end is not part of the secret (pskgen writes one).
        servers = tuple(RadiusServer(s.address, s.port, read(s.secret).rstrip(b"\r\n"))
                        for s in block.radius_server)
        return EapSettings(block.method, None, credentials, radius=Radius(
            servers, block.radius_nas_identifier or "racoon2",
            block.radius_accounting is not False))
    if block.users is None:
        raise SettingsError(f"{block.where}: remote {name}: eap needs users FILE")
    try:
        text = read(block.users).decode()
    except UnicodeDecodeError as e:
        raise SettingsError(f"{block.where_of('users') or block.where}: users file "
                            f"{block.users}: byte {e.start} is not UTF-8") from None
    from iked.users import parse

    return EapSettings(block.method, parse(text, block.users), credentials)


def _provide(block: ProvideBlock | None) -> Provide | None:
    if block is None:
        return None
    subnets = tuple(ipaddress.ip_network((int(n.address), n.prefixlen or n.address.max_prefixlen
                                          ), strict=False)
                    for n in block.subnet if n.address is not None)
    return Provide(block.addresspool, tuple(d.address for d in block.dns if d.address),
                   block.application_version, block.dns_domain,
                   subnets if block.where_of("subnet") is not None else None,
                   LEASE_TIME if block.lease_time is None else
                   float(block.lease_time) if isinstance(block.lease_time, int) else math.inf)


def _seconds(value: object) -> float:
    # ``infinite`` and 0 both mean no limit here (0 is also what the kernel takes for none).
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def _limit(value: object) -> int:
    """A lifetime in seconds or bytes for the kernel: ``infinite`` (and 0) are no limit, 0."""
    return int(value) if isinstance(value, int) and value > 0 else 0


Expand = Callable[[AddrSpec], Sequence[Address]]


def _ts(spec: AddrSpec, proto: int, sel: Selector, expand: Expand) -> list[Ts]:
    icmp = (sel.icmp_type, sel.icmp_code) if sel.icmp_type is not None else None
    if spec.kind is AddrKind.INET and spec.address is not None:
        plen = spec.address.max_prefixlen if spec.prefixlen is None else spec.prefixlen
        nets = [ipaddress.ip_network((int(spec.address), plen), strict=False)]
    elif spec.kind is AddrKind.MACRO and spec.text in ("IP_ANY", "IP_RW"):
        nets = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    elif spec.kind is AddrKind.RANGE:
        nets = spec.prefixes()  # the prefixes spmd installs, so TS and policies agree
    else:
        nets = [ipaddress.ip_network(a) for a in expand(spec)]
    return [from_prefix(n, proto, spec.port, icmp) for n in nets]


def child_settings(config: Config, policy: Policy, expand: Expand) -> ChildSettings:
    """The CHILD_SA that ``policy``'s outbound selector describes, seen from this host, with
    the default section's policy, ipsec and sa applied (:func:`racoon2.config.effective.policy`).

    Only an ``auto_ipsec`` policy has one: iked negotiates no other (doc/config.md §6, policy)."""
    eff, out = lookup.negotiable(config, policy, "iked")
    proto = out.upper_layer_protocol
    proto = 0 if proto is None or proto == 255 else proto
    problem = ikev2_bundle_problem(eff)
    if problem is not None:
        raise SettingsError(f"{problem[0]}: {problem[1]}")
    sas = [sa for ipsec in eff.ipsecs for sa in ipsec.sas]
    esp = [(sa.esp_enc_alg, sa.esp_auth_alg) for sa in sas if sa.sa_protocol is SaProtocol.ESP]
    ah = [sa.ah_auth_alg for sa in sas if sa.sa_protocol is SaProtocol.AH]
    if not esp and not ah:
        raise SettingsError(f"{policy.where}: policy {policy.name} has no ESP or AH sa")
    first = eff.ipsecs[0]
    return ChildSettings(
        policy=policy.name, selector=out.name, reqid=out.reqid or 0,
        tunnel=eff.ipsec_mode is Mode.TUNNEL,
        local_ts=tuple(t for s in out.src for t in _ts(s, proto, out, expand)),
        remote_ts=tuple(t for s in out.dst for t in _ts(s, proto, out, expand)),
        my_sa_addr=eff.my_sa_ipaddr.address if eff.my_sa_ipaddr else None,
        peers_sa_addr=eff.peers_sa_ipaddr.address if eff.peers_sa_ipaddr else None,
        esp=tuple(esp), esn=first.ext_sequence,
        lifetime_seconds=_limit(first.ipsec_sa_lifetime_time),
        lifetime_bytes=_limit(first.ipsec_sa_lifetime_byte),
        rw=any(spec.is_rw for spec in out.dst), ah=tuple(ah),
        ipcomp=proposals.ipcomp_ids(first))
