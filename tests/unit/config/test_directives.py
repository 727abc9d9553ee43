"""Every directive of every block, with the value the model holds (doc/config.md §2)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from racoon2.config import Config
from racoon2.config import build as b
from racoon2.config.model import (
    INFINITE,
    AddrKind,
    AddrSpec,
    AlgSpec,
    ConfigRequest,
    ExchangeMode,
    Identity,
    IdQualifier,
    IdType,
    KeyType,
    Kmp,
    LogMode,
    MobilityRole,
    Ppk,
    ProposalCheck,
    PublicKey,
    SaProtocol,
    Script,
    ScriptType,
    SelectorCheck,
)
from racoon2.ipsec import Action, Direction, Level, Mode

Load = Callable[..., Config]
ANY = object()  # "where" is not compared in these cases


def addr(text: str, kind: AddrKind = AddrKind.INET, port: int = 0, prefixlen: int | None = None,
         ifname: str | None = None) -> tuple[Any, ...]:
    return (kind, text, port, prefixlen, ifname)


def shape(value: Any) -> Any:
    """Drop the where/address fields so cases can be written compactly."""
    if isinstance(value, tuple):
        return tuple(shape(v) for v in value)
    if isinstance(value, AddrSpec):
        plen = value.prefixlen if value.kind is not AddrKind.INET or value.prefixlen != (
            value.address.max_prefixlen if value.address else None) else None
        return (value.kind, value.text, value.port, plen, value.ifname)
    if isinstance(value, AlgSpec):
        return (value.name, value.keylen, value.key)
    if isinstance(value, Identity):
        return (value.type, value.qualifier, value.value)
    if isinstance(value, PublicKey):
        return (value.type, value.file, value.second)
    if isinstance(value, Script):
        return (value.type, value.path)
    if isinstance(value, Ppk):
        return (value.id, value.file)
    return value


KMP = "kmp"
CASES: list[tuple[str, str, str, Any]] = [
    # -- common kmp directives (in ikev1, ikev2 and kink) -------------------------------------
    (KMP, "logmode debug;", "logmode", LogMode.DEBUG),
    (KMP, 'logfile "/var/log/x";', "logfile", "/var/log/x"),
    (KMP, "passive on;", "passive", True),
    (KMP, "use_coa off;", "use_coa", False),
    (KMP, "peers_ipaddr 192.0.2.2 port 500;", "peers_ipaddr", (addr("192.0.2.2", port=500),)),
    (KMP, "peers_kmp_port 4500;", "peers_kmp_port", 4500),
    (KMP, "verify_id yes;", "verify_id", True),
    (KMP, "verify_pubkey no;", "verify_pubkey", False),
    (KMP, "send_cert enable;", "send_cert", True),
    (KMP, "send_cert_req disable;", "send_cert_req", False),
    (KMP, "nonce_size 32 B;", "nonce_size", 32),
    (KMP, "initial_contact on;", "initial_contact", True),
    (KMP, "support_proxy on;", "support_proxy", True),
    (KMP, "nat_traversal off;", "nat_traversal", False),
    (KMP, 'my_id fqdn "gw.example.net";', "my_id", ((IdType.FQDN, None, "gw.example.net"),)),
    (KMP, "peers_id { ipaddr 192.0.2.2; email a@example.net; keyid tag abc; };", "peers_id",
     ((IdType.IPADDR, None, "192.0.2.2"), (IdType.EMAIL, None, "a@example.net"),
      (IdType.KEYID, IdQualifier.TAG, "abc"))),
    (KMP, "selector_check exact;", "selector_check", SelectorCheck.EXACT),
    (KMP, "proposal_check claim;", "proposal_check", ProposalCheck.CLAIM),
    (KMP, "random_pad_content on;", "random_pad_content", True),
    (KMP, "random_padlen on;", "random_padlen", True),
    (KMP, "max_padlen 2 KB;", "max_padlen", 2048),
    (KMP, "max_retry_to_send 0x10;", "max_retry_to_send", 16),
    (KMP, "interval_to_send 2 min;", "interval_to_send", 120),
    (KMP, "times_per_send 2;", "times_per_send", 2),
    (KMP, "kmp_sa_lifetime_time infinite;", "kmp_sa_lifetime_time", INFINITE),
    (KMP, "kmp_sa_lifetime_byte 1 MB;", "kmp_sa_lifetime_byte", 1024 * 1024),
    (KMP, "kmp_sa_nego_time_limit 1 hour;", "kmp_sa_nego_time_limit", 3600),
    (KMP, "kmp_sa_grace_period 1 day;", "kmp_sa_grace_period", 86400),
    (KMP, "ipsec_sa_nego_time_limit 010;", "ipsec_sa_nego_time_limit", 10),
    (KMP, "kmp_enc_alg { aes128_cbc; rijndael_cbc, 256; aes_ctr,,0xabcd; };", "kmp_enc_alg",
     (("aes128_cbc", None, None), ("rijndael_cbc", 256, None), ("aes_ctr", -1, "0xabcd"))),
    (KMP, "kmp_hash_alg hmac_sha2_256;", "kmp_hash_alg", (("hmac_sha2_256", None, None),)),
    (KMP, "kmp_prf_alg { hmac_sha1; aes_cmac; };", "kmp_prf_alg",
     (("hmac_sha1", None, None), ("aes_cmac", None, None))),
    (KMP, "kmp_dh_group { 14; 2; };", "kmp_dh_group",
     (("modp2048", None, None), ("modp1024", None, None))),
    (KMP, "kmp_auth_method { psk; rsasig; };", "kmp_auth_method",
     (("psk", None, None), ("rsasig", None, None))),
    (KMP, "mobility_role mobile;", "mobility_role", MobilityRole.MOBILE),
    (KMP, 'script { phase1_up "/u"; child_rekey "/r"; };', "script",
     ((ScriptType.PHASE1_UP, "/u"), (ScriptType.PHASE2_REKEY, "/r"))),
    # -- ikev1 only ----------------------------------------------------------------------------
    ("ikev1", "exchange_mode aggressive;", "exchange_mode", ExchangeMode.AGGRESSIVE),
    ("ikev1", 'my_gssapi_id "x";', "my_gssapi_id", "x"),
    ("ikev1", "need_pfs on;", "need_pfs", True),
    ("ikev1", "my_public_key x509pem /c.pem /k.pem;", "my_public_key",
     (KeyType.X509PEM, "/c.pem", "/k.pem")),
    ("ikev1", "peers_public_key pkcs12 /p.p12;", "peers_public_key",
     (KeyType.PKCS12, "/p.p12", None)),
    ("ikev1", 'pre_shared_key "/psk";', "pre_shared_key", "/psk"),
    ("ikev1", "dpd off;", "dpd", False),
    ("ikev1", "dpd_delay 30;", "dpd_delay", 30),
    ("ikev1", "dpd_retry 5 sec;", "dpd_retry", 5),
    ("ikev1", "dpd_maxfail 3;", "dpd_maxfail", 3),
    # -- ikev2 only ----------------------------------------------------------------------------
    ("ikev2", "cookie_required on;", "cookie_required", True),
    ("ikev2", "mobike off;", "mobike", False),
    ("ikev2", "send_peers_id on;", "send_peers_id", True),
    ("ikev2", "fragmentation off;", "fragmentation", False),
    ("ikev2", "fragment_size 576;", "fragment_size", 576),
    ("ikev2", "kmp_addke1 { mlkem768; none; };", "kmp_addke1",
     (("mlkem768", None, None), ("none", None, None))),
    *[("ikev2", f"kmp_addke{n} mlkem1024;", f"kmp_addke{n}", (("mlkem1024", None, None),))
      for n in range(2, 8)],
    ("ikev2", "need_pfs on;", "need_pfs", True),
    ("ikev2", "proposal_profile { roadwarrior; windows_legacy; };", "proposal_profile",
     ("roadwarrior", "windows_legacy")),
    ("ikev2", 'ppk "ppk-1" "/ppk1"; ppk "ppk-2" "/ppk2";', "ppk",
     (("ppk-1", "/ppk1"), ("ppk-2", "/ppk2"))),
    ("ikev2", "ppk_required on;", "ppk_required", True),
    ("ikev2", "my_public_key x509pem /c.pem /k.pem;", "my_public_key",
     (KeyType.X509PEM, "/c.pem", "/k.pem")),
    ("ikev2", "peers_public_key x509pem /p.pem;", "peers_public_key",
     (KeyType.X509PEM, "/p.pem", None)),
    ("ikev2", "pre_shared_key /psk;", "pre_shared_key", "/psk"),
    ("ikev2", "request { ip4; dns; application_version; };", "request",
     ConfigRequest.IP4 | ConfigRequest.IP4_DNS | ConfigRequest.IP6_DNS
     | ConfigRequest.APPLICATION_VERSION),
    ("ikev2", "dpd_delay 10 min;", "dpd_delay", 600),
    # -- kink only -----------------------------------------------------------------------------
    ("kink", 'my_principal "kink/a@EXAMPLE.COM";', "my_principal", "kink/a@EXAMPLE.COM"),
    ("kink", 'peers_principal "kink/b@EXAMPLE.COM";', "peers_principal", "kink/b@EXAMPLE.COM"),
    # -- remote --------------------------------------------------------------------------------
    ("remote", "acceptable_kmp { ikev2; kink; };", "acceptable_kmp", (Kmp.IKEV2, Kmp.KINK)),
    ("remote", "selector_index s;", "selector_index", "s"),
    # -- xauth (ikev1, an extension) ---------------------------------------------------------
    ("xauth", 'users "/etc/racoon2/xauth.users";', "users", "/etc/racoon2/xauth.users"),
    ("xauth", 'pam "racoon2";', "pam", "racoon2"),
    # -- selector ------------------------------------------------------------------------------
    ("selector", "direction inbound;", "direction", Direction.INBOUND),
    ("selector", "src { 192.0.2.0/24 port any; MY_IP%eth0; };", "src",
     (addr("192.0.2.0", prefixlen=24), addr("MY_IP", AddrKind.MACRO, ifname="eth0"))),
    ("selector", "dst host.example.net port isakmp;", "dst",
     (addr("host.example.net", AddrKind.FQDN, port=500),)),
    ("selector", "upper_layer_protocol icmp 8 0;", "upper_layer_protocol", 1),
    ("selector", "upper_layer_protocol 010;", "upper_layer_protocol", 8),
    ("selector", "upper_layer_protocol any;", "upper_layer_protocol", 255),
    ("selector", "next_header_including { tcp; udp; };", "next_header_including",
     ("tcp", "udp")),
    ("selector", 'tagged "pf_tag";', "tagged", "pf_tag"),
    ("selector", "policy_index p;", "policy_index", "p"),
    ("selector", "reqid 7;", "reqid", 7),
    ("selector", "order 2;", "order", 2),
    # -- policy --------------------------------------------------------------------------------
    ("policy", "action bypass;", "action", Action.NONE),
    ("policy", "install off;", "install", False),
    ("policy", "remote_index r;", "remote_index", "r"),
    ("policy", "ipsec_index { a; b; };", "ipsec_index", ("a", "b")),
    ("policy", "ipsec_mode tunnel;", "ipsec_mode", Mode.TUNNEL),
    ("policy", "my_sa_ipaddr 2001:db8::1;", "my_sa_ipaddr", addr("2001:db8::1")),
    ("policy", "peers_sa_ipaddr IP_RW;", "peers_sa_ipaddr", addr("IP_RW", AddrKind.MACRO)),
    ("policy", "ipsec_level unique;", "ipsec_level", Level.UNIQUE),
    # -- ipsec ---------------------------------------------------------------------------------
    ("ipsec", "ipsec_sa_lifetime_time 1 hour;", "ipsec_sa_lifetime_time", 3600),
    ("ipsec", "ipsec_sa_lifetime_byte infinite;", "ipsec_sa_lifetime_byte", INFINITE),
    ("ipsec", "ext_sequence on;", "ext_sequence", True),
    ("ipsec", "sa_index { e; a; };", "sa_index", ("e", "a")),
    # -- sa ------------------------------------------------------------------------------------
    ("sa", "sa_protocol ah;", "sa_protocol", SaProtocol.AH),
    ("sa", "esp_enc_alg aes256_cbc;", "esp_enc_alg", (("aes256_cbc", None, None),)),
    ("sa", "esp_auth_alg non_auth;", "esp_auth_alg", (("non_auth", None, None),)),
    ("sa", "ah_auth_alg hmac_sha2_512;", "ah_auth_alg", (("hmac_sha2_512", None, None),)),
    ("sa", "ipcomp_alg deflate;", "ipcomp_alg", (("deflate", None, None),)),
    ("sa", "spi 0x1000;", "spi", 4096),
    # -- interface -----------------------------------------------------------------------------
    ("interface", "ike { MY_IP port 500; MY_IP port 4500; };", "ike",
     (addr("MY_IP", AddrKind.MACRO, port=500), addr("MY_IP", AddrKind.MACRO, port=4500))),
    ("interface", "kink 192.0.2.1;", "kink", (addr("192.0.2.1"),)),
    ("interface", 'spmd { unix "/run/spmif"; ::1 port 9555; };', "spmd",
     ((AddrKind.UNIX, "/run/spmif", None, None, None), addr("::1", port=9555))),
    ("interface", 'spmd_password "/etc/spmd.pwd";', "spmd_password", "/etc/spmd.pwd"),
    ("interface", "application_bypass off;", "application_bypass", False),
    # -- resolver ------------------------------------------------------------------------------
    ("resolver", "resolver on;", "resolver", True),
    ("resolver", "nameserver { 192.0.2.53; 2001:db8::53 port 5353; };", "nameserver",
     (addr("192.0.2.53", port=53), addr("2001:db8::53", port=5353))),
    ("resolver", "dns_query 127.0.0.1;", "dns_query", (addr("127.0.0.1", port=53),)),
    # -- provide (ikev2) -----------------------------------------------------------------------
    ("provide", "addresspool pool;", "addresspool", ("pool",)),
    ("provide", "addresspool { pool4; pool6; };", "addresspool", ("pool4", "pool6")),
    ("provide", 'dns_domain { corp.example; "xn--bcher-kva.example."; };', "dns_domain",
     ("corp.example", "xn--bcher-kva.example")),
    ("provide", "subnet { 198.51.100.16/28; 2001:db8:5::/48; };", "subnet",
     (addr("198.51.100.16", prefixlen=28), addr("2001:db8:5::", prefixlen=48))),
    ("provide", "lease_time 2 hours;", "lease_time", 7200),
    ("provide", "dns { 192.0.2.53; };", "dns", (addr("192.0.2.53"),)),
    ("provide", "dhcp 192.0.2.67;", "dhcp", (addr("192.0.2.67"),)),
    ("provide", 'application_version "v1";', "application_version", "v1"),
    ("provide", "mip6_home_prefix 2001:db8:1::/64;", "mip6_home_prefix",
     addr("2001:db8:1::", prefixlen=64)),
]


def node(cfg: Config, context: str) -> Any:
    if context in ("ikev1", "ikev2", "kink"):
        return cfg.remote("r").block(Kmp(context))  # type: ignore[union-attr]
    if context == "remote":
        return cfg.remote("r")
    if context == "provide":
        return cfg.remote("r").ikev2.provide  # type: ignore[union-attr]
    if context == "xauth":
        return cfg.remote("r").ikev1.xauth  # type: ignore[union-attr]
    plural = {"selector": "selectors", "policy": "policies", "ipsec": "ipsecs", "sa": "sas"}
    if context in plural:
        return getattr(cfg, plural[context])[0]
    return getattr(cfg, context)


def text_for(context: str, snippet: str, kmp: str = "ikev2") -> str:
    if context == "kmp":
        return f"remote r {{ {kmp} {{ {snippet} }}; }};"
    if context in ("ikev1", "ikev2", "kink"):
        return f"remote r {{ {context} {{ {snippet} }}; }};"
    if context == "remote":
        return f"remote r {{ {snippet} }};"
    if context == "provide":
        return f"remote r {{ ikev2 {{ provide {{ {snippet} }}; }}; }};"
    if context == "xauth":
        return f"remote r {{ ikev1 {{ xauth {{ {snippet} }}; }}; }};"
    if context in ("interface", "resolver"):
        return f"{context} {{ {snippet} }};"
    return f"{context} x {{ {snippet} }}; policy p {{ install on; }};"


@pytest.mark.parametrize(("context", "snippet", "field", "expected"), CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_directive(load: Load, context: str, snippet: str, field: str, expected: Any) -> None:
    kmps = ("ikev1", "ikev2", "kink") if context == "kmp" else ("ikev2",)
    for kmp in kmps:
        cfg = load(text_for(context, snippet, kmp))
        target = node(cfg, kmp if context == "kmp" else context)
        assert shape(getattr(target, field)) == expected, kmp
        if context not in ("provide",):
            assert target.where_of(field) is not None


def test_every_directive_has_a_case() -> None:
    covered = {(c[0], c[2]) for c in CASES}
    tables = {
        "kmp": b.COMMON_KMP, "ikev1": b.IKEV1, "ikev2": b.IKEV2, "kink": b.KINK,
        "remote": b.REMOTE, "selector": b.SELECTOR, "policy": b.POLICY,
        "ipsec": b.IPSEC, "sa": b.SA, "interface": b.INTERFACE,
        "resolver": b.RESOLVER, "provide": b.PROVIDE, "xauth": b.XAUTH,
    }
    missing = []
    for context, table in tables.items():
        for name in table:
            if context in ("ikev1", "ikev2", "kink") and name in b.COMMON_KMP:
                continue
            if (context, name) not in covered and not (context == "remote" and name in
                                                       ("ikev1", "ikev2", "kink")):
                if context in ("ikev1", "ikev2") and name in ("provide", "xauth", "eap"):
                    continue  # blocks of their own: the provide, xauth and eap cases
                missing.append((context, name))
    assert missing == []


def test_icmp_type_and_code(load: Load) -> None:
    sel = load("selector s { upper_layer_protocol ipv6-icmp 135 0; };").selectors[0]
    assert (sel.upper_layer_protocol, sel.icmp_type, sel.icmp_code) == (58, 135, 0)


def test_numeric_address_keeps_ipv6_zone(load: Load) -> None:
    sel = load("selector s { src fe80::1%eth0; };").selectors[0]
    assert sel.src[0].address == ipaddress.IPv6Address("fe80::1%eth0")
    assert sel.src[0].prefixlen == 128


def test_addresspool_ranges(load: Load) -> None:
    pool = load("addresspool p { 198.51.100.10 - 198.51.100.20; 2001:db8::1 - 2001:db8::ff; };"
                ).addresspool("p")
    assert pool is not None and [(str(a), str(b)) for a, b in pool.ranges] == [
        ("198.51.100.10", "198.51.100.20"), ("2001:db8::1", "2001:db8::ff")]


def test_default_section(load: Load) -> None:
    cfg = load("""default {
        remote { acceptable_kmp ikev2; ikev2 { kmp_enc_alg aes128_cbc; }; };
        policy { ipsec_mode transport; };
        ipsec { ipsec_sa_lifetime_time 2 hours; };
        sa { sa_protocol esp; };
    };""")
    assert cfg.default is not None and cfg.default_remote is not None
    assert cfg.default_remote.ikev2 is not None
    assert cfg.default.policy is not None and cfg.default.policy.ipsec_mode is Mode.TRANSPORT
    assert cfg.default.ipsec is not None and cfg.default.ipsec.ipsec_sa_lifetime_time == 7200
    assert cfg.default.sa is not None and cfg.default.sa.sa_protocol is SaProtocol.ESP
