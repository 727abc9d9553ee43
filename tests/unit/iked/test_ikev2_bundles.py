"""The bundles iked -n refuses, and the ones it accepts (RFC 7296 §3.3, §2.22; the AH and
IPComp CHILD_SAs themselves are negotiated in tests/pair/test_bundles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pair.bundles import AH, COMP, ESP_SA

from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def check(tmp: Path, edit: tuple[tuple[str, str], ...]) -> None:
    text = (SAMPLES / "ikev2-transport.conf").read_text()
    for old, new in edit:
        assert old in text
        text = text.replace(old, new)
    check_config(loads(text, str(tmp / "racoon2.conf")), "iked")


@pytest.mark.parametrize(("edit", "message"), [
    ((("sa_index esp_aes_sha256;", "sa_index { ah1; esp_aes_sha256; };"),
      (ESP_SA, "sa ah1 { sa_protocol ah; ah_auth_alg { hmac_sha1; }; };\n" + ESP_SA)),
     "cannot bundle AH with ESP"),
    ((("sa_index esp_aes_sha256;", "sa_index comp;"),
      (ESP_SA, "sa comp { sa_protocol ipcomp; };\n" + ESP_SA)),
     "IPComp is negotiated only beside ESP or AH"),
    ((("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
      (ESP_SA, "sa comp { sa_protocol ipcomp; ipcomp_alg { oui; }; };\n" + ESP_SA)),
     "found oui in ipcomp_alg"),
    ((("ipsec_index { esp_sha256; };", "ipsec_index { esp_sha256; ah_only; };"),
      ("ipsec esp_sha256 {", "ipsec ah_only { sa_index ah1; };\nsa ah1 { sa_protocol ah; "
                             "ah_auth_alg { hmac_sha1; }; };\nipsec esp_sha256 {")),
     "as in the policy's first ipsec"),
])
def test_check_refuses_what_a_child_sa_cannot_carry(tmp_path: Path,
                                                    edit: tuple[tuple[str, str], ...],
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as e:
        check(tmp_path, edit)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{tmp_path}/racoon2.conf:")


@pytest.mark.parametrize("edit", [AH, COMP])
def test_check_accepts_ah_and_esp_with_ipcomp(tmp_path: Path,
                                              edit: tuple[tuple[str, str], ...]) -> None:
    check(tmp_path, edit)
