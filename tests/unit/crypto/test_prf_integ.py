"""Known-answer tests for PRFs, prf+ and integrity transforms (sources in mac_prf.json)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.crypto.integ import integ_for
from racoon2.crypto.prf import prf_for, prf_for_hash
from racoon2.crypto.rng import DeterministicRng, SystemRng
from racoon2.crypto.transforms import TRANSFORMS, TransformType, by_id, by_keyword
from racoon2.errors import CryptoError

from .vectors import h, load

VEC = load("mac_prf.json")


@pytest.mark.parametrize("case", VEC["prf"], ids=lambda c: c["source"])
def test_prf_known_answer(case: dict[str, Any]) -> None:
    assert prf_for(case["id"]).compute(h(case["key"]), h(case["data"])) == h(case["out"])


@pytest.mark.parametrize("case", VEC["integ"], ids=lambda c: c["source"])
def test_integ_known_answer(case: dict[str, Any]) -> None:
    integ = integ_for(case["id"])
    data = h(case["data"])
    assert integ.compute(h(case["key"]), data) == h(case["icv"])
    integ.verify(h(case["key"]), data, h(case["icv"]))
    with pytest.raises(CryptoError, match="integrity check failed"):
        integ.verify(h(case["key"]), data + b"x", h(case["icv"]))


def test_integ_rejects_wrong_key_size() -> None:
    with pytest.raises(CryptoError, match="16-byte key"):
        integ_for(5).compute(b"short", b"")


def test_prf_plus_is_chained_prf() -> None:
    prf = prf_for(2)
    key, seed = b"k" * 20, b"seed"
    t1 = prf.compute(key, seed + b"\x01")
    t2 = prf.compute(key, t1 + seed + b"\x02")
    assert prf.plus(key, seed, 30) == (t1 + t2)[:30]
    with pytest.raises(CryptoError):
        prf.plus(key, seed, 255 * 20 + 1)


def test_ikev1_prf_from_hash() -> None:
    assert prf_for_hash("sha2_256").transform.ident == 5
    with pytest.raises(CryptoError, match="unsupported IKEv1 hash"):
        prf_for_hash("tiger")


def test_transform_lookup() -> None:
    assert by_id(TransformType.ENCR, 12, 256).keyword == "aes256_cbc"
    assert by_keyword(TransformType.ENCR, "aes_ctr", 192).xfrm_name == "rfc3686(ctr(aes))"
    assert by_keyword(TransformType.INTEG, "hmac_sha2_256").xfrm_trunc_bits == 128
    assert by_keyword(TransformType.ENCR, "aes128_gcm16").keymat_size == 20
    assert by_keyword(TransformType.KE, "modp2048").ident == 14
    assert by_id(TransformType.ADDKE3, 36).keyword == "mlkem768"
    assert by_id(TransformType.INTEG, 8).sadb_id is None
    with pytest.raises(CryptoError, match="Key Length"):
        by_id(TransformType.ENCR, 12)
    with pytest.raises(CryptoError, match="does not take a Key Length"):
        by_id(TransformType.ENCR, 3, 128)
    with pytest.raises(CryptoError, match="not take a 64-bit"):
        by_id(TransformType.ENCR, 12, 64)
    with pytest.raises(CryptoError, match="unsupported"):
        by_id(TransformType.PRF, 99)
    with pytest.raises(CryptoError, match="not supported as"):
        by_keyword(TransformType.ENCR, "twofish_cbc")


def test_table_is_consistent() -> None:
    seen = set()
    for t in TRANSFORMS:
        key = (t.kind, t.ident, t.key_size)
        assert key not in seen, t
        seen.add(key)
        if t.aead:
            assert t.icv_size and t.salt_size


def test_rngs() -> None:
    a, b = DeterministicRng(b"s"), DeterministicRng(b"s")
    assert a.random_bytes(50) + a.random_bytes(7) == b.random_bytes(57)
    assert DeterministicRng(b"t").random_bytes(8) != DeterministicRng(b"s").random_bytes(8)
    assert len(SystemRng().random_bytes(33)) == 33


@given(st.sampled_from([1, 2, 4, 5, 6, 7, 8]), st.binary(max_size=40), st.binary(max_size=40),
       st.integers(min_value=1, max_value=300))
def test_prf_plus_prefix_property(ident: int, key: bytes, seed: bytes, length: int) -> None:
    prf = prf_for(ident)
    full = prf.plus(key, seed, 300)
    assert prf.plus(key, seed, length) == full[:length]
    assert full[: prf.output_size] == prf.compute(key, seed + b"\x01")


def test_aes_cmac_refuses_other_key_sizes() -> None:
    from racoon2.crypto.prf import aes_cmac

    with pytest.raises(CryptoError, match="AES-CMAC needs a 16-byte key, got 15"):
        aes_cmac(b"k" * 15, b"data")
