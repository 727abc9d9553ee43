"""racoon2.crypto.weak: which negotiated transforms iked names as weak, and why (RFC 8247's
and RFC 8221's requirement levels)."""

from __future__ import annotations

from racoon2.crypto import transforms as tt
from racoon2.crypto.weak import WEAK, weaknesses


def test_every_weak_name_is_a_transform() -> None:
    names = {t.name for t in tt.TRANSFORMS}
    assert set(WEAK) <= names


def test_names_are_found_in_suites_and_said_once() -> None:
    # An IKEv1 phase 1 suite, a CHILD_SA's algorithms text, a PFS group.
    assert weaknesses(("ENCR_3DES", "PRF_HMAC_SHA1", "MODP_1024")) == [
        "ENCR_3DES (64-bit block (Sweet32), RFC 8221 §5 SHOULD NOT)",
        "PRF_HMAC_SHA1 (SHA-1, RFC 8247 §2.2 MUST-)",
        "MODP_1024 (1024-bit group, RFC 8247 §2.4 SHOULD NOT)"]
    assert weaknesses(("ENCR_AES_CBC-128/AUTH_HMAC_SHA1_96 in UDP", "MODP_1024",
                       "AUTH_HMAC_SHA1_96")) == [
        "AUTH_HMAC_SHA1_96 (SHA-1, RFC 8247 §2.3 MUST-)",
        "MODP_1024 (1024-bit group, RFC 8247 §2.4 SHOULD NOT)"]


def test_strong_suites_are_not_named() -> None:
    assert weaknesses(("ENCR_AES_GCM_16-256", "PRF_HMAC_SHA2_256", "CURVE25519",
                       "ML_KEM_768", "ENCR_AES_CBC-128/AUTH_HMAC_SHA2_256_128",
                       "MODP_2048", "AUTH_HMAC_SHA2_512_256")) == []
