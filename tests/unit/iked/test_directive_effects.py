"""Directives whose effect is in iked's settings alone (issue 15 §2; the effects between two
cores are in tests/pair/test_directive_effects.py)."""

from __future__ import annotations

from pathlib import Path

from iked.ikev2.settings import child_settings, peer_settings
from racoon2.config import loads
from racoon2.config.files import read_secret

# -- 1. infinite ---------------------------------------------------------------------------


def test_child_settings_of_infinite_lifetimes(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "samples" / "ikev2-transport.conf"
            ).read_text().replace("ipsec_sa_lifetime_time 1 hour;",
                                  "ipsec_sa_lifetime_time infinite; "
                                  "ipsec_sa_lifetime_byte infinite;")
    config = loads(text, "racoon2.conf")
    child = child_settings(config, config.policies[0], lambda spec: ())
    assert (child.lifetime_seconds, child.lifetime_bytes) == (0, 0)


# -- 6. the pre-shared key is the file's raw bytes ---------------------------------------


def test_psk_keeps_its_trailing_newline(tmp_path: Path) -> None:
    key = tmp_path / "k.psk"
    key.write_bytes(b"key\r\n")
    key.chmod(0o600)
    text = (f'remote r {{ acceptable_kmp {{ ikev2; }}; ikev2 {{ my_id fqdn "a.example"; '
            f'pre_shared_key "{key}"; kmp_enc_alg {{ aes128_cbc; }}; kmp_hash_alg {{ '
            'hmac_sha2_256; }; kmp_dh_group { modp2048; }; }; };')
    config = loads(text, str(tmp_path / "racoon2.conf"))
    assert peer_settings(config, config.remote("r"), read_secret).psk == b"key\r\n"
