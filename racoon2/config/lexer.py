"""racoon2.conf tokens (doc/config.md §1): one compiled regular expression scans a whole file.

Tokens are plain tuples ``(kind, text, line)`` because a large configuration has hundreds of
thousands of them; :class:`Where` names a file and line for messages.  Unlike the C scanner,
newlines inside a quoted string DO advance the line counter, so line numbers never drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from racoon2.errors import ConfigError

KEYWORD: Final = 1
STRING: Final = 2
QUOTED: Final = 3
PUNCT: Final = 4

BOOLEANS: Final[dict[str, bool]] = {
    "on": True, "enable": True, "yes": True, "off": False, "disable": False, "no": False,
}

ALGORITHMS: Final = frozenset("""
des_cbc_iv64 des_cbc 3des_cbc rc5_cbc idea_cbc cast128_cbc blowfish_cbc 3idea_cbc des_cbc_iv32
rc4_cbc null_enc rijndael_cbc aes128_cbc aes192_cbc aes256_cbc aes_ctr twofish_cbc non_auth
hmac_md5 hmac_sha1 hmac_sha2_256 hmac_sha2_384 hmac_sha2_512 aes_xcbc des_mac aes_cmac kpdk_md5
md5 sha1 tiger sha2_256 sha2_384 sha2_512 oui deflate lzs modp768 modp1024 modp1536 ec2n155
ec2n185 modp2048 modp3072 modp4096 modp6144 modp8192 psk dss rsasig rsaenc rsarev gssapi_krb
""".split()) | frozenset(
    # Beyond the original (doc/config.md, "Extensions"): AEAD ciphers, elliptic-curve and
    # post-quantum key exchanges, named as in racoon2.crypto.transforms.
    [f"aes{bits}_{mode}{icv}" for bits in (128, 192, 256) for mode in ("gcm", "ccm")
     for icv in (8, 12, 16)]
    + "chacha20_poly1305 ecp256 ecp384 ecp521 curve25519 curve448 mlkem512 mlkem768 mlkem1024"
    .split())

UNITS: Final = frozenset("""
infinite sec secs second seconds min mins minute minutes hour hours day days B byte bytes KB MB GB
""".split())

WORDS: Final = frozenset("""
include setval default interface ike kink spmd spmd_password application_bypass unix port resolver
nameserver dns_query remote ikev1 ikev2 selector_index acceptable_kmp logmode debug normal logfile
passive use_coa peers_ipaddr peers_kmp_port verify_id verify_pubkey send_cert send_cert_req
nonce_size initial_contact support_proxy nat_traversal require_config_payload application_version
request provide ip4 ip6 ip ip4_dns ip6_dns ip4_dhcp ip6_dhcp dns dhcp mip6_home_prefix
max_ip4_alloc max_ip6_alloc script phase1_up phase1_down phase1_rekey phase2_up phase2_down
phase2_rekey ike_sa_up ike_sa_down ike_sa_rekey child_up child_down child_rekey migration my_id
peers_id ipaddr email fqdn keyid x509_subject file tag selector_check proposal_check obey strict
claim exact random_pad_content random_padlen max_padlen max_retry_to_send interval_to_send
times_per_send kmp_sa_lifetime_time kmp_sa_lifetime_byte kmp_sa_nego_time_limit
kmp_sa_grace_period ipsec_sa_nego_time_limit kmp_enc_alg kmp_hash_alg kmp_prf_alg kmp_auth_method
kmp_dh_group exchange_mode main aggressive base my_gssapi_id dpd dpd_delay dpd_retry dpd_maxfail
cookie_required send_peers_id fragmentation fragment_size mobike my_principal peers_principal
need_pfs my_public_key
peers_public_key x509pem pkcs12 ascii pre_shared_key mobility_role agent mobile correspondent
selector order direction outbound inbound src dst upper_layer_protocol next_header_including
tagged policy_index reqid policy action auto_ipsec static_ipsec discard none bypass install
remote_index ipsec_index ipsec_mode transport tunnel ipsec my_sa_ipaddr peers_sa_ipaddr
ipsec_sa_lifetime_time ipsec_sa_lifetime_byte ext_sequence sa_index ipsec_level unique require
use sa esp_enc_alg esp_auth_alg ah_auth_alg ipcomp_alg spi sa_protocol esp ah ipcomp addresspool
xauth users pam eap method mschapv2 tls radius radius_server radius_secret
radius_nas_identifier radius_accounting eap_only proposal_profile dns_domain subnet lease_time
kmp_addke1 kmp_addke2 kmp_addke3 kmp_addke4 kmp_addke5 kmp_addke6 kmp_addke7
ppk ppk_required
""".split())

#: Every reserved word (doc/config.md §1): a bare word spelled like one of these is a keyword.
RESERVED: Final = WORDS | ALGORITHMS | UNITS | frozenset(BOOLEANS)

SCANNER: Final = re.compile(
    r"""[ \t\r\f\v]*(?:
        (\n)                                  # 1 newline
      | \#[^\n]*                              # comment
      | ("[^"]*")                             # 2 quoted string (no escapes)
      | ([0-9A-Za-z%*\-./:?@_]+)              # 3 bare word
      | ([{};,])                              # 4 punctuation
      | (.)                                   # 5 anything else: an error
    )""",
    re.VERBOSE | re.DOTALL,
)


#: One token: (kind, text, line); kind is KEYWORD, STRING, QUOTED or PUNCT, line counts from 1.
#: Plain tuples, not a NamedTuple: constructing a million NamedTuples took half the load time.
Token = tuple[int, str, int]
KIND, TEXT, LINE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a configuration file; ``str()`` gives ``file:line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def describe(token: Token | None) -> str:
    """How a message names ``token``: ``'foo'``, ``"quoted"`` or ``end of file``."""
    if token is None:
        return "end of file"
    if token[0] == QUOTED:
        return f'"{token[1]}"'
    return f"'{token[1]}'"


def tokenize(text: str, file: str) -> list[Token]:
    """Split ``text`` (the contents of ``file``) into tokens; comments and blanks are dropped.

    Raises :class:`ConfigError` at the offending line for a character no token may hold
    (``$``, ``=``, ``[`` … outside quotes) or a quoted string that never ends.
    """
    tokens: list[Token] = []
    append = tokens.append
    reserved = RESERVED
    line = 1
    for newline, quoted, word, punct, bad in SCANNER.findall(text):
        if newline:
            line += 1
        elif word:
            append((KEYWORD if word in reserved else STRING, word, line))
        elif punct:
            append((PUNCT, punct, line))
        elif quoted:
            append((QUOTED, quoted[1:-1], line))
            line += quoted.count("\n")
        elif bad:
            raise_bad(bad, file, line)
    return tokens


def raise_bad(bad: str, file: str, line: int) -> None:
    """Raise the ConfigError for a character no token may hold, or an unclosed quote."""
    if bad == '"':
        raise ConfigError(
            "found a quoted string that never ends, expected a closing '\"'", f"{file}:{line}"
        )
    raise ConfigError(
        f"found character {bad!r}, expected a word, a quoted string or one of {{ }} ; ,",
        f"{file}:{line}",
        "quote values that use ${VAR} or $[ENV]",
    )
