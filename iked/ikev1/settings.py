"""What one ISAKMP SA needs from racoon2.conf's ``ikev1`` block, resolved once (pure).

The identities, the PSK reading, the certificates and trust of ``rsasig`` (IKEv2's
:mod:`iked.ikev2.certs`), the retransmission schedule and the Quick Mode side (a
policy's :class:`~iked.ikev2.settings.ChildSettings`) are IKEv2's: the ID type numbers of
RFC 2407 §4.6.2.1 and RFC 7296 §3.5 coincide for every type racoon2.conf can write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iked.ikev1 import dpd, proposals
from iked.ikev2.certs import Credentials, Trust
from iked.ikev2.config_payload import Provide
from iked.ikev2.settings import (
    ReadFile,
    SettingsError,
    _provide,
    identity,
    load_credentials,
    load_trust,
)
from iked.ikev2.window import Schedule
from racoon2.config.effective import ikev1
from racoon2.config.model import Config, ExchangeMode, ProposalCheck, Remote
from racoon2.ikev1.constants import AuthMethod
from racoon2.ikev1.payloads import Transform
from racoon2.ikev2.constants import IdType as WireId

#: racoon2.conf's kmp_auth_method words and their phase 1 numbers (RFC 2409 Appendix A).
_METHODS = {"psk": AuthMethod.PRE_SHARED_KEY, "rsasig": AuthMethod.RSA_SIGNATURES}
#: With ``xauth { }`` the same methods in their XAuth numbers (draft-beaulieu-ike-xauth-02
#: §7.2, racoon's xauth_psk_server / xauth_rsa_server): the client is then asked for a password.
_XAUTH_METHODS = {"psk": AuthMethod.XAUTH_INIT_PRE_SHARED, "rsasig": AuthMethod.XAUTH_INIT_RSA}


@dataclass(frozen=True)
class XauthCheck:
    """Where the gateway checks XAuth passwords: a users file or a PAM service (the values
    alone, so that a SIGHUP that only moves the lines keeps the SAs)."""

    users: str | None
    pam: str | None


@dataclass(frozen=True)
class Phase1Settings:
    """One remote's IKEv1 settings, defaults applied."""

    remote: str
    aggressive: bool
    transforms: tuple[Transform, ...]   # our phase 1 offer, in order (RFC 2409 §5)
    psk: bytes | None = field(repr=False)
    my_ids: tuple[tuple[int, bytes], ...]
    peers_ids: tuple[tuple[int, bytes], ...]
    verify_id: bool
    nonce_size: int
    schedule: Schedule
    lifetime: int                       # seconds, 0 = none
    lifetime_kb: int                    # kilobytes, 0 = none
    proposal_check: ProposalCheck
    need_pfs: bool
    initial_contact: bool
    passive: bool
    credentials: Credentials | None = field(default=None, repr=False)  # rsasig: ours
    trust: Trust | None = None          # rsasig: what vouches for the peer
    send_cert: bool = True
    send_cert_req: bool = True
    nat_traversal: bool = False         # RFC 3947 (iked.ikev1.nat_exchange)
    dpd: dpd.Settings = dpd.Settings(enabled=False)  # RFC 3706 (iked.ikev1.dpd_exchange)
    xauth: XauthCheck | None = None     # the gateway asks its clients for a password
    provide: Provide | None = None      # what a mode-config client gets


def _positive(value: object) -> int:
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def phase1_settings(config: Config, remote: Remote | None, read: ReadFile,
                    read_public: ReadFile | None = None) -> Phase1Settings:
    """The IKEv1 settings of ``remote`` (None: the default section alone)."""
    eff = ikev1(config, remote)
    name = eff.name
    methods = [a.name for a in eff.kmp_auth_method] or ["psk"]
    unknown = [m for m in methods if m not in _METHODS]
    if unknown:
        raise SettingsError(f"remote {name}: kmp_auth_method {', '.join(unknown)} is not "
                            "supported by iked's IKEv1; use psk or rsasig")
    psk = read(eff.pre_shared_key) if eff.pre_shared_key is not None else None
    if "psk" in methods and psk is None:
        raise SettingsError(f"remote {name}: no pre_shared_key for kmp_auth_method psk")
    public = read_public or read
    rsasig = "rsasig" in methods
    # RFC 2409 §5.1: with signatures each side needs its key and a way to check the peer's.
    credentials = load_credentials(name, eff.my_public_key, read, public) if rsasig else None
    trust = load_trust(name, eff.peers_public_key, public) if rsasig else None
    lifetime = _positive(eff.kmp_sa_lifetime_time)
    lifetime_kb = _positive(eff.kmp_sa_lifetime_byte) // 1024
    transforms = proposals.phase1_transforms(eff.kmp_enc_alg, eff.kmp_hash_alg,
                                             eff.kmp_dh_group,
                                             [(_XAUTH_METHODS if eff.xauth else _METHODS)[m]
                                              for m in methods],
                                             lifetime, lifetime_kb)
    if not transforms:
        raise SettingsError(f"remote {name}: kmp_enc_alg, kmp_hash_alg and kmp_dh_group "
                            "are required for ikev1")
    my_ids = tuple(identity(i, read, public) for i in eff.my_id)
    if not my_ids and credentials is not None:
        my_ids = ((WireId.DER_ASN1_DN, credentials.subject_dn),)
    if not isinstance(eff.nonce_size, int):
        raise SettingsError(f"remote {name}: nonce_size infinite, expected a size")
    interval = eff.interval_to_send
    return Phase1Settings(
        remote=name, aggressive=eff.exchange_mode is ExchangeMode.AGGRESSIVE,
        transforms=transforms, psk=psk,
        my_ids=my_ids,
        peers_ids=tuple(identity(i, read, public) for i in eff.peers_id),
        verify_id=eff.verify_id,
        # RFC 2409 §5: nonces of 8 to 256 octets.
        nonce_size=min(max(eff.nonce_size, 8), 256),
        schedule=Schedule(float(interval) if isinstance(interval, int | float) and interval
                          else 1.0, eff.max_retry_to_send, eff.times_per_send),
        lifetime=lifetime, lifetime_kb=lifetime_kb, proposal_check=eff.proposal_check,
        need_pfs=eff.need_pfs, initial_contact=eff.initial_contact, passive=eff.passive,
        credentials=credentials, trust=trust, send_cert=eff.send_cert,
        send_cert_req=eff.send_cert_req, nat_traversal=eff.nat_traversal,
        dpd=dpd.Settings(eff.dpd, float(_positive(eff.dpd_delay)),
                         float(_positive(eff.dpd_retry)) or 5.0, eff.dpd_maxfail),
        xauth=XauthCheck(eff.xauth.users, eff.xauth.pam) if eff.xauth else None,
        provide=_provide(eff.provide))
