"""``iked -n``: the remotes' ikev2 (and ikev1) blocks, the algorithms and bundles iked
negotiates, its sockets, and the directives it parses but never reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from racoon2.config.check_common import (
    Warn,
    acceptable,
    check_measures,
    key_file,
    kmp_blocks,
    require_sockets,
    secret,
    selectors_of,
)
from racoon2.config.effective import EffectiveKmp, EffectivePolicy, Ikev2Kmp, effective, ikev1
from racoon2.config.effective import policy as effective_policy
from racoon2.config.files import exists, read_secret
from racoon2.config.model import (
    Config,
    ConfigRequest,
    ConfigWarning,
    EapMethod,
    ExchangeMode,
    KeyType,
    Kmp,
    KmpBlock,
    Remote,
    SaProtocol,
)
from racoon2.crypto import dh
from racoon2.crypto.transforms import TransformType, by_keyword
from racoon2.errors import ConfigError

_MODP: Final = frozenset({"modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096",
                          "modp6144", "modp8192"})


_MACS: Final = frozenset({"hmac_md5", "hmac_sha1", "hmac_sha2_256", "hmac_sha2_384",
                          "hmac_sha2_512", "aes_xcbc", "aes_cmac"})


_AEAD: Final = frozenset({f"aes{bits}_{mode}{icv}" for bits in (128, 192, 256)
                         for mode in ("gcm", "ccm") for icv in (8, 12, 16)} | {"chacha20_poly1305"})


_GROUPS_V2: Final = _MODP | {"ecp256", "ecp384", "ecp521", "curve25519", "curve448", "mlkem512",
                             "mlkem768", "mlkem1024"}


#: What each daemon can negotiate, per directive (doc/config.md, "Algorithms").
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


#: Parsed for compatibility, never used by any daemon (doc/config.md §6).
UNUSED: Final = ("logmode", "logfile", "mobility_role")


IKEV2_IGNORED: Final = ("verify_pubkey", "send_cert", "send_cert_req", "support_proxy",
                        "proposal_check", "kmp_sa_lifetime_byte", "ipsec_sa_nego_time_limit")


def check_iked(config: Config, warnings: list[ConfigWarning]) -> None:
    """iked -n: sockets, the remotes' kmp blocks and keys, the policies' algorithms and
    bundles."""
    require_sockets(config, "ike", "iked", "ike { MY_IP; MY_IP port 4500; };")
    check_measures(config)
    _check_auth_methods(config)
    _check_ikev1_blocks(config, warnings)
    seen: set[tuple[str, Kmp]] = set()
    for sel, remote in selectors_of(config, None):
        if sel.policy is not None and sel.policy.remote_index is not None and remote is None:
            raise ConfigError(
                f"found remote_index {sel.policy.remote_index!r}, expected the name of a remote",
                sel.policy.where_of("remote_index"), f"used by selector {sel.name!r}")
    for remote in (*config.remotes, *((config.default_remote,) if config.default_remote else ())):
        for kmp in acceptable(config, remote):
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


def _check_additional_ke(eff: Ikev2Kmp) -> None:
    """``kmp_addke1``..``kmp_addke7`` name key exchanges IKEv2 has (or ``none``), and no
    ML-KEM the installed cryptography lacks, here or in ``kmp_dh_group``."""
    for name, algs in (*eff.additional_ke, ("kmp_dh_group", eff.kmp_dh_group)):
        for alg in algs:
            if alg.name == "none" and name != "kmp_dh_group":
                continue
            if alg.name not in _GROUPS_V2:
                raise ConfigError(f"found {alg.name} in {name}, expected a key exchange IKEv2 "
                                  f"supports or none: {', '.join(sorted(_GROUPS_V2))}",
                                  alg.where)
            if not dh.available(by_keyword(TransformType.KE, alg.name).ident):
                raise ConfigError(f"{alg.name} in {name} is not available in the installed "
                                  "cryptography package", alg.where,
                                  "use mlkem768 or mlkem1024; see doc/iked.md, Post-quantum")


def _blocks(config: Config, remote: Remote, kmp: Kmp) -> tuple[KmpBlock | None, ...]:
    default = config.default_remote
    return (remote.block(kmp), default.block(kmp) if default else None)


#: RFC 8784 §3's 256 bits, in bytes.
PPK_MIN: Final = 32


def _check_ppk(eff: Ikev2Kmp, is_default: bool, warnings: list[ConfigWarning]) -> None:
    """RFC 8784 PPKs: each PPK_ID once, each key file safe (0600, ours), and
    ``ppk_required on`` only with a PPK to use."""
    seen: dict[str, str] = {}
    for p in eff.ppk:
        if p.id in seen:
            raise ConfigError(f"found PPK_ID {p.id!r} twice, expected one key per PPK_ID",
                              p.where, f"the first is at {seen[p.id]}")
        seen[p.id] = p.where
        secret(p.file, p.where, warnings, "PPK file")
        if exists(p.file) and len(read_secret(p.file, p.where)) < PPK_MIN:
            # RFC 8784 §3: a PPK SHOULD have at least 256 bits of entropy.
            warnings.append(ConfigWarning(p.where, f"PPK file {p.file} holds fewer than "
                                          f"{PPK_MIN} bytes; make one with: pskgen -r -s 32 "
                                          f"-o {p.file}"))
    if eff.ppk_required and not eff.ppk and not is_default:
        raise ConfigError(f"remote {eff.name!r} ikev2 has ppk_required on but no ppk, "
                          'expected ppk "PPK_ID" "FILE";', eff.where_of("ppk_required"))


def _check_kmp(config: Config, remote: Remote, kmp: Kmp, warnings: list[ConfigWarning]) -> None:
    where = (remote.block(kmp) or remote).where
    is_default = remote is config.default_remote
    eff = effective(config, remote, kmp)
    for name, algs in eff.algorithms:
        names = SUPPORTED[kmp].get(name)
        if names is None:
            continue
        if not algs:
            if name == "kmp_enc_alg" and not is_default and not (
                    isinstance(eff, Ikev2Kmp) and eff.proposal_profile):
                raise ConfigError(f"remote {remote.name!r} {kmp.value} has no kmp_enc_alg, "
                                  "expected at least one algorithm", where)
            continue
        for alg in algs:
            if alg.name not in names:
                raise ConfigError(f"found {alg.name} in {name}, expected one {kmp.value} "
                                  f"supports: {', '.join(sorted(names))}", alg.where)
    if isinstance(eff, Ikev2Kmp):
        _check_additional_ke(eff)
        _check_fragment_size(eff)
        _check_ppk(eff, is_default, warnings)
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
        secret(eff.pre_shared_key, eff.where_of("pre_shared_key"), warnings,
                "pre-shared key file")
    elif any(m.name == "psk" for m in eff.kmp_auth_method) and not is_default:
        raise ConfigError(f"remote {remote.name!r} {kmp.value} uses psk but has no "
                          "pre_shared_key, expected the key file", where)
    if kmp is Kmp.IKEV2 and not is_default:
        _check_rsasig(eff)
        if isinstance(eff, Ikev2Kmp):
            _check_eap(eff)
            for server in eff.eap.radius_server if eff.eap is not None else ():
                secret(server.secret, server.where, warnings, "RADIUS shared secret file")
    for name, spec in (("my_public_key", eff.my_public_key),
                       ("peers_public_key", eff.peers_public_key)):
        for path in (spec.file, spec.second) if spec is not None else ():
            if path is not None:
                key_file(path, spec.where if spec else None, warnings, name,
                         private=spec is not None and path == spec.second)


#: ``fragment_size`` bounds: RFC 791's 576 octets every IPv4 host takes, up to the largest
#: IP datagram (RFC 7383 §2.5.1 sizes fragments by the IP datagram, as strongSwan does).
FRAGMENT_SIZES: Final = (576, 65535)


def _check_fragment_size(eff: Ikev2Kmp) -> None:
    size = eff.fragment_size
    low, high = FRAGMENT_SIZES
    if not isinstance(size, int) or not low <= size <= high:
        raise ConfigError(f"found fragment_size {size}, expected {low} to {high} bytes (the IP "
                          "datagram of one IKE fragment)", eff.where_of("fragment_size"))


def _check_rsasig(eff: EffectiveKmp) -> None:
    """What iked's ``peer_settings`` needs for rsasig: our certificate and private key when we
    sign (rsasig first), the peer's certificate or CA when we verify (rsasig anywhere)."""
    methods = eff.kmp_auth_method
    rsasig = next((m for m in methods if m.name == "rsasig"), None)
    if rsasig is None:
        return
    mine = eff.my_public_key
    if methods[0] is rsasig and (mine is None or mine.type is not KeyType.X509PEM
                                 or mine.second is None):
        raise ConfigError(f"remote {eff.name!r} ikev2 signs with rsasig but has no "
                          "my_public_key x509pem CERTFILE KEYFILE, expected our certificate "
                          "and private key", rsasig.where,
                          'add my_public_key x509pem "my.crt" "my.key"; (or put psk first)')
    theirs = eff.peers_public_key
    if theirs is None and eff.eap is not None:
        return  # EAP clients need not sign (iked's peer_settings)
    if theirs is None or theirs.type is not KeyType.X509PEM:
        raise ConfigError(f"remote {eff.name!r} ikev2 accepts rsasig but has no "
                          "peers_public_key x509pem FILE, expected the peer's certificate or "
                          "its CA certificates", rsasig.where,
                          'add peers_public_key x509pem "peer.crt";')


def _check_eap(eff: Ikev2Kmp) -> None:
    """``eap { }``: RFC 7296 §2.16 has the responder prove itself with a certificate (the
    native clients insist), so rsasig comes first and our certificate is configured."""
    if eff.eap is None:
        return
    methods = [m.name for m in eff.kmp_auth_method]
    if not methods or methods[0] != "rsasig" or eff.my_public_key is None:
        raise ConfigError(f"remote {eff.name!r} ikev2 has eap but does not authenticate "
                          "itself with a certificate, expected kmp_auth_method { rsasig; } "
                          "and my_public_key x509pem CERTFILE KEYFILE", eff.eap.where,
                          "doc/iked.md, VPN server for phones and laptops")
    if eff.eap.method is EapMethod.TLS:
        theirs = eff.peers_public_key
        if theirs is None or theirs.type is not KeyType.X509PEM:
            raise ConfigError(f"remote {eff.name!r} ikev2 has eap {{ method tls; }} but no "
                              "peers_public_key x509pem FILE, expected the CA certificates "
                              "that issue the clients' certificates", eff.eap.where)


def _check_sa_algorithms(config: Config) -> None:
    tables = {"esp_enc_alg": ESP_ENC, "esp_auth_alg": AUTH, "ah_auth_alg": AUTH,
              "ipcomp_alg": IPCOMP}
    for sel, _ in selectors_of(config, None):
        for ipsec in effective_policy(config, sel.policy).ipsecs if sel.policy else ():
            for sa in ipsec.sas:  # the default sa's algorithms included
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


def ikev2_bundle_problem(policy: EffectivePolicy) -> tuple[str, str] | None:
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
    for sel, _ in selectors_of(config, Kmp.IKEV2):
        if sel.policy is None or sel.policy.name in seen:
            continue
        seen.add(sel.policy.name)
        problem = ikev2_bundle_problem(effective_policy(config, sel.policy))
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


def _check_auth_methods(config: Config) -> None:
    for _, kmp, block in kmp_blocks(config):
        for alg in (block.kmp_auth_method or ()) if kmp is Kmp.IKEV2 else ():
            if alg.name == "dss":
                raise ConfigError("found dss in kmp_auth_method, expected psk or rsasig",
                                  alg.where, "DSS signatures (IKEv2 auth method 3, SHA-1 only, "
                                  "deprecated) are not implemented; use rsasig")


#: racoon(8)'s warning for aggressive mode with a pre-shared key (CERT VU#886601): the
#: responder's HASH_R goes in the clear, so an eavesdropper can try pre-shared keys offline.
AGGRESSIVE_PSK_WARNING: Final = ("aggressive mode with a pre-shared key is vulnerable to an "
                                 "offline dictionary attack on the key (CERT VU#886601); use "
                                 "main mode, or a long random key (pskgen)")


def _check_ikev1_blocks(config: Config, warnings: list[ConfigWarning]) -> None:
    # What iked's IKEv1 engine does not do yet is said once per block, where it is written.
    for remote, kmp, block in kmp_blocks(config):
        if kmp is not Kmp.IKEV1 or Kmp.IKEV1 not in acceptable(config, remote):
            continue
        eff = ikev1(config, remote)
        methods = [a.name for a in eff.kmp_auth_method] or ["psk"]
        mode = eff.exchange_mode
        if mode is ExchangeMode.AGGRESSIVE and "psk" in methods:
            warnings.append(ConfigWarning(eff.where_of("exchange_mode") or block.where,
                                          f"remote {remote.name!r}: {AGGRESSIVE_PSK_WARNING}"))
        if mode is ExchangeMode.BASE:
            warnings.append(ConfigWarning(eff.where_of("exchange_mode") or block.where,
                                          f"remote {remote.name!r}: exchange_mode base is not "
                                          "implemented (nor was it in the original): use main"))


#: ikev2 directives iked reads nowhere: its SK padding is the minimum, in zeros (RFC 7296 §3.14).
IKEV2_UNREAD: Final = ("use_coa", "random_pad_content", "random_padlen", "max_padlen",
                       "kmp_sa_grace_period")


def iked_unread(config: Config, warn: Warn) -> None:
    """iked -n: ikev2 directives iked parses but never reads, and ``provide`` options (ikev1
    and ikev2) it does not send (doc/config.md §6)."""
    for _, kmp, block in kmp_blocks(config):
        if kmp is Kmp.IKEV2:
            for name in IKEV2_UNREAD:
                warn(block.where_of(name), f"{name} is not used by iked's IKEv2, ignored")
        if (provide := block.provide) is None:
            continue
        for name in ("dhcp", "mip6_home_prefix"):
            warn(provide.where_of(name), f"provide {name} is not sent (iked's CFG_REPLY and "
                 "mode-config REPLY carry a pool address, dns and application_version), "
                 "ignored")
        for pool in provide.addresspool:
            if config.addresspool(pool) is None:
                warn(provide.where_of("addresspool"), f"provide addresspool {pool!r} names no "
                     "addresspool: iked leases nothing from it")
        if kmp is not Kmp.IKEV2:
            for name in ("dns_domain", "subnet", "lease_time"):
                warn(provide.where_of(name), f"provide {name} is not sent by IKEv1 "
                     "mode-config, ignored")
