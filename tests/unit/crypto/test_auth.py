"""AUTH payload construction: RFC 6979/8032 signature known answers, NIST RSA SigGen
vectors (cryptography_vectors), RFC 7427 AlgorithmIdentifiers and the PSK "Key Pad"."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from racoon2.crypto import auth
from racoon2.crypto.auth import AuthMethod
from racoon2.crypto.prf import prf_for
from racoon2.errors import CryptoError

from .vectors import h, load, nist_rsp

VEC = load("auth.json")
CURVES = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.mark.parametrize("case", VEC["ecdsa"], ids=lambda c: c["source"])
def test_rfc6979_ecdsa_r_s_encoding(case: dict[str, Any]) -> None:
    key = ec.derive_private_key(int(case["d"], 16), CURVES[case["curve"]])
    method = AuthMethod(case["method"])
    data = auth.sign(method, key, b"sample", deterministic=True)
    assert data == h(case["r"]) + h(case["s"])
    auth.verify(method, key.public_key(), b"sample", data)
    with pytest.raises(CryptoError, match="does not verify"):
        auth.verify(method, key.public_key(), b"sampke", data)
    with pytest.raises(CryptoError, match="expected"):
        auth.verify(method, key.public_key(), b"sample", data[:-1])


def test_ecdsa_method_needs_matching_curve() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CryptoError, match="secp256r1"):
        auth.sign(AuthMethod.ECDSA_SHA256_P256, key, b"x")


def test_ed25519_rfc8032() -> None:
    v = VEC["ed25519"]
    key = ed25519.Ed25519PrivateKey.from_private_bytes(h(v["secret"]))
    data = auth.sign(AuthMethod.DIGITAL_SIGNATURE, key, h(v["message"]), "ed25519")
    ident = h("300506032b6570")
    assert data == bytes([len(ident)]) + ident + h(v["signature"])
    auth.verify(AuthMethod.DIGITAL_SIGNATURE, key.public_key(), b"", data)


def test_ed448_rfc8032() -> None:
    records = [r for r in nist_rsp("asymmetric/Ed448/rfc8032.txt") if not r.get("CONTEXT")]
    assert records
    for r in records:
        key = ed448.Ed448PrivateKey.from_private_bytes(h(r["SECRET"]))
        data = auth.sign(AuthMethod.DIGITAL_SIGNATURE, key, h(r["MESSAGE"]), "ed448")
        assert data[1 + data[0] :] == h(r["SIGNATURE"])


def test_rfc7427_identifiers() -> None:
    by_name = {s.name: s.identifier for s in auth.SCHEMES}
    for name, value in VEC["rfc7427_identifiers"].items():
        assert by_name[name] == h(value)


def _siggen(path: str) -> list[dict[str, str]]:
    """SigGen .rsp records: a record ends at its S line; mod, n and e carry over."""
    import cryptography_vectors

    records: list[dict[str, str]] = []
    state: dict[str, str] = {}
    with cryptography_vectors.open_vector_file(path, "r") as f:
        for line in f.read().splitlines():
            line = line.strip().strip("[]")
            if "=" not in line or line.startswith("#"):
                continue
            name, _, value = (part.strip() for part in line.partition("="))
            state[name] = value
            if name == "S":
                records.append(dict(state))
    return records


@pytest.mark.parametrize("hash_name", ["SHA256", "SHA512"])
def test_nist_rsa_pkcs1_signatures_verify(hash_name: str) -> None:
    records = [r for r in _siggen("asymmetric/RSA/FIPS_186-2/SigGen15_186-3.rsp")
               if r["SHAAlg"] == hash_name and r["mod"] == "2048"]
    assert records
    scheme = "sha256WithRSAEncryption" if hash_name == "SHA256" else "sha512WithRSAEncryption"
    ident = {s.name: s.identifier for s in auth.SCHEMES}[scheme]
    for r in records:
        key = rsa.RSAPublicNumbers(int(r["e"], 16), int(r["n"], 16)).public_key()
        data = bytes([len(ident)]) + ident + h(r["S"])
        auth.verify(AuthMethod.DIGITAL_SIGNATURE, key, h(r["Msg"]), data)
        with pytest.raises(CryptoError):
            auth.verify(AuthMethod.DIGITAL_SIGNATURE, key, h(r["Msg"]) + b"x", data)


@pytest.mark.parametrize("scheme", ["sha256WithRSAEncryption", "rsassa-pss-sha256",
                                    "rsassa-pss-sha512", "sha384WithRSAEncryption"])
def test_rsa_rfc7427_round_trip(rsa_key: rsa.RSAPrivateKey, scheme: str) -> None:
    data = auth.sign(AuthMethod.DIGITAL_SIGNATURE, rsa_key, b"octets", scheme)
    auth.verify(AuthMethod.DIGITAL_SIGNATURE, rsa_key.public_key(), b"octets", data)
    with pytest.raises(CryptoError, match="does not verify"):
        auth.verify(AuthMethod.DIGITAL_SIGNATURE, rsa_key.public_key(), b"octetz", data)


def test_rsa_method_1_is_pkcs1_sha1(rsa_key: rsa.RSAPrivateKey) -> None:
    data = auth.sign(AuthMethod.RSA_SIG, rsa_key, b"octets")
    assert data == auth.sign(AuthMethod.RSA_SIG, rsa_key, b"octets")  # PKCS#1 v1.5
    auth.verify(AuthMethod.RSA_SIG, rsa_key.public_key(), b"octets", data)


def test_rfc7427_errors(rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CryptoError, match="cannot make"):
        auth.sign(AuthMethod.DIGITAL_SIGNATURE, ec_key, b"x", "sha256WithRSAEncryption")
    with pytest.raises(CryptoError, match="unknown RFC 7427"):
        auth.sign(AuthMethod.DIGITAL_SIGNATURE, ec_key, b"x", "md5")
    data = auth.sign(AuthMethod.DIGITAL_SIGNATURE, ec_key, b"x", "ecdsa-with-sha256")
    with pytest.raises(CryptoError, match="its key is rsa"):
        auth.verify(AuthMethod.DIGITAL_SIGNATURE, rsa_key.public_key(), b"x", data)
    with pytest.raises(CryptoError, match="unsupported RFC 7427"):
        auth.verify(AuthMethod.DIGITAL_SIGNATURE, ec_key.public_key(), b"x", b"\x02\x30\x00")
    with pytest.raises(CryptoError, match="shorter"):
        auth.verify(AuthMethod.DIGITAL_SIGNATURE, ec_key.public_key(), b"x", b"\x09\x30")
    with pytest.raises(CryptoError, match="not a signature method"):
        auth.sign(AuthMethod.SHARED_KEY_MIC, ec_key, b"x")


def test_psk_key_pad_and_signed_octets() -> None:
    prf = prf_for(5)
    octets = auth.signed_octets(b"MSG", b"NONCE", prf, b"skp", b"\x01\x00\x00\x00\xc0\x00\x02\x01")
    mac_id = hmac.new(b"skp", b"\x01\x00\x00\x00\xc0\x00\x02\x01", hashlib.sha256).digest()
    assert octets == b"MSGNONCE" + mac_id
    inner = hmac.new(b"secret", b"Key Pad for IKEv2", hashlib.sha256).digest()
    expected = hmac.new(inner, octets, hashlib.sha256).digest()
    assert auth.psk_auth(prf, b"secret", octets) == expected
    auth.verify_psk_auth(prf, b"secret", octets, expected)
    with pytest.raises(CryptoError, match="pre-shared key"):
        auth.verify_psk_auth(prf, b"Secret", octets, expected)


def test_ikev1_hashes() -> None:
    prf = prf_for(2)
    hi = auth.ikev1_hash_i(prf, b"K", b"gi", b"gr", b"ci", b"cr", b"sa", b"id")
    hr = auth.ikev1_hash_r(prf, b"K", b"gi", b"gr", b"ci", b"cr", b"sa", b"id")
    assert hi == hmac.new(b"K", b"gigrcicrsaid", hashlib.sha1).digest()
    assert hr == hmac.new(b"K", b"grgicrcisaid", hashlib.sha1).digest()


def test_ikev1_rsa_raw_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    digest = hashlib.sha1(b"HASH_I input").digest()
    sig = auth.ikev1_rsa_sign(rsa_key, digest)
    # The public operation recovers the padded bare hash (no DigestInfo).
    n = rsa_key.public_key().public_numbers()
    block = pow(int.from_bytes(sig, "big"), n.e, n.n).to_bytes(256, "big")
    assert block.startswith(b"\x00\x01\xff") and block.endswith(b"\x00" + digest)
    auth.ikev1_rsa_verify(rsa_key.public_key(), digest, sig)
    with pytest.raises(CryptoError, match="does not verify"):
        auth.ikev1_rsa_verify(rsa_key.public_key(), bytes(20), sig)
    with pytest.raises(CryptoError, match="wrong size"):
        auth.ikev1_rsa_verify(rsa_key.public_key(), digest, sig[1:])


def test_library_refusals_are_crypto_errors() -> None:
    # A 1024-bit modulus has no room for RSASSA-PSS with SHA-512 and a 64-octet salt: the
    # library's ValueError must reach callers as a CryptoError naming the scheme and the key.
    small = rsa.generate_private_key(65537, 1024)
    with pytest.raises(CryptoError, match="rsassa-pss-sha512 signature with this 1024-bit"):
        auth.sign(AuthMethod.DIGITAL_SIGNATURE, small, b"x", "rsassa-pss-sha512")
    with pytest.raises(CryptoError, match="AUTH method 7 is not a signature method"):
        auth.verify(7, small.public_key(), b"x", b"\x00" * 128)
    with pytest.raises(CryptoError, match="does not verify"):
        auth.verify(AuthMethod.RSA_SIG, small.public_key(), b"x", b"\xff" * 300)
