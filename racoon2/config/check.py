"""Per-daemon checks of a loaded configuration: what ``iked -n``, ``spmd -n``, ``kinkd -n`` do.

``check_config`` raises :class:`ConfigError` (``file:line:``) for what would stop the daemon or
make it fail later in an obscure way, and returns warnings for what it will run with but ignore.
Secret files are checked as the daemon would: regular, owned by the running user, mode 0600.
One that does not exist yet is a warning (a configuration is often checked before its keys are
deployed); the daemon itself refuses to start without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from racoon2.config.effective import effective
from racoon2.config.files import check_safe_file, read_secret
from racoon2.config.model import (
    INFINITE,
    AddrKind,
    Config,
    ConfigRequest,
    ConfigWarning,
    Kmp,
    KmpBlock,
    Policy,
    Remote,
    SaProtocol,
    Selector,
)
from racoon2.errors import ConfigError
from racoon2.ipsec import Action, Mode

DAEMONS: Final = ("spmd", "iked", "kinkd", "spmdctl")
_MODP: Final = frozenset({"modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096",
                          "modp6144", "modp8192"})
_MACS: Final = frozenset({"hmac_md5", "hmac_sha1", "hmac_sha2_256", "hmac_sha2_384",
                          "hmac_sha2_512", "aes_xcbc", "aes_cmac"})
_AEAD: Final = frozenset({f"aes{bits}_{mode}{icv}" for bits in (128, 192, 256)
                         for mode in ("gcm", "ccm") for icv in (8, 12, 16)} | {"chacha20_poly1305"})
_GROUPS_V2: Final = _MODP | {"ecp256", "ecp384", "ecp521", "curve25519", "curve448", "mlkem512",
                             "mlkem768", "mlkem1024"}
#: What each daemon can negotiate, per directive (spec config.md §3.9).
SUPPORTED: Final[dict[Kmp, dict[str, frozenset[str]]]] = {
    Kmp.IKEV2: {
        "kmp_enc_alg": frozenset({"3des_cbc", "null_enc", "rijndael_cbc", "aes128_cbc",
                                  "aes192_cbc", "aes256_cbc", "aes_ctr"}) | _AEAD,
        "kmp_hash_alg": _MACS, "kmp_prf_alg": _MACS, "kmp_dh_group": _GROUPS_V2,
        "kmp_auth_method": frozenset({"psk", "rsasig"}),
    },
    Kmp.IKEV1: {
        "kmp_enc_alg": frozenset({"des_cbc", "3des_cbc", "idea_cbc", "rc5_cbc", "cast128_cbc",
                                  "blowfish_cbc", "rijndael_cbc", "aes128_cbc", "aes192_cbc",
                                  "aes256_cbc"}),
        "kmp_hash_alg": frozenset({"md5", "sha1", "sha2_256", "sha2_384", "sha2_512"}),
        "kmp_dh_group": _MODP, "kmp_auth_method": frozenset({"psk", "rsasig"}),
    },
}
ESP_ENC: Final = frozenset({"des_cbc", "3des_cbc", "null_enc", "rijndael_cbc", "aes128_cbc",
                            "aes192_cbc", "aes256_cbc", "aes_ctr", "cast128_cbc",
                            "blowfish_cbc", "twofish_cbc", "idea_cbc", "3idea_cbc", "rc5_cbc",
                            "des_cbc_iv64", "des_cbc_iv32", "rc4_cbc"}) | _AEAD
AUTH: Final = _MACS | {"kpdk_md5", "non_auth"}
IPCOMP: Final = frozenset({"oui", "deflate", "lzs"})
#: Parsed for compatibility, never used by any daemon (spec config.md §7).
UNUSED: Final = ("logmode", "logfile", "mobility_role")
IKEV2_IGNORED: Final = ("verify_pubkey", "send_cert", "send_cert_req", "support_proxy",
                        "proposal_check", "kmp_sa_lifetime_byte", "ipsec_sa_nego_time_limit")


def check_config(config: Config, daemon: str) -> list[ConfigWarning]:
    """Check ``config`` as ``daemon`` reads it; raises ConfigError, returns warnings."""
    if daemon not in DAEMONS:
        raise ValueError(f"unknown daemon {daemon!r}")
    warnings: list[ConfigWarning] = list(config.notes)
    _check_spmif(config, daemon, warnings)
    _check_unused_directives(config, daemon, warnings)
    _check_unread(config, daemon, warnings)
    if daemon == "spmd":
        _check_spmd(config, warnings)
        _check_spmd_resolver_and_tags(config, warnings)
    elif daemon == "iked":
        _check_iked(config, warnings)
    elif daemon == "kinkd":
        _check_kinkd(config, warnings)
    return warnings


def _secret(path: str, where: str | None, warnings: list[ConfigWarning],
            what: str = "key file") -> None:
    """A secret file must be safe (0600, ours); one not made yet is only a warning here."""
    if not os.path.lexists(path):
        warnings.append(ConfigWarning(where or path, f"{what} {path} does not exist yet; "
                                      f"create it with: pskgen -r -o {path}"))
        return
    read_secret(path, where)


def _check_spmif(config: Config, daemon: str, warnings: list[ConfigWarning]) -> None:
    iface = config.interface
    where = iface.where if iface else config.file
    if iface is None or not iface.spmd:
        if daemon == "spmd":
            raise ConfigError("found no 'interface { spmd … }', expected where spmd listens",
                              where, 'add spmd { unix "/var/run/racoon2/spmif"; };')
        return
    if iface.spmd_password is None:
        raise ConfigError("found no spmd_password, expected the spmif password file", where,
                          "create one with: pskgen -r -o /usr/local/etc/racoon2/spmd.pwd")
    _secret(iface.spmd_password, iface.where_of("spmd_password"), warnings,
            "spmif password file")


def _selectors_of(config: Config, kmp: Kmp | None) -> Iterable[tuple[Selector, Remote | None]]:
    for sel in config.selectors:
        policy = sel.policy
        if policy is None or policy.action is not Action.AUTO_IPSEC:
            continue
        remote = policy.remote
        if kmp is not None and kmp not in _acceptable(config, remote):
            continue
        yield sel, remote


def _acceptable(config: Config, remote: Remote | None) -> tuple[Kmp, ...]:
    for r in (remote, config.default_remote):
        if r is not None and r.acceptable_kmp:
            return r.acceptable_kmp
    return ()


def _check_spmd(config: Config, warnings: list[ConfigWarning]) -> None:
    for sel in config.selectors:
        policy = sel.policy
        if policy is None:
            raise ConfigError(f"selector {sel.name!r} has no policy_index, expected one",
                              sel.where, "spmd installs a selector through its policy")
        if policy.install is False or policy.action in (None, Action.NONE, Action.DISCARD):
            continue
        if not sel.src or not sel.dst:
            raise ConfigError(f"selector {sel.name!r} lacks {'src' if not sel.src else 'dst'}, "
                              "expected both src and dst", sel.where)
        if sel.src[0].kind is AddrKind.MACRO and sel.dst[0].kind is AddrKind.MACRO:
            raise ConfigError(f"selector {sel.name!r} has macros for both src and dst, "
                              "expected a concrete address on at least one side", sel.where)
        for side, addrs in (("src", sel.src), ("dst", sel.dst)):
            if len(addrs) > 1:
                warnings.append(ConfigWarning(sel.where_of(side) or sel.where,
                                              f"spmd uses only the first {side} address"))
        for name in ("ipsec_mode", "ipsec_level"):
            if getattr(policy, name) is None:
                raise ConfigError(f"policy {policy.name!r} lacks {name}, expected it for spmd "
                                  f"to install selector {sel.name!r}", policy.where)
        if policy.ipsec_mode is Mode.TUNNEL:
            for name in ("my_sa_ipaddr", "peers_sa_ipaddr"):
                addr = getattr(policy, name)
                if addr is None:
                    raise ConfigError(f"tunnel policy {policy.name!r} lacks {name}, expected "
                                      "the tunnel endpoint", policy.where)
                if addr.kind is AddrKind.FQDN:
                    raise ConfigError(f"found host name {addr.text!r} in {name}, expected an "
                                      "address (tunnel endpoints cannot be names)", addr.where)
        if not policy.ipsecs:
            raise ConfigError(f"policy {policy.name!r} lacks ipsec_index, expected the SAs "
                              "that protect its traffic", policy.where)


#: Distinct selector ``order`` values spmd's kernel priorities tell apart (spmd/policies.py).
MAX_ORDER: Final = 7


def _check_unused_directives(config: Config, daemon: str,
                             warnings: list[ConfigWarning]) -> None:
    """Directives no daemon acts on (the original parsed and dropped them too)."""
    if daemon == "spmdctl":
        return
    for remote in (*config.remotes, *((config.default_remote,) if config.default_remote else ())):
        if (at := remote.where_of("selector_index")) is not None:
            warnings.append(ConfigWarning(at, "selector_index in a remote is never used (the "
                                              "original never read it either); remove it"))
    for sel in config.selectors:
        if (at := sel.where_of("next_header_including")) is not None:
            warnings.append(ConfigWarning(at, "next_header_including (Mobile IPv6 extension "
                                              "headers) is not supported, ignored: the policy "
                                              "matches on src, dst and upper_layer_protocol"))


def _check_spmd_resolver_and_tags(config: Config, warnings: list[ConfigWarning]) -> None:
    """What spmd alone reads: resolver { }, spmif TCP addresses, selector tagged and order."""
    res = config.resolver
    if res is not None:
        for spec in res.nameserver:
            if spec.address is None:
                warnings.append(ConfigWarning(spec.where, f"nameserver {spec.text} is not a "
                                              "numeric address, skipped"))
        for spec in res.dns_query:
            if spec.address is None:
                warnings.append(ConfigWarning(spec.where, f"dns_query {spec.text} is not a "
                                              "numeric address, skipped"))
            elif res.resolver and not spec.address.is_loopback:
                warnings.append(ConfigWarning(spec.where, f"dns_query {spec.address} relays "
                                              "DNS for anyone who reaches it; prefer "
                                              "127.0.0.1 or ::1"))
        if res.resolver and not any(s.address for s in res.nameserver):
            raise ConfigError("found resolver on without a numeric nameserver, expected "
                              "nameserver ADDRESS;", res.where_of("resolver") or res.where,
                              "the DNS proxy forwards queries to it")
        if res.resolver and not any(s.address for s in res.dns_query):
            warnings.append(ConfigWarning(res.where_of("resolver") or res.where,
                                          "resolver on without a numeric dns_query: the DNS "
                                          "proxy has nowhere to listen"))
    for spec in config.interface.spmd if config.interface else ():
        if spec.kind is AddrKind.MACRO:
            warnings.append(ConfigWarning(spec.where, f"spmd {spec.text}: spmif cannot listen "
                                          "on a macro, skipped; give an address"))
        elif spec.address is not None and not spec.address.is_loopback:
            warnings.append(ConfigWarning(spec.where, f"spmif over TCP on {spec.address} is "
                                          "clear text guarded only by the password; use "
                                          "127.0.0.1 or ::1"))
    for sel in config.selectors:
        if sel.tagged is not None:
            raise ConfigError(f"found tagged {sel.tagged!r}, expected no pf tag: Linux XFRM "
                              "policies cannot match BSD pf tags (an XFRM mark is not the "
                              "same), and without the tag the policy would cover more traffic",
                              sel.where_of("tagged") or sel.where,
                              "remove tagged and narrow the selector with src, dst and "
                              "upper_layer_protocol")
        if sel.order is not None and sel.order > MAX_ORDER:
            warnings.append(ConfigWarning(sel.where_of("order") or sel.where,
                                          f"order {sel.order} ranks like {MAX_ORDER}: spmd "
                                          f"tells orders 0 to {MAX_ORDER} apart"))


def _check_iked(config: Config, warnings: list[ConfigWarning]) -> None:
    _check_ike_sockets(config)
    _check_measures(config)
    _check_auth_methods(config)
    _check_ikev1_blocks(config, warnings)
    seen: set[tuple[str, Kmp]] = set()
    for sel, remote in _selectors_of(config, None):
        if sel.policy is not None and sel.policy.remote_index is not None and remote is None:
            raise ConfigError(
                f"found remote_index {sel.policy.remote_index!r}, expected the name of a remote",
                sel.policy.where_of("remote_index"), f"used by selector {sel.name!r}")
    for remote in (*config.remotes, *((config.default_remote,) if config.default_remote else ())):
        for kmp in _acceptable(config, remote):
            if kmp is Kmp.KINK or (remote.name, kmp) in seen:
                continue
            seen.add((remote.name, kmp))
            if remote.block(kmp) is None and remote is not config.default_remote:
                if not any(b for b in _blocks(config, remote, kmp)):
                    raise ConfigError(f"remote {remote.name!r} accepts {kmp.value} but has no "
                                      f"{kmp.value} block, expected one", remote.where)
            _check_kmp(config, remote, kmp, warnings)
    _check_sa_algorithms(config)
    _check_ikev2_bundles(config)
    _check_ikev2_request(config)


def _blocks(config: Config, remote: Remote, kmp: Kmp) -> tuple[KmpBlock | None, ...]:
    default = config.default_remote
    return (remote.block(kmp), default.block(kmp) if default else None)


def _check_kmp(config: Config, remote: Remote, kmp: Kmp, warnings: list[ConfigWarning]) -> None:
    where = (remote.block(kmp) or remote).where
    is_default = remote is config.default_remote
    eff = effective(config, remote, kmp)
    for name, algs in eff.algorithms:
        names = SUPPORTED[kmp].get(name)
        if names is None:
            continue
        if not algs:
            if name == "kmp_enc_alg" and not is_default:
                raise ConfigError(f"remote {remote.name!r} {kmp.value} has no kmp_enc_alg, "
                                  "expected at least one algorithm", where)
            continue
        for alg in algs:
            if alg.name not in names:
                raise ConfigError(f"found {alg.name} in {name}, expected one {kmp.value} "
                                  f"supports: {', '.join(sorted(names))}", alg.where)
    block = remote.block(kmp)
    if kmp is Kmp.IKEV2 and not is_default:
        if not eff.my_id:
            raise ConfigError(f"remote {remote.name!r} ikev2 lacks my_id, expected one", where)
        nonce = eff.nonce_size
        if not isinstance(nonce, int) or not 16 <= nonce <= 256:
            raise ConfigError(f"found nonce_size {nonce}, expected 16 to 256 bytes", where)
        if block is not None:
            for name in IKEV2_IGNORED:
                if (at := block.where_of(name)) is not None:
                    warnings.append(ConfigWarning(at, f"{name} is not used by IKEv2, ignored"))
    if block is not None:
        for name in UNUSED:
            if (at := block.where_of(name)) is not None:
                warnings.append(ConfigWarning(at, f"{name} is parsed but not used, ignored"))
    if eff.pre_shared_key is not None:
        _secret(eff.pre_shared_key, eff.where_of("pre_shared_key"), warnings,
                "pre-shared key file")
    elif any(m.name == "psk" for m in eff.kmp_auth_method) and not is_default:
        raise ConfigError(f"remote {remote.name!r} {kmp.value} uses psk but has no "
                          "pre_shared_key, expected the key file", where)
    key = eff.my_public_key
    if key is not None:
        for path in (key.file, key.second):
            if path is not None and os.path.lexists(path):
                check_safe_file(path, secret=path == key.second, where=key.where)


def _check_sa_algorithms(config: Config) -> None:
    tables = {"esp_enc_alg": ESP_ENC, "esp_auth_alg": AUTH, "ah_auth_alg": AUTH,
              "ipcomp_alg": IPCOMP}
    for sel, _ in _selectors_of(config, None):
        for ipsec in sel.policy.ipsecs if sel.policy else ():
            for sa in ipsec.sas:
                for name, names in tables.items():
                    for alg in getattr(sa, name) or ():
                        if alg.name not in names:
                            raise ConfigError(f"found {alg.name} in {name}, expected one of "
                                              f"{', '.join(sorted(names))}", alg.where)


#: The bundles one IKEv2 CHILD_SA can carry: one protocol per proposal (RFC 7296 §3.3),
#: IPComp beside it through IPCOMP_SUPPORTED (RFC 7296 §2.22).
IKEV2_BUNDLES: Final = (frozenset({SaProtocol.ESP}), frozenset({SaProtocol.AH}),
                        frozenset({SaProtocol.ESP, SaProtocol.IPCOMP}),
                        frozenset({SaProtocol.AH, SaProtocol.IPCOMP}))
#: ipcomp_alg names iked negotiates; OUI is a vendor's private transform with no kernel algorithm.
IKEV2_IPCOMP: Final = frozenset({"deflate", "lzs"})


def ikev2_bundle_problem(policy: Policy) -> tuple[str, str] | None:
    """(file:line, why) when iked cannot negotiate ``policy``'s ``ipsec`` bundles, else None."""
    def kinds(names: Iterable[SaProtocol | None]) -> str:
        return "+".join(sorted(p.value for p in names if p is not None)) or "no sa"

    first: frozenset[SaProtocol | None] | None = None
    for ipsec in policy.ipsecs:
        protos = frozenset(sa.sa_protocol for sa in ipsec.sas)
        at = ipsec.where_of("sa_index") or ipsec.where
        if protos not in IKEV2_BUNDLES:
            why = ("IKEv2 negotiates one protocol per CHILD_SA (RFC 7296 §3.3), so iked cannot "
                   "bundle AH with ESP; use ESP with esp_auth_alg, or AH alone"
                   if {SaProtocol.AH, SaProtocol.ESP} <= protos else
                   "IPComp is negotiated only beside ESP or AH (RFC 7296 §2.22)")
            return at, f"found sa_index {kinds(protos)} in ipsec {ipsec.name!r}, " \
                       f"expected esp, ah, esp+ipcomp or ah+ipcomp: {why}"
        if first is not None and protos != first:
            return at, f"found sa_index {kinds(protos)} in ipsec {ipsec.name!r}, expected " \
                       f"{kinds(first)} as in the policy's first ipsec: spmd installs the " \
                       "first one's templates, every alternative must match them"
        first = protos
        for sa in ipsec.sas:
            for alg in sa.ipcomp_alg or ():
                if alg.name not in IKEV2_IPCOMP:
                    return alg.where, f"found {alg.name} in ipcomp_alg, expected deflate or " \
                                      "lzs: IKEv2 and the kernel have no OUI transform"
    return None


def _check_ikev2_bundles(config: Config) -> None:
    """iked -n: every policy of an IKEv2 remote has a bundle a CHILD_SA can carry."""
    seen: set[str] = set()
    for sel, _ in _selectors_of(config, Kmp.IKEV2):
        if sel.policy is None or sel.policy.name in seen:
            continue
        seen.add(sel.policy.name)
        problem = ikev2_bundle_problem(sel.policy)
        if problem is not None:
            raise ConfigError(problem[1], problem[0])


def _check_ikev2_request(config: Config) -> None:
    """iked -n: ``request { }`` asks only for what iked's CFG_REQUEST carries."""
    for remote in (*config.remotes, *((config.default_remote,) if config.default_remote else ())):
        block = remote.ikev2
        if block is not None and block.request and ConfigRequest.MIP6_HOME_PREFIX in \
                block.request:
            raise ConfigError("found mip6_home_prefix in request, expected ip4, ip6, ip4_dns, "
                              "ip6_dns, ip4_dhcp, ip6_dhcp or application_version: iked does "
                              "not implement Mobile IPv6 home prefixes (RFC 5026)",
                              block.where_of("request") or block.where)


def _check_kinkd(config: Config, warnings: list[ConfigWarning]) -> None:
    default = config.default_remote
    kink = default.kink if default else None
    if kink is None or kink.my_principal is None:
        raise ConfigError("found no my_principal in default { remote { kink { … } } }, "
                          "expected kinkd's own principal", config.default.where
                          if config.default else config.file,
                          'add my_principal "kink/host.example.com@EXAMPLE.COM";')
    for remote in config.remotes:
        if remote.kink is not None and (at := remote.kink.where_of("my_principal")):
            warnings.append(ConfigWarning(at, "kinkd reads my_principal only from the default "
                                              "remote; this one is ignored"))
    _check_measures(config)
    _check_kink_unused(config, warnings)
    _check_kink_sockets(config)


def _check_ike_sockets(config: Config) -> None:
    # The original binds only the interface ike addresses (spec daemons.md §3); without any
    # iked cannot start, so -n says so rather than promise a wildcard socket.
    iface = config.interface
    if iface is None or not iface.ike:
        raise ConfigError("found no 'interface { ike … }', expected the addresses iked listens "
                          "on", iface.where if iface else config.file,
                          'add ike { MY_IP; MY_IP port 4500; }; to the interface section')


def _kmp_blocks(config: Config) -> Iterable[tuple[Remote, Kmp, KmpBlock]]:
    default = config.default_remote
    for remote in (*config.remotes, *((default,) if default else ())):
        for kmp in Kmp:
            block = remote.block(kmp)
            if block is not None:
                yield remote, kmp, block


#: Time and size directives for which ``infinite`` (or 0) has no meaning.
_FINITE: Final = ("interval_to_send", "nonce_size", "dpd_retry")


def _check_measures(config: Config) -> None:
    """``infinite`` is no limit for lifetimes and time limits; elsewhere it is refused."""
    for _, kmp, block in _kmp_blocks(config):
        for name in _FINITE:
            value = getattr(block, name, None)
            if value is INFINITE or (name == "interval_to_send" and value == 0):
                kind = "size" if name == "nonce_size" else "time"
                raise ConfigError(f"found {name} {'infinite' if value else 0}, expected a "
                                  f"positive {kind} in {kmp.value}",
                                  block.where_of(name) or block.where)


def _check_auth_methods(config: Config) -> None:
    for _, kmp, block in _kmp_blocks(config):
        for alg in (block.kmp_auth_method or ()) if kmp is Kmp.IKEV2 else ():
            if alg.name == "dss":
                raise ConfigError("found dss in kmp_auth_method, expected psk or rsasig",
                                  alg.where, "DSS signatures (IKEv2 auth method 3, SHA-1 only, "
                                  "deprecated) are not implemented; use rsasig")


def _check_ikev1_blocks(config: Config, warnings: list[ConfigWarning]) -> None:
    # IKEv1 has no engine yet: said once per remote that accepts it, not per directive.
    for remote, kmp, block in _kmp_blocks(config):
        if kmp is Kmp.IKEV1 and Kmp.IKEV1 in _acceptable(config, remote):
            warnings.append(ConfigWarning(block.where, f"remote {remote.name!r} accepts ikev1, "
                                          "which this iked does not negotiate yet: its ikev1 "
                                          "block (exchange_mode, proposal_check, …) is ignored"))


#: Directives of a kink block that kinkd reads nowhere, as the original (spec config.md §3.4).
KINK_IGNORED: Final = ("times_per_send", "verify_id")


def _check_kink_unused(config: Config, warnings: list[ConfigWarning]) -> None:
    for _, kmp, block in _kmp_blocks(config):
        for name in KINK_IGNORED if kmp is Kmp.KINK else ():
            if (at := block.where_of(name)) is not None:
                warnings.append(ConfigWarning(at, f"{name} is not used by kinkd, ignored"
                                              + (" (the peer is known by its principal)"
                                                 if name == "verify_id" else "")))


def _check_kink_sockets(config: Config) -> None:
    # As for iked: kinkd binds only the interface kink addresses and cannot start without.
    iface = config.interface
    if iface is None or not iface.kink:
        raise ConfigError("found no 'interface { kink … }', expected the addresses kinkd "
                          "listens on", iface.where if iface else config.file,
                          "add kink { MY_IP; }; to the interface section")


#: What kinkd reads of a kink block (kinkd/settings.py); the rest is parsed and dropped.
KINK_READ: Final = ("passive", "peers_ipaddr", "peers_kmp_port", "nonce_size",
                    "interval_to_send", "max_retry_to_send", "proposal_check", "my_principal",
                    "peers_principal", *KINK_IGNORED)
#: ikev2 directives iked reads nowhere: its SK padding is the minimum, in zeros (RFC 7296 §3.14).
IKEV2_UNREAD: Final = ("use_coa", "random_pad_content", "random_padlen", "max_padlen",
                       "kmp_sa_grace_period")


def _check_unread(config: Config, daemon: str, warnings: list[ConfigWarning]) -> None:
    """Directives accepted that no code of ``daemon`` reads, found by doc/config.md §6."""
    def warn(at: str | None, message: str) -> None:
        if at is not None:
            warnings.append(ConfigWarning(at, message))

    if daemon == "spmdctl":
        return
    for sa in config.sas:
        warn(sa.where_of("spi"), "spi is not used: no daemon installs manually keyed SAs")
    for policy in {s.policy.name: s.policy for s in config.selectors if s.policy}.values():
        if policy.action is Action.STATIC_IPSEC:
            warn(policy.where_of("action"), f"policy {policy.name!r} is static_ipsec: no daemon "
                 "installs manually keyed SAs; an ACQUIRE makes iked or kinkd negotiate it as "
                 "auto_ipsec, unchecked by -n; write auto_ipsec")
    if daemon == "spmd":
        return
    for part in ("policy", "sa"):
        warn(config.default.where_of(part) if config.default else None,
             f"default {part} {{ }} is not used: {daemon} reads each {part}'s own directives")
    for _, kmp, block in _kmp_blocks(config):
        if daemon == "kinkd" and kmp is Kmp.KINK:
            for name in dict(block.at):
                if name not in KINK_READ:
                    warn(block.where_of(name), f"{name} is not used by kinkd, ignored")
        if daemon == "iked" and kmp is Kmp.IKEV2:
            for name in IKEV2_UNREAD:
                warn(block.where_of(name), f"{name} is not used by iked's IKEv2, ignored")
            if (provide := block.provide) is None:
                continue
            for name in ("dhcp", "mip6_home_prefix"):
                warn(provide.where_of(name), f"provide {name} is not sent (iked's CFG_REPLY "
                     "carries a pool address, dns and application_version), ignored")
            if provide.addresspool and config.addresspool(provide.addresspool) is None:
                warn(provide.where_of("addresspool"), f"provide addresspool "
                     f"{provide.addresspool!r} names no addresspool: iked leases nothing")
    seen: set[str] = set()
    for sel, _ in _selectors_of(config, Kmp.KINK) if daemon == "kinkd" else ():
        for ipsec in sel.policy.ipsecs if sel.policy else ():
            if ipsec.name in seen:
                continue
            seen.add(ipsec.name)
            warn(ipsec.where_of("ext_sequence"), "ext_sequence is not negotiated by kinkd, ignored")
            for sa in ipsec.sas:
                if sa.sa_protocol is not SaProtocol.ESP and sa.sa_protocol is not None:
                    warn(ipsec.where_of("sa_index") or ipsec.where, f"kinkd keys ESP only (RFC "
                         f"4430): it negotiates no {sa.sa_protocol.value} SA for sa {sa.name!r}")
