"""``default { policy { } ipsec { } sa { } }`` fill what a policy, ipsec or sa leaves out, and
only auto_ipsec policies are negotiated (issue 15): two in-memory cores, settings to SAs."""

from __future__ import annotations

from pathlib import Path

import pytest

from iked.events import ChildSaUp, NegotiationFailed

from .harness import of, pump, two_sides

#: The sample's sa without its esp_enc_alg, and a default section that supplies one.
NO_ENC = (("esp_enc_alg { aes256_cbc; aes128_cbc; };", ""),
          ("resolver { resolver off; };",
           "resolver { resolver off; };\n"
           "default { ipsec { ipsec_sa_lifetime_time 20 min; };\n"
           "          sa { esp_enc_alg { aes128_cbc; }; }; };"))


def test_an_sa_without_esp_enc_alg_negotiates_the_default_sas(tmp_path: Path) -> None:
    pair = two_sides(tmp_path, NO_ENC, NO_ENC)
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  and  i <- r
    # IKE_AUTH     i -> r  HDR, SK { …, SAi2 (ENCR_AES_CBC 128, the default sa's), … }
    # IKE_AUTH     i <- r  HDR, SK { …, SAr2 (ENCR_AES_CBC 128), … }
    pump(pair)
    for side in pair.values():
        assert of(side, ChildSaUp), of(side, NegotiationFailed)
        assert len(side.installed) == 2
        for sa in side.installed:
            # the sample's own ipsec lifetime (1 hour) counts over the default's 20 min
            assert sa.cipher is not None and sa.cipher.name == "cbc(aes)"
            assert len(sa.cipher.key) == 16 and sa.lifetime.hard_add_seconds == 3600


def test_a_policy_without_action_takes_the_default_policys(tmp_path: Path) -> None:
    edit = (("action auto_ipsec;", ""),
            ("resolver { resolver off; };",
             "resolver { resolver off; };\ndefault { policy { action auto_ipsec; }; };"))
    pair = two_sides(tmp_path, edit, edit)
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  and  i <- r;  IKE_AUTH  i -> r  and  i <- r
    pump(pair)
    assert of(pair["a"], ChildSaUp) and of(pair["b"], ChildSaUp)


@pytest.mark.parametrize("action", ["none", "discard", "static_ipsec"])
def test_the_initiator_negotiates_auto_ipsec_policies_only(tmp_path: Path,
                                                           action: str) -> None:
    pair = two_sides(tmp_path, (("action auto_ipsec;", f"action {action};"),))
    assert pair["a"].core.initiate("peer_out", 0.0) is None
    pump(pair)
    assert not pair["a"].installed and not pair["b"].installed
    [failed] = of(pair["a"], NegotiationFailed)
    assert f"policy peer_transport is {action}, not auto_ipsec" in failed.reason


@pytest.mark.parametrize("action", ["none", "discard", "static_ipsec"])
def test_the_responder_negotiates_auto_ipsec_policies_only(tmp_path: Path,
                                                           action: str) -> None:
    pair = two_sides(tmp_path, (), (("action auto_ipsec;", f"action {action};"),))
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  and  i <- r;  IKE_AUTH  i -> r  and  i <- r (no CHILD_SA: B has no
    # auto_ipsec policy for these traffic selectors)
    pump(pair)
    assert not of(pair["a"], ChildSaUp) and not of(pair["b"], ChildSaUp)
    assert not pair["a"].installed and not pair["b"].installed
