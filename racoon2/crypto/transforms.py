"""The one table of IKE/IPsec transforms: IANA ids, racoon2.conf keywords, sizes, kernel names.

Sizes are in bytes.  ``salt_size`` is the extra keying material an ESP SA takes beyond the
cipher key (the RFC 3686 nonce, the RFC 4106/4309/7634 salt); IKEv2 SK_e keys carry it too.
``xfrm_name``/``xfrm_trunc_bits`` are what Linux XFRM wants, ``sadb_id`` is the PF_KEY SADB
algorithm number (``None`` where no PF_KEY mapping exists).
"""

from __future__ import annotations

from enum import IntEnum

from racoon2.errors import CryptoError
from racoon2.frozen import frozen


class TransformType(IntEnum):
    """IKEv2 transform types (RFC 7296 §3.3.2; type 4 renamed "Key Exchange Method" by RFC 9370)."""

    ENCR = 1
    PRF = 2
    INTEG = 3
    KE = 4
    ESN = 5
    # RFC 9370 additional key exchanges; their ids are the KE ids.
    ADDKE1 = 6
    ADDKE2 = 7
    ADDKE3 = 8
    ADDKE4 = 9
    ADDKE5 = 10
    ADDKE6 = 11
    ADDKE7 = 12


@frozen
class Transform:
    """One row of the table; the meaning of each field is in the module docstring."""

    kind: TransformType
    ident: int
    name: str
    keyword: str | None
    key_size: int = 0
    variable_key: bool = False
    salt_size: int = 0
    icv_size: int = 0
    block_size: int = 0
    iv_size: int = 0
    output_size: int = 0
    xfrm_name: str | None = None
    xfrm_trunc_bits: int | None = None
    sadb_id: int | None = None
    aead: bool = False

    @property
    def keymat_size(self) -> int:
        """Keying material an SA of this transform consumes (key plus salt/nonce)."""
        return self.key_size + self.salt_size


_E, _P, _I, _K = TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.KE


def _aes_rows() -> list[Transform]:
    rows: list[Transform] = []
    for bits in (128, 192, 256):
        n = bits // 8
        rows.append(Transform(_E, 12, "ENCR_AES_CBC", f"aes{bits}_cbc", n, True, 0, 0, 16, 16,
                              xfrm_name="cbc(aes)", sadb_id=12))
        rows.append(Transform(_E, 13, "ENCR_AES_CTR", f"aes{bits}_ctr", n, True, 4, 0, 1, 8,
                              xfrm_name="rfc3686(ctr(aes))", sadb_id=13))
        for icv, gcm_id, ccm_id in ((8, 18, 14), (12, 19, 15), (16, 20, 16)):
            rows.append(Transform(_E, gcm_id, f"ENCR_AES_GCM_{icv}", f"aes{bits}_gcm{icv}", n,
                                  True, 4, icv, 1, 8, xfrm_name="rfc4106(gcm(aes))",
                                  xfrm_trunc_bits=icv * 8, sadb_id=gcm_id, aead=True))
            rows.append(Transform(_E, ccm_id, f"ENCR_AES_CCM_{icv}", f"aes{bits}_ccm{icv}", n,
                                  True, 3, icv, 1, 8, xfrm_name="rfc4309(ccm(aes))",
                                  xfrm_trunc_bits=icv * 8, sadb_id=ccm_id, aead=True))
    return rows


TRANSFORMS: tuple[Transform, ...] = (
    Transform(_E, 3, "ENCR_3DES", "3des_cbc", 24, False, 0, 0, 8, 8,
              xfrm_name="cbc(des3_ede)", sadb_id=3),
    Transform(_E, 11, "ENCR_NULL", "null_enc", 0, False, 0, 0, 1, 0,
              xfrm_name="ecb(cipher_null)", sadb_id=11),
    *_aes_rows(),
    Transform(_E, 28, "ENCR_CHACHA20_POLY1305", "chacha20_poly1305", 32, False, 4, 16, 1, 8,
              xfrm_name="rfc7539esp(chacha20,poly1305)", xfrm_trunc_bits=128, aead=True),
    Transform(_P, 1, "PRF_HMAC_MD5", "hmac_md5", 16, True, output_size=16),
    Transform(_P, 2, "PRF_HMAC_SHA1", "hmac_sha1", 20, True, output_size=20),
    Transform(_P, 4, "PRF_AES128_XCBC", "aes_xcbc", 16, True, output_size=16),
    Transform(_P, 5, "PRF_HMAC_SHA2_256", "hmac_sha2_256", 32, True, output_size=32),
    Transform(_P, 6, "PRF_HMAC_SHA2_384", "hmac_sha2_384", 48, True, output_size=48),
    Transform(_P, 7, "PRF_HMAC_SHA2_512", "hmac_sha2_512", 64, True, output_size=64),
    Transform(_P, 8, "PRF_AES128_CMAC", "aes_cmac", 16, True, output_size=16),
    Transform(_I, 1, "AUTH_HMAC_MD5_96", "hmac_md5", 16, icv_size=12, output_size=12,
              xfrm_name="hmac(md5)", xfrm_trunc_bits=96, sadb_id=2),
    Transform(_I, 2, "AUTH_HMAC_SHA1_96", "hmac_sha1", 20, icv_size=12, output_size=12,
              xfrm_name="hmac(sha1)", xfrm_trunc_bits=96, sadb_id=3),
    Transform(_I, 5, "AUTH_AES_XCBC_96", "aes_xcbc", 16, icv_size=12, output_size=12,
              xfrm_name="xcbc(aes)", xfrm_trunc_bits=96, sadb_id=9),
    Transform(_I, 8, "AUTH_AES_CMAC_96", "aes_cmac", 16, icv_size=12, output_size=12,
              xfrm_name="cmac(aes)", xfrm_trunc_bits=96),
    Transform(_I, 12, "AUTH_HMAC_SHA2_256_128", "hmac_sha2_256", 32, icv_size=16,
              output_size=16, xfrm_name="hmac(sha256)", xfrm_trunc_bits=128, sadb_id=5),
    Transform(_I, 13, "AUTH_HMAC_SHA2_384_192", "hmac_sha2_384", 48, icv_size=24,
              output_size=24, xfrm_name="hmac(sha384)", xfrm_trunc_bits=192, sadb_id=6),
    Transform(_I, 14, "AUTH_HMAC_SHA2_512_256", "hmac_sha2_512", 64, icv_size=32,
              output_size=32, xfrm_name="hmac(sha512)", xfrm_trunc_bits=256, sadb_id=7),
    Transform(_K, 1, "MODP_768", "modp768", output_size=96),
    Transform(_K, 2, "MODP_1024", "modp1024", output_size=128),
    Transform(_K, 5, "MODP_1536", "modp1536", output_size=192),
    Transform(_K, 14, "MODP_2048", "modp2048", output_size=256),
    Transform(_K, 15, "MODP_3072", "modp3072", output_size=384),
    Transform(_K, 16, "MODP_4096", "modp4096", output_size=512),
    Transform(_K, 17, "MODP_6144", "modp6144", output_size=768),
    Transform(_K, 18, "MODP_8192", "modp8192", output_size=1024),
    Transform(_K, 19, "ECP_256", "ecp256", output_size=32),
    Transform(_K, 20, "ECP_384", "ecp384", output_size=48),
    Transform(_K, 21, "ECP_521", "ecp521", output_size=66),
    Transform(_K, 31, "CURVE25519", "curve25519", output_size=32),
    Transform(_K, 32, "CURVE448", "curve448", output_size=56),
    Transform(_K, 35, "ML_KEM_512", "mlkem512", output_size=32),
    Transform(_K, 36, "ML_KEM_768", "mlkem768", output_size=32),
    Transform(_K, 37, "ML_KEM_1024", "mlkem1024", output_size=32),
)


_BY_ID: dict[tuple[TransformType, int], list[Transform]] = {}
for _row in TRANSFORMS:
    _BY_ID.setdefault((_row.kind, _row.ident), []).append(_row)


def by_id(kind: TransformType, ident: int, key_bits: int | None = None) -> Transform:
    """The transform for a wire (type, id[, Key Length attribute in bits]).

    Variable-key ciphers need ``key_bits``; other transforms must not carry it.
    """
    if kind >= TransformType.ADDKE1:
        kind = TransformType.KE
    rows = _BY_ID.get((kind, ident), [])
    if not rows:
        raise CryptoError(f"unsupported {kind.name} transform id {ident}",
                          hint="offer one of the algorithms in racoon2.crypto.transforms")
    if kind is TransformType.ENCR and rows[0].variable_key:
        if key_bits is None:
            raise CryptoError(f"{rows[0].name} needs a Key Length attribute")
        for t in rows:
            if t.key_size * 8 == key_bits:
                return t
        raise CryptoError(f"{rows[0].name} does not take a {key_bits}-bit key")
    if key_bits is not None and key_bits != rows[0].key_size * 8:
        raise CryptoError(f"{rows[0].name} does not take a Key Length attribute")
    return rows[0]


def by_keyword(kind: TransformType, keyword: str, key_bits: int | None = None) -> Transform:
    """The transform a racoon2.conf algorithm keyword names for the given role.

    ``aes_ctr`` and ``rijndael_cbc`` take their key length from ``key_bits`` (default 128),
    as racoon2.conf's ``ALG , KEYLEN`` form does.
    """
    if keyword in ("aes_ctr", "rijndael_cbc"):
        mode = "ctr" if keyword == "aes_ctr" else "cbc"
        keyword = f"aes{key_bits or 128}_{mode}"
    for t in TRANSFORMS:
        if t.kind == kind and t.keyword == keyword:
            return t
    raise CryptoError(f"algorithm {keyword!r} is not supported as {kind.name}",
                      hint="see the algorithm table in racoon2.conf(5)")
