"""racoon's algorithm, group and method names → racoon2.conf's (racoon.conf(5) lists racoon's;
doc/config.md "Algorithms" racoon2's).  ``None`` in a table: racoon2 has no such name."""

from __future__ import annotations

from typing import Final

#: Phase 1 (ISAKMP SA) ciphers; aes/rijndael take their key length from the name.
IKE_ENC: Final[dict[str, str | None]] = {
    "des": "des_cbc", "3des": "3des_cbc", "blowfish": "blowfish_cbc", "cast128": "cast128_cbc",
    "aes": "aes", "rijndael": "aes", "idea": "idea_cbc", "rc5": "rc5_cbc", "camellia": None,
}
IKE_HASH: Final[dict[str, str | None]] = {
    "md5": "md5", "sha1": "sha1", "sha256": "sha2_256", "sha384": "sha2_384",
    "sha512": "sha2_512", "tiger": None,
}
#: Phase 2 (ESP) ciphers.
ESP_ENC: Final[dict[str, str | None]] = {
    "des": "des_cbc", "3des": "3des_cbc", "des_iv64": "des_cbc_iv64", "des_iv32": "des_cbc_iv32",
    "rc5": "rc5_cbc", "rc4": "rc4_cbc", "idea": "idea_cbc", "3idea": "3idea_cbc",
    "cast128": "cast128_cbc", "blowfish": "blowfish_cbc", "null_enc": "null_enc",
    "twofish": "twofish_cbc", "aes": "aes", "rijndael": "aes", "camellia": None,
}
ESP_AUTH: Final[dict[str, str | None]] = {
    "hmac_md5": "hmac_md5", "hmac_sha1": "hmac_sha1", "hmac_sha256": "hmac_sha2_256",
    "hmac_sha384": "hmac_sha2_384", "hmac_sha512": "hmac_sha2_512", "des_mac": "des_mac",
    "kpdk_md5": "kpdk_md5", "non_auth": "non_auth", "des": None, "3des": None,
}
IPCOMP: Final[dict[str, str | None]] = {"deflate": "deflate", "oui": "oui", "lzs": "lzs"}
#: Oakley groups by number (RFC 2409 §6, RFC 3526) and racoon's names for them.
DH: Final[dict[str, str | None]] = {
    "1": "modp768", "2": "modp1024", "5": "modp1536", "14": "modp2048", "15": "modp3072",
    "16": "modp4096", "17": "modp6144", "18": "modp8192", "3": None, "4": None,
    **{n: n for n in ("modp768", "modp1024", "modp1536", "modp2048", "modp3072", "modp4096",
                      "modp6144", "modp8192")},
    "ec2n155": None, "ec2n185": None,
}
#: authentication_method → racoon2 kmp_auth_method, or why it has none.
AUTH: Final[dict[str, str]] = {
    "pre_shared_key": "psk", "rsasig": "rsasig",
}
#: racoon's XAuth gateway methods → the method written beside the remote's ``xauth { }``:
#: racoon2's IKEv1 kmp_auth_method takes psk and rsasig only (doc/config.md §5).
XAUTH_SERVER: Final[dict[str, str]] = {
    "xauth_psk_server": "psk", "xauth_rsa_server": "rsasig", "hybrid_rsa_server": "rsasig",
}
_CLIENT = ("racoon2's XAuth is the gateway's only (doc/iked.md, IKEv1 building blocks): no "
           "XAuth or hybrid client; have the gateway accept pre_shared_key or rsasig without "
           "XAuth")
NO_AUTH: Final[dict[str, str]] = {
    "dsssig": "DSS signatures: use rsasig with an RSA certificate or pre_shared_key",
    "gssapi_krb": "GSS-API/Kerberos IKEv1: use KINK (kinkd, doc/kinkd.md) between Kerberos "
                  "hosts, or pre_shared_key/rsasig",
    "rsaenc": "RSA encryption authentication: use rsasig",
    "rsarev": "revised RSA encryption authentication: use rsasig",
    "hybrid_dss_server": "DSS signatures: use an RSA certificate and hybrid_rsa_server "
                         "(rsasig with xauth { })",
    **{m: _CLIENT for m in ("xauth_psk_client", "xauth_rsa_client", "hybrid_rsa_client",
                            "hybrid_dss_client")},
}


def cipher(table: dict[str, str | None], name: str, bits: int | None) -> str | None:
    """racoon2's name for a cipher and key length: ``aes 256`` → ``aes256_cbc``."""
    mapped = table.get(name)
    if mapped == "aes":
        return {None: "aes128_cbc", 128: "aes128_cbc", 192: "aes192_cbc",
                256: "aes256_cbc"}.get(bits)
    return mapped
