"""The effective settings of a remote's ``ikev1``/``ikev2``/``kink`` and of a policy, typed
(pure).

A directive's value comes from the remote's own block, else from the ``default { remote { } }``
block, else from the daemon's built-in table (:mod:`racoon2.config.defaults`; doc/config.md
§3).  :func:`effective` applies that rule once per (remote, protocol) and memoises the
result on the :class:`~racoon2.config.model.Config`, so a daemon reads ``eff.dpd_delay`` instead
of asking for a directive by name, and a load of 10,000 remotes builds nothing until a remote is
used.

Types are per protocol: a directive with a built-in default for that protocol is never None
(``Ikev2Kmp.verify_id`` is a ``bool``, ``KinkKmp.verify_id`` is ``bool | None``).  Lists are
``()`` when written nowhere.  ``infinite`` stays :data:`~racoon2.config.model.INFINITE`: the
daemons decide what it means (for lifetimes and time limits, like 0, no limit).

:func:`policy` does the same for a ``policy``, its ``ipsec`` alternatives and their ``sa``
blocks, from ``default { policy { } ipsec { } sa { } }`` (iked and kinkd; spmd reads each
policy alone).

``my_principal`` and ``peers_principal`` are not here: kinkd reads its own principal only from
the default remote and a peer's only from that remote (doc/config.md §3), not by this rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, TypeVar

from racoon2.config.defaults import BUILTIN, IPSEC, POLICY
from racoon2.config.model import (
    ADDKE_DIRECTIVES,
    AddrSpec,
    AlgSpec,
    Bytes,
    Config,
    ConfigRequest,
    Eap,
    ExchangeMode,
    Identity,
    Ipsec,
    Kmp,
    KmpBlock,
    LogMode,
    MobilityRole,
    Policy,
    Ppk,
    ProposalCheck,
    Provide,
    PublicKey,
    Remote,
    Sa,
    SaProtocol,
    Script,
    ScriptType,
    Seconds,
    SelectorCheck,
    Xauth,
)
from racoon2.ipsec import Action, Level, Mode


@dataclass(frozen=True, slots=True)
class EffectiveKmp:
    """What every protocol has: defaults applied; :meth:`where_of` says who wrote a value."""

    kmp: Kmp
    remote: Remote | None = field(compare=False, repr=False)     # None: the default section
    block: KmpBlock | None = field(compare=False, repr=False)    # the remote's own block
    default_block: KmpBlock | None = field(compare=False, repr=False)
    # -- built in for every protocol
    passive: bool
    use_coa: bool
    nat_traversal: bool
    random_padlen: bool
    max_padlen: Bytes
    interval_to_send: Seconds
    times_per_send: int
    kmp_sa_lifetime_byte: Bytes
    kmp_sa_grace_period: Seconds
    need_pfs: bool
    nonce_size: Bytes
    proposal_check: ProposalCheck
    max_retry_to_send: int
    # -- built in for none: None (or ``()``) when written nowhere
    logmode: LogMode | None
    logfile: str | None
    peers_ipaddr: tuple[AddrSpec, ...]
    peers_kmp_port: int | None
    my_id: tuple[Identity, ...]
    peers_id: tuple[Identity, ...]
    kmp_enc_alg: tuple[AlgSpec, ...]
    kmp_hash_alg: tuple[AlgSpec, ...]
    kmp_prf_alg: tuple[AlgSpec, ...]
    kmp_dh_group: tuple[AlgSpec, ...]
    kmp_auth_method: tuple[AlgSpec, ...]
    mobility_role: MobilityRole | None
    script: tuple[Script, ...]
    my_gssapi_id: str | None
    my_public_key: PublicKey | None
    peers_public_key: PublicKey | None
    pre_shared_key: str | None
    require_config_payload: bool | None
    request: ConfigRequest | None
    provide: Provide | None
    xauth: Xauth | None
    eap: Eap | None
    #: ikev2 only (RFC 9370 positions); () elsewhere.
    kmp_addke1: tuple[AlgSpec, ...]
    kmp_addke2: tuple[AlgSpec, ...]
    kmp_addke3: tuple[AlgSpec, ...]
    kmp_addke4: tuple[AlgSpec, ...]
    kmp_addke5: tuple[AlgSpec, ...]
    kmp_addke6: tuple[AlgSpec, ...]
    kmp_addke7: tuple[AlgSpec, ...]
    #: ikev2 only (RFC 8784): the PPKs, the first one offered; () elsewhere.
    ppk: tuple[Ppk, ...]
    ppk_required: bool | None

    @property
    def additional_ke(self) -> tuple[tuple[str, tuple[AlgSpec, ...]], ...]:
        """``kmp_addke1``..``kmp_addke7`` with their names, position order (RFC 9370)."""
        return tuple((name, getattr(self, name)) for name in ADDKE_DIRECTIVES)

    @property
    def name(self) -> str:
        """The remote's name, ``default`` for the default section alone."""
        return self.remote.name if self.remote is not None else "default"

    @property
    def algorithms(self) -> tuple[tuple[str, tuple[AlgSpec, ...]], ...]:
        """The ``kmp_*_alg`` lists (and ``kmp_auth_method``) with their directive names."""
        return (("kmp_enc_alg", self.kmp_enc_alg), ("kmp_hash_alg", self.kmp_hash_alg),
                ("kmp_prf_alg", self.kmp_prf_alg), ("kmp_dh_group", self.kmp_dh_group),
                ("kmp_auth_method", self.kmp_auth_method))

    def where_of(self, directive: str) -> str | None:
        """``file:line`` of the written value in effect: the remote's block, else the
        default's; None for a built-in value."""
        for block in (self.block, self.default_block):
            if block is not None and (at := block.where_of(directive)) is not None:
                return at
        return None

    def script_for(self, kind: ScriptType) -> str | None:
        """The path of the hook of type ``kind`` (last written wins), or None."""
        found = None
        for s in self.script:
            if s.type is kind:
                found = s.path
        return found


@dataclass(frozen=True, slots=True)
class _IkeKmp(EffectiveKmp):
    """Built in for IKEv1 and IKEv2 alike."""

    verify_id: bool
    initial_contact: bool
    random_pad_content: bool
    kmp_sa_lifetime_time: Seconds
    kmp_sa_nego_time_limit: Seconds
    ipsec_sa_nego_time_limit: Seconds
    dpd_delay: Seconds


@dataclass(frozen=True, slots=True)
class Ikev1Kmp(_IkeKmp):
    """A remote's ikev1 settings."""

    verify_pubkey: bool
    send_cert: bool
    send_cert_req: bool
    support_proxy: bool
    exchange_mode: ExchangeMode
    dpd: bool
    dpd_retry: Seconds
    dpd_maxfail: int
    selector_check: SelectorCheck | None
    cookie_required: bool | None
    send_peers_id: bool | None
    fragmentation: bool | None
    fragment_size: Bytes | None
    proposal_profile: tuple[str, ...]
    mobike: bool | None


@dataclass(frozen=True, slots=True)
class Ikev2Kmp(_IkeKmp):
    """A remote's ikev2 settings."""

    selector_check: SelectorCheck
    cookie_required: bool
    send_peers_id: bool
    fragmentation: bool
    fragment_size: Bytes
    proposal_profile: tuple[str, ...]
    mobike: bool
    verify_pubkey: bool | None
    send_cert: bool | None
    send_cert_req: bool | None
    support_proxy: bool | None
    exchange_mode: ExchangeMode | None
    dpd: bool | None
    dpd_retry: Seconds | None
    dpd_maxfail: int | None


@dataclass(frozen=True, slots=True)
class KinkKmp(EffectiveKmp):
    """A remote's kink settings."""

    verify_id: bool | None
    initial_contact: bool | None
    random_pad_content: bool | None
    kmp_sa_lifetime_time: Seconds | None
    kmp_sa_nego_time_limit: Seconds | None
    ipsec_sa_nego_time_limit: Seconds | None
    dpd_delay: Seconds | None
    verify_pubkey: bool | None
    send_cert: bool | None
    send_cert_req: bool | None
    support_proxy: bool | None
    exchange_mode: ExchangeMode | None
    dpd: bool | None
    dpd_retry: Seconds | None
    dpd_maxfail: int | None
    selector_check: SelectorCheck | None
    cookie_required: bool | None
    send_peers_id: bool | None
    fragmentation: bool | None
    fragment_size: Bytes | None
    proposal_profile: tuple[str, ...]
    mobike: bool | None


_K = TypeVar("_K", bound=EffectiveKmp)
_CLASS: Final[dict[Kmp, type[EffectiveKmp]]] = {
    Kmp.IKEV1: Ikev1Kmp, Kmp.IKEV2: Ikev2Kmp, Kmp.KINK: KinkKmp}
_NOT_DIRECTIVES: Final = frozenset({"kmp", "remote", "block", "default_block"})
_LISTS: Final = frozenset({"peers_ipaddr", "my_id", "peers_id", "kmp_enc_alg", "kmp_hash_alg",
                           "kmp_prf_alg", "kmp_dh_group", "kmp_auth_method", "script",
                           "proposal_profile", "ppk",
                           *ADDKE_DIRECTIVES})
#: Each protocol's values when nothing is written: built in, else ``()`` for a list, else None.
_BUILT_IN: Final = {
    kmp: {f.name: BUILTIN[kmp].get(f.name, () if f.name in _LISTS else None)
          for f in fields(cls) if f.name not in _NOT_DIRECTIVES}
    for kmp, cls in _CLASS.items()}


def effective(config: Config, remote: Remote | None, kmp: Kmp) -> EffectiveKmp:
    """``remote``'s ``kmp`` settings (None: the default section's alone), defaults applied."""
    return _get(config, remote, kmp, _CLASS[kmp])


def ikev1(config: Config, remote: Remote | None) -> Ikev1Kmp:
    """``remote``'s ikev1 settings, defaults applied."""
    return _get(config, remote, Kmp.IKEV1, Ikev1Kmp)


def ikev2(config: Config, remote: Remote | None) -> Ikev2Kmp:
    """``remote``'s ikev2 settings, defaults applied."""
    return _get(config, remote, Kmp.IKEV2, Ikev2Kmp)


def kink(config: Config, remote: Remote | None) -> KinkKmp:
    """``remote``'s kink settings, defaults applied."""
    return _get(config, remote, Kmp.KINK, KinkKmp)


def _get(config: Config, remote: Remote | None, kmp: Kmp, cls: type[_K]) -> _K:
    # Keyed by identity: hashing a frozen Remote would hash its whole tree.  The entry holds
    # the remote, so its id cannot be reused by another object while it is cached.
    key = (id(remote), kmp)
    found = config.effective_cache.get(key)
    if not isinstance(found, cls):
        found = _build(config, remote, kmp, cls)
        config.effective_cache[key] = found
    return found


def _build(config: Config, remote: Remote | None, kmp: Kmp, cls: type[_K]) -> _K:
    mine = remote.block(kmp) if remote is not None else None
    default = config.default_remote
    theirs = default.block(kmp) if default is not None else None
    values: dict[str, Any] = dict(_BUILT_IN[kmp])
    # A block's ``at`` lists exactly the directives written in it (the loader records both
    # together), so only those are read, a few per block rather than all 50-odd: the first
    # address lookup over 10,000 remotes builds every one of them.
    for block in (theirs, mine):
        for name, _ in block.at if block is not None else ():
            if name in values and (value := getattr(block, name)) is not None:
                values[name] = value
    return cls(kmp=kmp, remote=remote, block=mine, default_block=theirs, **values)


# -- policy, ipsec, sa: the same rule for the blocks a CHILD_SA is built from -------------


@dataclass(frozen=True, slots=True)
class EffectiveSa:
    """One ``sa``, its algorithm lists from ``default { sa { } }`` where it writes none.

    ``sa_protocol`` is the sa's own (the loader refuses an sa without one)."""

    sa: Sa = field(compare=False, repr=False)
    sa_protocol: SaProtocol | None
    esp_enc_alg: tuple[AlgSpec, ...]
    esp_auth_alg: tuple[AlgSpec, ...]
    ah_auth_alg: tuple[AlgSpec, ...]
    ipcomp_alg: tuple[AlgSpec, ...]

    @property
    def name(self) -> str:
        """The sa's name."""
        return self.sa.name

    @property
    def where(self) -> str:
        """``file:line`` of the sa block."""
        return self.sa.where


@dataclass(frozen=True, slots=True)
class EffectiveIpsec:
    """One ``ipsec``, from ``default { ipsec { } }`` and the built-in table where it is silent."""

    ipsec: Ipsec = field(compare=False, repr=False)
    ipsec_sa_lifetime_time: Seconds
    ipsec_sa_lifetime_byte: Bytes
    ext_sequence: bool
    sas: tuple[EffectiveSa, ...]

    @property
    def name(self) -> str:
        """The ipsec's name."""
        return self.ipsec.name

    @property
    def where(self) -> str:
        """``file:line`` of the ipsec block."""
        return self.ipsec.where

    def where_of(self, directive: str) -> str | None:
        """``file:line`` of ``directive`` in the ipsec itself (None: not written there)."""
        return self.ipsec.where_of(directive)


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """One ``policy`` as iked and kinkd read it: ``default { policy { } }`` fills what it
    leaves out (spmd reads the policy alone, doc/config.md §3).

    ``remote_index`` and ``ipsec_index`` are the policy's own: the loader links them."""

    policy: Policy = field(compare=False, repr=False)
    action: Action | None
    install: bool
    ipsec_mode: Mode | None
    ipsec_level: Level | None
    my_sa_ipaddr: AddrSpec | None
    peers_sa_ipaddr: AddrSpec | None
    ipsecs: tuple[EffectiveIpsec, ...]

    @property
    def name(self) -> str:
        """The policy's name."""
        return self.policy.name

    @property
    def where(self) -> str:
        """``file:line`` of the policy block."""
        return self.policy.where

    @property
    def remote_index(self) -> str | None:
        """The remote the policy names."""
        return self.policy.remote_index


#: What a policy, ipsec or sa is when neither it nor the default section writes a directive.
_POLICY_BUILT_IN: Final[Mapping[str, Any]] = {
    **dict.fromkeys(("action", "ipsec_mode", "ipsec_level", "my_sa_ipaddr", "peers_sa_ipaddr")),
    **POLICY}
_SA_BUILT_IN: Final[Mapping[str, Any]] = dict.fromkeys(
    ("esp_enc_alg", "esp_auth_alg", "ah_auth_alg", "ipcomp_alg"), ())


def policy(config: Config, p: Policy) -> EffectivePolicy:
    """``p`` with the default section's policy, ipsec and sa blocks applied, field by field
    (doc/config.md §3); built once per policy and memoised like :func:`effective`."""
    key = (id(p), None)
    found = config.effective_cache.get(key)
    if not isinstance(found, EffectivePolicy):
        found = _build_policy(config, p)
        config.effective_cache[key] = found
    return found


def _merged(own: object, default: object | None, built_in: Mapping[str, Any]
            ) -> dict[str, Any]:
    values = dict(built_in)
    for name in built_in:
        for block in (own, default):
            if block is not None and (value := getattr(block, name)) is not None:
                values[name] = value
                break
    return values


def _build_policy(config: Config, p: Policy) -> EffectivePolicy:
    d = config.default
    ipsecs = tuple(
        EffectiveIpsec(ipsec=i, **_merged(i, d.ipsec if d else None, IPSEC),
                       sas=tuple(EffectiveSa(sa=s, sa_protocol=s.sa_protocol,
                                             **_merged(s, d.sa if d else None, _SA_BUILT_IN))
                                 for s in i.sas))
        for i in p.ipsecs)
    return EffectivePolicy(policy=p, ipsecs=ipsecs,
                           **_merged(p, d.policy if d else None, _POLICY_BUILT_IN))
