"""What kinkd needs from racoon2.conf, resolved into plain values (pure).

:func:`peer_settings` reads a ``remote``'s kink block with the default-section rule applied;
:func:`policy_settings` reads an auto_ipsec ``policy`` (defaults applied) and its outbound
selector as this host sees it.  :func:`principal_for` derives a peer's principal the
original's way when ``peers_principal`` is absent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from kinkd.exchange import EspOffer
from racoon2.config import lookup
from racoon2.config.effective import EffectivePolicy, kink
from racoon2.config.model import (
    AddrKind,
    AddrSpec,
    Config,
    Kmp,
    Policy,
    ProposalCheck,
    Remote,
    SaProtocol,
)
from racoon2.crypto.transforms import Transform, TransformType, by_keyword
from racoon2.errors import CryptoError
from racoon2.errors import SettingsError as SettingsError  # re-exported: callers import it here
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.ipsec import Mode
from racoon2.net import Address

KINK_PORT = 910
#: The original's retransmission: a fixed interval, ``max_retry_to_send`` tries.
DEFAULT_INTERVAL = 1.0



@dataclass(frozen=True)
class PeerSettings:
    """One remote's KINK settings, defaults applied."""

    remote: str
    principal: str | None
    addresses: tuple[AddrSpec, ...]
    port: int
    passive: bool
    nonce_size: int
    interval: float
    max_retry: int
    proposal_check: ProposalCheck = ProposalCheck.OBEY
    #: the first of acceptable_kmp is kink: kinkd initiates for this remote (doc/config.md,
    #: remote); a remote that names ikev2 or ikev1 first is iked's to initiate.
    initiates: bool = True


@dataclass(frozen=True)
class PolicySettings:
    """One auto_ipsec policy's ESP SA, seen from this host."""

    policy: str
    selector: str
    remote: str
    reqid: int
    mode: EncapsulationMode
    offers: tuple[EspOffer, ...]
    lifetime_seconds: int
    lifetime_bytes: int
    local: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    remote_nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    proto: int
    my_sa_addr: Address | None
    peers_sa_addr: Address | None


def my_principal(config: Config) -> str:
    """kinkd's own principal: only the default remote's kink block names it (doc/kinkd.md)."""
    default = config.default_remote
    name = default.kink.my_principal if default and default.kink else None
    if not name:
        raise SettingsError(f"{config.file}: no my_principal in default {{ remote {{ kink "
                            "{ ... } } }")
    return name


def realm_of(principal: str) -> str:
    """``EXAMPLE.COM`` of ``kink/host@EXAMPLE.COM``."""
    return principal.rpartition("@")[2]


def principal_for(host: str, realm: str) -> str:
    """``kink/<fqdn>@<realm>``: the original's peer principal without ``peers_principal``."""
    return f"kink/{host.rstrip('.').lower()}@{realm}"


def peer_settings(config: Config, remote: Remote) -> PeerSettings:
    """``remote``'s kink block with the default-section rule applied."""
    eff = kink(config, remote)
    addresses = eff.peers_ipaddr
    port = next((a.port for a in addresses if a.port), 0) or eff.peers_kmp_port or 0
    interval, retry = eff.interval_to_send, eff.max_retry_to_send
    return PeerSettings(
        remote=remote.name,
        principal=remote.kink.peers_principal if remote.kink else None,
        addresses=addresses,
        port=port or KINK_PORT,
        passive=eff.passive,
        nonce_size=_limit(eff.nonce_size) or 16,
        interval=float(interval) if isinstance(interval, int) and interval > 0
        else DEFAULT_INTERVAL,
        max_retry=retry if retry > 0 else 5,
        proposal_check=eff.proposal_check,
        initiates=not (kmps := lookup.acceptable_kmp(config, remote)) or kmps[0] is Kmp.KINK,
    )


def _offers(policy: EffectivePolicy, mode: EncapsulationMode, lifetime: int
            ) -> tuple[EspOffer, ...]:
    out: list[EspOffer] = []
    for ipsec in policy.ipsecs:
        for sa in ipsec.sas:
            if sa.sa_protocol is not SaProtocol.ESP:
                continue
            try:
                encrs = [by_keyword(TransformType.ENCR, a.name, a.keylen)
                         for a in sa.esp_enc_alg]
                integs = [by_keyword(TransformType.INTEG, a.name, a.keylen)
                          for a in sa.esp_auth_alg]
            except CryptoError as e:
                raise SettingsError(f"{sa.where}: {e.message}") from e
            for encr in encrs:
                choices: list[Transform | None] = [None] if encr.aead else [*integs] or [None]
                out += [EspOffer(encr, integ, mode, lifetime) for integ in choices]
    return tuple(out)


def _nets(specs: Sequence[AddrSpec]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                              ...]:
    out = []
    for spec in specs:
        if spec.kind is AddrKind.INET and spec.address is not None:
            plen = spec.address.max_prefixlen if spec.prefixlen is None else spec.prefixlen
            out.append(ipaddress.ip_network((int(spec.address), plen), strict=False))
        elif spec.kind is AddrKind.RANGE:
            out.extend(spec.prefixes())  # the prefixes spmd installs for the range
    return tuple(out)


def _limit(value: object) -> int:
    """A lifetime in seconds or bytes for the kernel: ``infinite`` (and 0) are no limit, 0."""
    return int(value) if isinstance(value, int) and value > 0 else 0


def policy_settings(config: Config, policy: Policy) -> PolicySettings:
    """The ESP SA ``policy``'s outbound selector describes, ``default { policy { } ipsec { }
    sa { } }`` applied (:func:`racoon2.config.effective.policy`).  Only an auto_ipsec policy
    has one: kinkd negotiates no other (doc/config.md §6, policy)."""
    eff, out = lookup.negotiable(config, policy, "kinkd")
    if policy.remote_index is None:
        raise SettingsError(f"{policy.where}: policy {policy.name} has no remote_index")
    mode = EncapsulationMode.TUNNEL if eff.ipsec_mode is Mode.TUNNEL \
        else EncapsulationMode.TRANSPORT
    first = eff.ipsecs[0] if eff.ipsecs else None
    seconds = _limit(first.ipsec_sa_lifetime_time if first else 0)
    offers = _offers(eff, mode, seconds)
    if not offers:
        raise SettingsError(f"{policy.where}: policy {policy.name} has no ESP sa with an "
                            "esp_enc_alg; KINK negotiates ESP only")
    proto = out.upper_layer_protocol
    return PolicySettings(
        policy=policy.name, selector=out.name, remote=policy.remote_index,
        reqid=out.reqid or 0, mode=mode, offers=offers, lifetime_seconds=seconds,
        lifetime_bytes=_limit(first.ipsec_sa_lifetime_byte if first else 0),
        local=_nets(out.src), remote_nets=_nets(out.dst),
        proto=0 if proto is None or proto == 255 else proto,
        my_sa_addr=eff.my_sa_ipaddr.address if eff.my_sa_ipaddr else None,
        peers_sa_addr=eff.peers_sa_ipaddr.address if eff.peers_sa_ipaddr else None)

