"""Key derivation: NIST SP 800-135 IKEv1/IKEv2 KDF known answers (kdf.json) and the
structural rules of RFC 7296, RFC 9370 and RFC 2409 that have no published vectors."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from racoon2.crypto import keymat as km
from racoon2.crypto.prf import prf_for
from racoon2.crypto.transforms import TransformType, by_id, by_keyword
from racoon2.errors import CryptoError

from .vectors import h, load

VEC = load("kdf.json")
SHA1 = prf_for(2)


@pytest.mark.parametrize("case", VEC["ikev2"], ids=lambda c: c["source"])
def test_ikev2_sp800_135(case: dict[str, Any]) -> None:
    prf = prf_for(case["prf"])
    ni, nr, gir, gir_new = h(case["ni"]), h(case["nr"]), h(case["gir"]), h(case["gir_new"])
    spi_i, spi_r = h(case["spii"]), h(case["spir"])
    seed = km.skeyseed(prf, ni, nr, gir)
    assert seed == h(case["skeyseed"])
    dkm = prf.plus(seed, ni + nr + spi_i + spi_r, len(h(case["dkm"])))
    assert dkm == h(case["dkm"])
    sk_d = dkm[: prf.output_size]
    length = len(h(case["dkm_child"]))
    assert km.child_keymat(prf, sk_d, ni, nr, length) == h(case["dkm_child"])
    assert km.child_keymat(prf, sk_d, ni, nr, length, gir_new) == h(case["dkm_child_dh"])
    assert km.rekey_skeyseed(prf, sk_d, gir_new, ni, nr) == h(case["skeyseed_rekey"])
    # The IKE SA keys are consecutive slices of that same DKM (RFC 7296 §2.14).
    keys = km.ike_sa_keys(prf, by_keyword(TransformType.ENCR, "aes128_cbc"),
                          by_id(TransformType.INTEG, 2), seed, ni, nr, spi_i, spi_r)
    # 3 * 20 (SK_d, SK_pi, SK_pr) + 2 * 20 (SK_a*) + 2 * 16 (SK_e*) = the vector's 132 bytes.
    assert (keys.sk_d + keys.sk_ai + keys.sk_ar + keys.sk_ei + keys.sk_er + keys.sk_pi
            + keys.sk_pr) == dkm


@pytest.mark.parametrize("case", VEC["ikev1"], ids=lambda c: c["source"])
def test_ikev1_sp800_135(case: dict[str, Any]) -> None:
    prf = prf_for(case["prf"])
    gxy = h(case["gxy"])
    skeyid = km.skeyid_sig(prf, h(case["ni"]), h(case["nr"]), gxy)
    keys = km.ikev1_keys(prf, skeyid, gxy, h(case["cky_i"]), h(case["cky_r"]))
    assert keys == km.Ikev1Keys(h(case["skeyid"]), h(case["skeyid_d"]), h(case["skeyid_a"]),
                                h(case["skeyid_e"]))


def test_ike_sa_keys_sizes_for_aead() -> None:
    gcm = by_keyword(TransformType.ENCR, "aes256_gcm16")
    keys = km.ike_sa_keys(prf_for(5), gcm, None, b"s" * 32, b"n" * 32, b"m" * 32, b"i" * 8,
                          b"r" * 8)
    assert (len(keys.sk_d), len(keys.sk_ai), len(keys.sk_ei), len(keys.sk_pr)) == (32, 0, 36, 32)
    with pytest.raises(CryptoError, match="needs an integrity"):
        km.ike_sa_keys(prf_for(5), by_keyword(TransformType.ENCR, "aes128_cbc"), None,
                       b"s", b"n", b"m", b"i" * 8, b"r" * 8)


def test_fixed_key_prf_takes_half_of_each_nonce() -> None:
    xcbc = prf_for(4)
    ni, nr = bytes(range(32)), bytes(range(100, 132))
    assert km.skeyseed(xcbc, ni, nr, b"g") == xcbc.compute(ni[:8] + nr[:8], b"g")
    assert km.skeyseed(SHA1, ni, nr, b"g") == SHA1.compute(ni + nr, b"g")


def test_rfc9370_additional_key_exchanges() -> None:
    ni, nr, spi_i, spi_r = b"I" * 16, b"R" * 16, b"i" * 8, b"r" * 8
    sk_d0 = b"d" * 20
    seed1 = km.intermediate_skeyseed(SHA1, sk_d0, b"SK1", ni, nr)
    assert seed1 == SHA1.compute(sk_d0, b"SK1" + ni + nr)
    keys1 = km.ike_sa_keys(SHA1, by_keyword(TransformType.ENCR, "aes128_cbc"),
                           by_id(TransformType.INTEG, 2), seed1, ni, nr, spi_i, spi_r)
    assert keys1.sk_d == SHA1.plus(seed1, ni + nr + spi_i + spi_r, 20)
    # RFC 9370 §2.2.4: KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n)), and
    # SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n)) for an IKE SA rekey: the
    # additional secrets after the nonces.
    mat = km.child_keymat(SHA1, keys1.sk_d, ni, nr, 40, b"G", [b"SK1", b"SK2"])
    assert mat == SHA1.plus(keys1.sk_d, b"G" + ni + nr + b"SK1SK2", 40)
    assert km.rekey_skeyseed(SHA1, sk_d0, b"G", ni, nr, [b"SK1"]) == SHA1.compute(
        sk_d0, b"G" + ni + nr + b"SK1")


def test_child_keymat_split_order() -> None:
    encr = by_keyword(TransformType.ENCR, "aes128_gcm16")
    integ = by_id(TransformType.INTEG, 12)
    size = km.child_keymat_size(encr, integ)
    assert size == 2 * (20 + 32)
    mat = bytes(range(size))
    keys = km.split_child_keymat(mat, encr, integ)
    assert keys.encr_i + keys.integ_i + keys.encr_r + keys.integ_r == mat
    assert (len(keys.encr_i), len(keys.integ_r)) == (20, 32)
    ah = km.split_child_keymat(bytes(40), None, by_id(TransformType.INTEG, 2))
    assert (ah.encr_i, len(ah.integ_i)) == (b"", 20)
    with pytest.raises(CryptoError, match="104 bytes"):
        km.split_child_keymat(mat[:-1], encr, integ)


def test_ikev1_skeyid_methods() -> None:
    ni, nr = b"n" * 16, b"m" * 16
    assert km.skeyid_psk(SHA1, b"secret", ni, nr) == SHA1.compute(b"secret", ni + nr)
    assert km.skeyid_pke(SHA1, ni, nr, b"c" * 8, b"d" * 8) == SHA1.compute(
        hashlib.sha1(ni + nr).digest(), b"c" * 8 + b"d" * 8)
    with pytest.raises(CryptoError, match="no hash"):
        km.skeyid_pke(prf_for(4), ni, nr, b"c" * 8, b"d" * 8)


def test_ikev1_appendix_b_key_expansion() -> None:
    e = b"e" * 20
    assert km.ikev1_encryption_key(SHA1, e, 16) == e[:16]
    k1 = SHA1.compute(e, b"\x00")
    k2 = SHA1.compute(e, k1)
    assert km.ikev1_encryption_key(SHA1, e, 32) == (k1 + k2)[:32]


def test_ikev1_quick_mode_keymat() -> None:
    d, spi, ni, nr = b"d" * 20, b"\x00\x00\x10\x01", b"n" * 16, b"m" * 16
    seed = b"G" + bytes([3]) + spi + ni + nr
    k1 = SHA1.compute(d, seed)
    k2 = SHA1.compute(d, k1 + seed)
    assert km.ikev1_keymat(SHA1, d, 3, spi, ni, nr, 36, b"G") == (k1 + k2)[:36]
    assert km.ikev1_keymat(SHA1, d, 3, spi, ni, nr, 16) == SHA1.compute(
        d, bytes([3]) + spi + ni + nr)[:16]


def test_ikev1_ivs() -> None:
    assert km.ikev1_phase1_iv(SHA1, b"x", b"y", 16) == hashlib.sha1(b"xy").digest()[:16]
    assert km.ikev1_phase2_iv(prf_for(5), b"b" * 16, b"\x00\x00\x00\x01", 16) == hashlib.sha256(
        b"b" * 16 + b"\x00\x00\x00\x01").digest()[:16]


@pytest.mark.parametrize(("prf_id", "digest"), [(2, "sha1"), (5, "sha256"), (7, "sha512")])
def test_rfc8784_ppk_key_update(prf_id: int, digest: str) -> None:
    """RFC 8784 §3: SK_d = prf+(PPK, SK_d'), SK_pi = prf+(PPK, SK_pi'), SK_pr = prf+(PPK,
    SK_pr'), each the PRF's preferred key length (its output: one block, T1 = prf(PPK, SK' |
    0x01), RFC 7296 §2.13), computed here with hmac/hashlib; SK_a and SK_e unchanged."""
    prf = prf_for(prf_id)
    n = hashlib.new(digest).digest_size
    old = km.IkeKeys(b"d" * n, b"ai", b"ar", b"ei", b"er", b"p" * n, b"q" * n)
    ppk = bytes(range(64))
    new = km.ppk_keys(prf, ppk, old)
    for mine, before in ((new.sk_d, old.sk_d), (new.sk_pi, old.sk_pi), (new.sk_pr, old.sk_pr)):
        assert mine == hmac.new(ppk, before + b"\x01", digest).digest() and len(mine) == n
    assert (new.sk_ai, new.sk_ar, new.sk_ei, new.sk_er) == (b"ai", b"ar", b"ei", b"er")
