"""A policy's effective settings: its own directives, else ``default { policy { } ipsec { }
sa { } }``, else built in (doc/config.md §3), as iked and kinkd read them."""

from __future__ import annotations

from pathlib import Path

from iked.ikev2.settings import child_settings
from kinkd.settings import policy_settings
from racoon2.config import load_config, loads
from racoon2.config.effective import policy
from racoon2.config.model import INFINITE, SaProtocol
from racoon2.ipsec import Action, Level, Mode

ORIGINAL = Path(__file__).parents[2] / "samples" / "original"

CONFIG = """default {
    policy { action auto_ipsec; ipsec_mode tunnel; ipsec_level require;
             my_sa_ipaddr 192.0.2.1; peers_sa_ipaddr 192.0.2.2; };
    ipsec { ipsec_sa_lifetime_time 2 hours; ext_sequence on; };
    sa { esp_enc_alg { aes256_cbc; }; esp_auth_alg { hmac_sha2_256; }; };
};
remote r { acceptable_kmp { ikev2; kink; }; ikev2 { peers_ipaddr 192.0.2.2; }; };
selector s { direction outbound; src 198.51.100.0/24; dst 203.0.113.0/24; policy_index p; };
policy p { remote_index r; ipsec_mode transport; ipsec_index { bare; own; }; };
ipsec bare { sa_index e; };
ipsec own { ipsec_sa_lifetime_time 10 min; ext_sequence off; sa_index e2; };
sa e { sa_protocol esp; };
sa e2 { sa_protocol esp; esp_enc_alg { aes128_cbc; }; };
"""


def test_a_policy_takes_what_it_leaves_out_from_the_default_section() -> None:
    cfg = loads(CONFIG)
    eff = policy(cfg, cfg.policies[0])
    assert eff.action is Action.AUTO_IPSEC            # default
    assert eff.ipsec_mode is Mode.TRANSPORT           # its own counts
    assert eff.ipsec_level is Level.REQUIRE and eff.install is True   # default; built in
    assert str(eff.peers_sa_ipaddr.address if eff.peers_sa_ipaddr else "") == "192.0.2.2"
    bare, own = eff.ipsecs
    assert (bare.ipsec_sa_lifetime_time, bare.ext_sequence, bare.ipsec_sa_lifetime_byte) == \
        (7200, True, 0)
    assert (own.ipsec_sa_lifetime_time, own.ext_sequence) == (600, False)
    assert [a.name for a in bare.sas[0].esp_enc_alg] == ["aes256_cbc"]
    assert [a.name for a in own.sas[0].esp_enc_alg] == ["aes128_cbc"]
    assert [a.name for a in own.sas[0].esp_auth_alg] == ["hmac_sha2_256"]  # field by field
    assert own.sas[0].ah_auth_alg == () and own.sas[0].sa_protocol is SaProtocol.ESP
    assert policy(cfg, cfg.policies[0]) is eff        # built once


def test_iked_and_kinkd_build_their_sa_from_the_default_sa() -> None:
    cfg = loads(CONFIG)
    child = child_settings(cfg, cfg.policies[0], lambda spec: ())
    assert [[a.name for a in enc or ()] for enc, _ in child.esp] == [["aes256_cbc"],
                                                                      ["aes128_cbc"]]
    assert (child.tunnel, child.esn, child.lifetime_seconds) == (False, True, 7200)
    kink = policy_settings(cfg, cfg.policies[0])
    assert [o.encr.keyword for o in kink.offers] == ["aes256_cbc", "aes128_cbc"]
    assert kink.lifetime_seconds == 7200


def test_original_default_conf_sa_without_esp_enc_alg_gets_the_defaults(tmp_path: Path
                                                                          ) -> None:
    # default.conf: default { policy { ipsec_mode transport; ipsec_level require; };
    # ipsec { ipsec_sa_lifetime_time infinite; … }; sa { esp_enc_alg { aes256_cbc; aes128_cbc;
    # 3des_cbc; }; esp_auth_alg { hmac_sha1; }; }; }
    conf = tmp_path / "racoon2.conf"
    conf.write_text(f"""setval {{ MY_IPADDRESS "192.0.2.1"; PSKDIR "{tmp_path}";
    WILDCARD_PRESHRD_KEY "default.psk"; PH1UP_SCR "/bin/true"; PH1DOWN_SCR "/bin/true";
    MY_PRINCIPAL "kink/a.example@EXAMPLE.COM"; }};
include "{ORIGINAL / 'default.conf'}";
remote r {{ acceptable_kmp ikev2; ikev2 {{ peers_ipaddr 192.0.2.2; }}; }};
selector s {{ direction outbound; src 192.0.2.1; dst 192.0.2.2; policy_index p; }};
policy p {{ action auto_ipsec; remote_index r; ipsec_index i; }};
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; }};
""")
    cfg = load_config(str(conf))
    eff = policy(cfg, cfg.policies[0])
    assert (eff.ipsec_mode, eff.ipsec_level) == (Mode.TRANSPORT, Level.REQUIRE)
    assert eff.ipsecs[0].ipsec_sa_lifetime_time is INFINITE
    sa = eff.ipsecs[0].sas[0]
    assert [a.name for a in sa.esp_enc_alg] == ["aes256_cbc", "aes128_cbc", "3des_cbc"]
    assert [a.name for a in sa.esp_auth_alg] == ["hmac_sha1"]
    child = child_settings(cfg, cfg.policies[0], lambda spec: ())
    assert child.lifetime_seconds == 0  # infinite: no kernel limit
    assert [[a.name for a in enc or ()] for enc, _ in child.esp] == [
        ["aes256_cbc", "aes128_cbc", "3des_cbc"]]
