"""Signing with certificate keys: the classic AUTH methods beside RFC 7427's (the IKE_AUTH
exchanges with certificates are in tests/pair/test_certs.py)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from pki import issue, make_ca, new_key

from iked.ikev2 import certs
from racoon2.crypto import auth
from racoon2.errors import CryptoError


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_classic_auth_methods_without_rfc7427(kind: str) -> None:
    ca = make_ca()
    key = new_key(kind)
    leaf = issue("host", key, (ca[0].subject, ca[1]), False)
    creds = certs.Credentials((leaf,), key)
    method, data = certs.sign(creds, b"octets", frozenset())
    assert method == (auth.AuthMethod.RSA_SIG if kind == "rsa"
                      else auth.AuthMethod.ECDSA_SHA256_P256)
    auth.verify(method, key.public_key(), b"octets", data)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        auth.verify(method, key.public_key(), b"other", data)  # type: ignore[arg-type]
    with pytest.raises(CryptoError, match="EdDSA"):
        certs.sign(certs.Credentials((leaf,), ed25519.Ed25519PrivateKey.generate()), b"o",
                   frozenset())
