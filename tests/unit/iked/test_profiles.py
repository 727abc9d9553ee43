"""Proposal profiles (iked/ikev2/profiles.py): each native client's offer (the lists of
doc/iked.md's "Proposal profiles", written as strongSwan proposal strings would send them) finds
the strong profile, except Windows' default, which only windows_legacy accepts."""

from __future__ import annotations

import pytest

from iked.ikev2 import proposals
from iked.ikev2.child_sa import without_ke
from iked.ikev2.profiles import CONFIGURED, PROFILES, choose
from racoon2.config.model import PROPOSAL_PROFILES, AlgSpec
from racoon2.crypto import transforms as tt
from racoon2.crypto.transforms import TransformType

STRONG = [("roadwarrior", PROFILES["roadwarrior"].ike())]
BOTH = [*STRONG, ("windows_legacy", PROFILES["windows_legacy"].ike())]


def offer(enc: str, prf: str, integ: str, groups: str) -> tuple[proposals.Proposal, ...]:
    def algs(text: str) -> tuple[AlgSpec, ...]:
        return tuple(AlgSpec(n, "test") for n in text.split()) if text else ()
    return proposals.ike_proposals(algs(enc), algs(prf), algs(integ), algs(groups))


#: (client, its IKE offer)
CLIENTS = {
    "windows-aes256-modp2048": offer("aes256_cbc", "hmac_sha1 hmac_sha2_256 hmac_sha2_384",
                                     "hmac_sha1 hmac_sha2_256 hmac_sha2_384", "modp2048"),
    "ios-macos": offer("aes256_cbc", "hmac_sha2_256", "hmac_sha2_256", "modp2048 ecp256"),
    "android-builtin": offer("aes256_cbc aes128_ctr", "hmac_sha2_512 aes_xcbc",
                             "hmac_sha2_512 hmac_sha2_256", "modp4096 curve25519 modp2048"),
    "strongswan-app": offer("aes128_cbc aes256_cbc 3des_cbc", "hmac_sha2_256 hmac_sha1",
                            "hmac_sha2_256 hmac_sha1", "ecp256 curve25519 modp2048"),
    "networkmanager-aead": offer("aes256_gcm16 chacha20_poly1305", "hmac_sha2_256", "",
                                 "curve25519 ecp384"),
}
WINDOWS_DEFAULT = offer("3des_cbc aes256_cbc", "hmac_sha1 hmac_sha2_256",
                        "hmac_sha1 hmac_sha2_256", "modp1024")


def test_the_names_the_config_accepts_are_the_profiles() -> None:
    assert tuple(PROFILES) == PROPOSAL_PROFILES


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_native_client_matches_the_strong_profile(client: str) -> None:
    found = choose(CLIENTS[client], BOTH)
    assert found is not None and found[0] == "roadwarrior"


def test_windows_default_needs_the_opt_in() -> None:
    assert choose(WINDOWS_DEFAULT, STRONG) is None
    found = choose(WINDOWS_DEFAULT, BOTH)
    assert found is not None and found[0] == "windows_legacy"
    group = found[1].get(TransformType.KE)
    encr = found[1].get(TransformType.ENCR)
    assert group is not None and group.keyword == "modp1024"
    assert encr is not None and encr.keyword == "aes256_cbc"  # never 3DES


def test_nothing_weak_in_the_strong_profile() -> None:
    strong = PROFILES["roadwarrior"]
    words = {a.name for a in (*strong.enc, *strong.prf, *strong.integ, *strong.groups)}
    words |= {a.name for enc, auth in strong.esp for a in (*enc, *auth)}
    assert not words & {"3des_cbc", "hmac_sha1", "hmac_md5", "modp768", "modp1024",
                        "modp1536", "null_enc"}


def test_configured_lists_come_first() -> None:
    mine = offer("aes128_cbc", "hmac_sha2_256", "hmac_sha2_256", "modp2048")
    found = choose(CLIENTS["strongswan-app"], [(CONFIGURED, mine), *BOTH])
    assert found is not None and found[0] == CONFIGURED


def test_windows_esp_needs_the_opt_in() -> None:
    windows_esp = proposals.child_proposal(1, bytes(4), (AlgSpec("aes256_cbc", "t"),),
                                           (AlgSpec("hmac_sha1", "t"),), False)
    sets = [(name, PROFILES[name].child(bytes(4))) for name in PROPOSAL_PROFILES]
    assert choose(windows_esp, sets[:1]) is None
    found = choose(windows_esp, sets)
    assert found is not None and found[0] == "windows_legacy"


def test_ike_auth_ignores_a_child_dh_group() -> None:
    """iOS offers its first CHILD_SA proposal with a DH group in IKE_AUTH (RFC 7296 §1.2
    allows none): the group is ignored, so that proposal is chosen, without it."""
    ios = proposals.child_proposal(1, bytes(4), (AlgSpec("aes256_cbc", "t"),),
                                   (AlgSpec("hmac_sha2_256", "t"),), False,
                                   (tt.by_keyword(TransformType.KE, "modp2048"),))
    mine = PROFILES["roadwarrior"].child(bytes(4))
    assert proposals.choose(ios, mine) is None
    found = proposals.choose(without_ke(ios), mine)
    assert found is not None and found.get(TransformType.KE) is None
    assert found.get(TransformType.INTEG) is not None

