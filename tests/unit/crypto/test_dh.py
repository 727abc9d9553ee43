"""Key exchange tests: RFC 5903 and RFC 7748 known answers, RFC 3526 primes, ML-KEM KATs
(NIST ACVP-style vectors from cryptography_vectors), both MODP arithmetic paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.crypto import dh
from racoon2.crypto.rng import DeterministicRng
from racoon2.errors import CryptoError

from .vectors import h, load, nist_rsp

VEC = load("dh.json")


class FixedRng:
    """Hands out pre-set private keys, one per call."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def random_bytes(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


def _ecp_private(group: int, value: str) -> bytes:
    # EcpExchange keeps the top key_size bits of its random bytes; P-521 has 7 spare bits.
    size = {19: 32, 20: 48, 21: 66}[group]
    shift = size * 8 - {19: 256, 20: 384, 21: 521}[group]
    return (int(value, 16) << shift).to_bytes(size, "big")


@pytest.mark.parametrize("case", VEC["ecp"], ids=lambda c: c["source"])
def test_rfc5903(case: dict[str, Any]) -> None:
    g = case["group"]
    ini = dh.start(g, FixedRng(_ecp_private(g, case["i"])))
    res = dh.start(g, FixedRng(_ecp_private(g, case["r"])))
    if case["gi"]:
        assert ini.public_bytes() == h(case["gi"])
        assert res.public_bytes() == h(case["gr"])
    assert ini.shared_secret(res.public_bytes()) == h(case["girx"])
    assert res.shared_secret(ini.public_bytes()) == h(case["girx"])


def test_ecp_rejects_point_off_curve() -> None:
    case = VEC["ecp"][0]
    ini = dh.start(19, FixedRng(h(case["i"])))
    bad = bytearray(h(case["gr"]))
    bad[-1] ^= 1
    with pytest.raises(CryptoError, match="not on the curve"):
        ini.shared_secret(bytes(bad))
    with pytest.raises(CryptoError, match="expected 64"):
        ini.shared_secret(b"\x01" * 65)


def test_rfc7748_x25519_exchange() -> None:
    v = VEC["x25519"]
    a = dh.start(31, FixedRng(h(v["a"])))
    b = dh.start(31, FixedRng(h(v["b"])))
    assert a.public_bytes() == h(v["a_pub"])
    assert b.public_bytes() == h(v["b_pub"])
    assert a.shared_secret(h(v["b_pub"])) == h(v["shared"])
    assert b.shared_secret(h(v["a_pub"])) == h(v["shared"])


@pytest.mark.parametrize(("group", "path"), [(31, "X25519"), (32, "X448")])
def test_rfc7748_function_vectors(group: int, path: str) -> None:
    records = [r for r in nist_rsp(f"asymmetric/{path}/rfc7748.txt") if "OUTPUT_U" in r]
    assert records
    for r in records:
        ex = dh.start(group, FixedRng(h(r["INPUT_SCALAR"])))
        assert ex.shared_secret(h(r["INPUT_U"])) == h(r["OUTPUT_U"])


def test_montgomery_rejects_small_order_point() -> None:
    ex = dh.start(31, DeterministicRng(b"x"))
    with pytest.raises(CryptoError, match="all zeros"):
        ex.shared_secret(bytes(32))
    with pytest.raises(CryptoError, match="expected 32"):
        ex.shared_secret(bytes(31))


@pytest.mark.parametrize("group", [1, 2, 5, 14, 15, 16, 17, 18])
def test_modp_primes_are_the_rfc_ones(group: int) -> None:
    p = dh.modp_prime(group)
    bits = {1: 768, 2: 1024, 5: 1536, 14: 2048, 15: 3072, 16: 4096, 17: 6144, 18: 8192}[group]
    assert p.bit_length() == bits
    # Every RFC 2409/3526 prime starts with 64 one bits then pi's fraction, ends in 64 ones.
    assert f"{p:x}".startswith("ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd1")
    assert p & ((1 << 64) - 1) == (1 << 64) - 1
    assert pow(2, p - 1, p) == 1
    tail = VEC["modp_tails"].get(str(group))
    if tail:
        assert f"{p:X}".endswith(tail)


@pytest.mark.parametrize("group", [1, 2, 14])
def test_modp_primes_are_safe(group: int) -> None:
    q = (dh.modp_prime(group) - 1) // 2
    for base in (2, 3, 5, 7):
        assert pow(base, q - 1, q) == 1


@pytest.mark.parametrize("group", [1, 2, 5, 14, 15, 16])
def test_modp_library_and_pure_python_agree(group: int) -> None:
    lib_a = dh.ModpExchange(dh.by_id(dh.TransformType.KE, group), DeterministicRng(b"a"))
    py_a = dh.ModpExchange(dh.by_id(dh.TransformType.KE, group), DeterministicRng(b"a"),
                           use_library=False)
    b = dh.start(group, DeterministicRng(b"b"), use_library=False)
    assert lib_a.public_bytes() == py_a.public_bytes()
    nbytes = min(800, lib_a.p.bit_length() - 2) // 8
    x = int.from_bytes(DeterministicRng(b"a").random_bytes(nbytes), "big") | (1 << nbytes * 8 - 1)
    assert lib_a.public_bytes() == pow(2, x, lib_a.p).to_bytes(lib_a.size, "big")
    secret = lib_a.shared_secret(b.public_bytes())
    assert secret == py_a.shared_secret(b.public_bytes()) == b.shared_secret(lib_a.public_bytes())
    assert len(secret) == lib_a.size


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_modp_library_fallback_when_ffdh_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(*_: object) -> object:
        raise dh.UnsupportedAlgorithm("FFDH removed")

    monkeypatch.setattr(dh.crypto_dh, "DHParameterNumbers", gone)
    ex = dh.start(14, DeterministicRng(b"a"))
    ref = dh.start(14, DeterministicRng(b"a"), use_library=False)
    assert ex.use_library  # type: ignore[attr-defined]
    assert ex.public_bytes() == ref.public_bytes()


@given(st.integers(min_value=0, max_value=3))
def test_modp_rejects_degenerate_peer_values(delta: int) -> None:
    ex = dh.start(2, DeterministicRng(b"a"), use_library=False)
    p = ex.p  # type: ignore[attr-defined]
    for bad in (delta if delta < 2 else 0, p - 1, p + delta):
        if bad.bit_length() <= 1024:
            with pytest.raises(CryptoError, match="out of range"):
                ex.shared_secret(bad.to_bytes(128, "big"))
    with pytest.raises(CryptoError, match="expected 128"):
        ex.shared_secret(b"\x02")


@pytest.mark.parametrize(("group", "name"), [(36, "768"), (37, "1024")])
def test_mlkem_known_answers(group: int, name: str) -> None:
    records = nist_rsp(f"asymmetric/MLKEM/kat_MLKEM_{name}.rsp")[:5]
    assert records
    for r in records:
        ini = dh.start(group, FixedRng(h(r["d"]) + h(r["z"])))
        assert ini.public_bytes() == h(r["pk"])
        assert ini.shared_secret(h(r["ct"])) == h(r["ss"])


@pytest.mark.parametrize("group", [36, 37])
def test_mlkem_round_trip(group: int) -> None:
    ini = dh.start(group, DeterministicRng(b"i"))
    ciphertext, secret = dh.respond(group, ini.public_bytes(), DeterministicRng(b"r"))
    assert ini.shared_secret(ciphertext) == secret
    with pytest.raises(CryptoError, match="wrong length"):
        ini.shared_secret(ciphertext[:-1])
    with pytest.raises(CryptoError, match="malformed"):
        dh.respond(group, ini.public_bytes()[:-1], DeterministicRng(b"r"))


def test_mlkem512_reports_unavailable() -> None:
    if dh.mlkem is not None and hasattr(dh.mlkem, "MLKEM512PrivateKey"):
        pytest.skip("this cryptography build has ML-KEM-512")
    with pytest.raises(CryptoError, match="ML_KEM_512 is not available"):
        dh.start(35, DeterministicRng(b"i"))


@pytest.mark.parametrize("group", [1, 2, 5, 14, 19, 20, 21, 31, 32])
def test_respond_matches_start(group: int) -> None:
    ini = dh.start(group, DeterministicRng(b"i"))
    data, secret = dh.respond(group, ini.public_bytes(), DeterministicRng(b"r"))
    assert ini.shared_secret(data) == secret


def test_mlkem512_responder_reports_unavailable() -> None:
    if dh.mlkem is not None and hasattr(dh.mlkem, "MLKEM512PrivateKey"):
        pytest.skip("this cryptography build has ML-KEM-512")
    with pytest.raises(CryptoError, match="ML_KEM_512 is not available"):
        dh.respond(35, bytes(800), DeterministicRng(b"r"))
