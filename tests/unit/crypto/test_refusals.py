"""Hostile input to every public entry of racoon2.crypto raises CryptoError and nothing else:
no ValueError, TypeError, InvalidTag, InvalidSignature or UnsupportedAlgorithm of the library
underneath reaches a caller (iked and kinkd catch CryptoError only)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from racoon2.crypto import auth, dh, x509
from racoon2.crypto.encr import encr_for
from racoon2.crypto.integ import integ_for
from racoon2.crypto.rng import DeterministicRng
from racoon2.crypto.transforms import TRANSFORMS, TransformType
from racoon2.errors import CryptoError

RSA = rsa.generate_private_key(65537, 1024)
P256 = ec.generate_private_key(ec.SECP256R1())
ED = ed25519.Ed25519PrivateKey.generate()
GROUPS = [1, 2, 14, 19, 20, 21, 31, 32, 35, 36, 37]
ENCRS = sorted({(t.ident, t.key_size * 8 if t.variable_key else None)
                for t in TRANSFORMS if t.kind is TransformType.ENCR and t.ident != 11})


def _only_crypto_error(call: Callable[..., object], *args: object) -> None:
    try:
        call(*args)
    except CryptoError:
        pass


@given(st.binary(max_size=600))
@settings(max_examples=60, deadline=None)
def test_loading_garbage(data: bytes) -> None:
    _only_crypto_error(lambda: x509.load_certificates(data))
    _only_crypto_error(lambda: x509.load_private_key(data))
    _only_crypto_error(lambda: x509.load_private_key(data, b"password"))
    _only_crypto_error(lambda: x509.load_public_key(data))
    _only_crypto_error(lambda: x509.load_certificates(b"-----BEGIN CERTIFICATE-----\n" + data))


@pytest.mark.parametrize("group", GROUPS)
@given(data=st.binary(max_size=1600))
@settings(max_examples=25, deadline=None)
def test_key_exchange_values(group: int, data: bytes) -> None:
    _only_crypto_error(lambda: dh.respond(group, data, DeterministicRng(b"r")))
    try:
        ours = dh.start(group, DeterministicRng(b"i"))
    except CryptoError:
        return  # ML-KEM-512 on a cryptography without it
    _only_crypto_error(lambda: ours.shared_secret(data))


@pytest.mark.parametrize("ident, bits", ENCRS)
@given(keymat=st.binary(max_size=40), iv=st.binary(max_size=20), ct=st.binary(max_size=48),
       icv=st.binary(max_size=20))
@settings(max_examples=25, deadline=None)
def test_decrypting_garbage(ident: int, bits: int | None, keymat: bytes, iv: bytes, ct: bytes,
                            icv: bytes) -> None:
    encr = encr_for(ident, bits)
    t = encr.transform
    _only_crypto_error(lambda: encr.decrypt(keymat, iv, ct, icv))
    # The right sizes too, so the library itself is reached (and its InvalidTag converted).
    right = (keymat + bytes(40))[:t.keymat_size], (iv + bytes(20))[:t.iv_size]
    _only_crypto_error(lambda: encr.decrypt(*right, ct, (icv + bytes(20))[:t.icv_size]))
    _only_crypto_error(lambda: encr.encrypt(*right, ct))


@given(method=st.sampled_from([1, 2, 3, 9, 10, 11, 14, 0, 201]), data=st.binary(max_size=300))
@settings(max_examples=60, deadline=None)
def test_verifying_garbage(method: int, data: bytes) -> None:
    for key in (RSA, P256, ED):
        _only_crypto_error(auth.verify, method, key.public_key(), b"octets", data)
    _only_crypto_error(lambda: auth.ikev1_rsa_verify(RSA.public_key(), b"d" * 20, data))
    _only_crypto_error(lambda: integ_for(12).verify(bytes(32), b"octets", data))


@pytest.mark.parametrize("scheme", [s.name for s in auth.SCHEMES])
def test_signing_with_every_scheme_and_key(scheme: str) -> None:
    for key in (RSA, P256, ED):
        _only_crypto_error(auth.sign, auth.AuthMethod.DIGITAL_SIGNATURE, key, b"o", scheme)
