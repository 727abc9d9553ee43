"""Known-answer tests for encryption transforms.

RFC vectors are in tests/vectors/crypto/encr.json; NIST CAVP vectors (AES-CBC MMT, GCM
"ExtIV" with 96-bit IVs, CCM "VNT" with 11-byte nonces, TDES CBC MMT) are read from the
cryptography_vectors package.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.crypto.encr import encr_for, pad_ikev2, unpad_ikev2
from racoon2.errors import CryptoError

from .vectors import h, load, nist_rsp

RFC = load("encr.json")["cases"]


@pytest.mark.parametrize("case", RFC, ids=lambda c: c["source"])
def test_rfc_known_answer(case: dict[str, Any]) -> None:
    encr = encr_for(case["id"], case["bits"])
    keymat, iv, aad = h(case["keymat"]), h(case["iv"]), h(case["aad"])
    assert encr.encrypt(keymat, iv, h(case["pt"]), aad) == (h(case["ct"]), h(case["icv"]))
    assert encr.decrypt(keymat, iv, h(case["ct"]), h(case["icv"]), aad) == h(case["pt"])


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_nist_aes_cbc(bits: int) -> None:
    encr = encr_for(12, bits)
    records = [r for r in nist_rsp(f"ciphers/AES/CBC/CBCMMT{bits}.rsp") if "CIPHERTEXT" in r]
    assert len(records) >= 10
    for r in records:
        key, iv, pt, ct = h(r["KEY"]), h(r["IV"]), h(r["PLAINTEXT"]), h(r["CIPHERTEXT"])
        if r["section"] == "ENCRYPT":
            assert encr.encrypt(key, iv, pt) == (ct, b"")
        else:
            assert encr.decrypt(key, iv, ct) == pt


def test_nist_3des_cbc() -> None:
    encr = encr_for(3)
    records = [r for r in nist_rsp("ciphers/3DES/CBC/TCBCMMT3.rsp") if "CIPHERTEXT" in r]
    assert len(records) >= 10
    for r in records:
        key = h(r["KEY1"] + r["KEY2"] + r["KEY3"])
        iv, pt, ct = h(r["IV"]), h(r["PLAINTEXT"]), h(r["CIPHERTEXT"])
        assert encr.encrypt(key, iv, pt)[0] == ct
        assert encr.decrypt(key, iv, ct) == pt


GCM_IDS = {64: 18, 96: 19, 128: 20}


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_nist_gcm(bits: int) -> None:
    checked = {64: 0, 96: 0, 128: 0}
    for r in nist_rsp(f"ciphers/AES/GCM/gcmEncryptExtIV{bits}.rsp"):
        tag_bits = int(r["Taglen"])
        if r["IVlen"] != "96" or tag_bits not in GCM_IDS or checked[tag_bits] >= 15:
            continue
        encr = encr_for(GCM_IDS[tag_bits], bits)
        nonce = h(r["IV"])
        keymat, iv = h(r["Key"]) + nonce[:4], nonce[4:]
        pt, aad, ct, tag = h(r["PT"]), h(r["AAD"]), h(r["CT"]), h(r["Tag"])
        assert encr.encrypt(keymat, iv, pt, aad) == (ct, tag)
        assert encr.decrypt(keymat, iv, ct, tag, aad) == pt
        checked[tag_bits] += 1
    assert all(n == 15 for n in checked.values())


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_nist_ccm16(bits: int) -> None:
    encr = encr_for(16, bits)
    records = [r for r in nist_rsp(f"ciphers/AES/CCM/VNT{bits}.rsp") if r.get("Nlen") == "11"]
    assert len(records) == 10
    for r in records:
        nonce = h(r["Nonce"])
        keymat, iv = h(r["Key"]) + nonce[:3], nonce[3:]
        sealed = h(r["CT"])
        ct, tag = sealed[:-16], sealed[-16:]
        assert encr.encrypt(keymat, iv, h(r["Payload"]), h(r["Adata"])) == (ct, tag)


@pytest.mark.parametrize("ident", [14, 15, 16, 18, 19, 20, 28])
def test_aead_rejects_tampering(ident: int) -> None:
    encr = encr_for(ident, None if ident == 28 else 128)
    keymat = bytes(range(encr.transform.keymat_size))
    iv = b"\x01" * 8
    ct, icv = encr.encrypt(keymat, iv, b"payload", b"header")
    assert encr.decrypt(keymat, iv, ct, icv, b"header") == b"payload"
    with pytest.raises(CryptoError, match="ICV check failed"):
        encr.decrypt(keymat, iv, ct, icv, b"Header")
    with pytest.raises(CryptoError, match="ICV"):
        encr.decrypt(keymat, iv, ct, icv[:-1], b"header")


def test_size_errors() -> None:
    cbc = encr_for(12, 128)
    with pytest.raises(CryptoError, match="16 bytes of keying material"):
        cbc.encrypt(b"k" * 15, b"i" * 16, b"p" * 16)
    with pytest.raises(CryptoError, match="16-byte IV"):
        cbc.encrypt(b"k" * 16, b"i" * 8, b"p" * 16)
    with pytest.raises(CryptoError, match="not a multiple"):
        cbc.encrypt(b"k" * 16, b"i" * 16, b"p" * 15)
    with pytest.raises(CryptoError, match="cannot encrypt"):
        encr_for(11).encrypt(b"", b"", b"")


@given(st.binary(max_size=100), st.sampled_from([1, 8, 16]))
def test_ikev2_padding_round_trips(data: bytes, block: int) -> None:
    padded = pad_ikev2(data, block)
    assert len(padded) % block == 0
    assert unpad_ikev2(padded) == data


def test_unpad_rejects_bad_length() -> None:
    with pytest.raises(CryptoError, match="Pad Length"):
        unpad_ikev2(b"\x00\x05")


ALL_CIPHERS = [(3, None), (12, 128), (12, 192), (12, 256), (13, 128), (13, 256), (14, 128),
               (15, 192), (16, 256), (18, 128), (19, 192), (20, 256), (28, None)]


@given(st.sampled_from(ALL_CIPHERS), st.binary(max_size=64), st.binary(max_size=16),
       st.binary(min_size=64, max_size=64))
def test_every_cipher_round_trips(cipher: tuple[int, int | None], data: bytes, aad: bytes,
                                  material: bytes) -> None:
    encr = encr_for(*cipher)
    t = encr.transform
    keymat, iv = material[: t.keymat_size], material[: t.iv_size]
    plaintext = pad_ikev2(data, t.block_size)
    ct, icv = encr.encrypt(keymat, iv, plaintext, aad)
    assert len(ct) == len(plaintext) and len(icv) == t.icv_size
    assert unpad_ikev2(encr.decrypt(keymat, iv, ct, icv, aad)) == data
