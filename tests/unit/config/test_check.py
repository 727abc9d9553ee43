"""Per-daemon checks (what -n does beyond parsing): secrets, required directives, support."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.crypto import dh
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]

IKEV2 = """
interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "/run/spmif"; }}; spmd_password "{pwd}"; }};
remote r {{ acceptable_kmp ikev2; ikev2 {{
    my_id ipaddr 192.0.2.1; peers_ipaddr 192.0.2.2;
    kmp_enc_alg aes128_cbc; kmp_prf_alg hmac_sha2_256; kmp_hash_alg hmac_sha2_256;
    kmp_dh_group modp2048; kmp_auth_method psk; pre_shared_key "{psk}"; {extra} }}; }};
selector s {{ src 192.0.2.1; dst 192.0.2.2; policy_index p; }};
policy p {{ action auto_ipsec; remote_index r; ipsec_mode transport; ipsec_level require;
            ipsec_index i; }};
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha2_256; }};
"""


def ikev2(load: Load, secret: Secret, extra: str = "", **modes: int) -> Config:
    pwd = secret("spmd.pwd", mode=modes.get("pwd", 0o600))
    psk = secret("psk/r.psk", mode=modes.get("psk", 0o600))
    return load(IKEV2.format(pwd=pwd, psk=psk, extra=extra))


def test_good_config_passes_spmd_and_iked(load: Load, secret: Secret) -> None:
    cfg = ikev2(load, secret)
    assert check_config(cfg, "spmd") == []
    assert check_config(cfg, "iked") == []


@pytest.mark.parametrize("which", ["pwd", "psk"])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_secret_files_must_be_0600(load: Load, secret: Secret, which: str, mode: int) -> None:
    cfg = ikev2(load, secret, **{which: mode})
    with pytest.raises(ConfigError) as e:
        check_config(cfg, "iked")
    message = str(e.value)
    assert f"mode {mode:04o} lets others read a secret; chmod 600 it" in message
    assert (".pwd" if which == "pwd" else ".psk") in message
    assert ":2: " in message or ":6: " in message  # the directive that names the file


def test_secret_file_owned_by_someone_else(load: Load, secret: Secret) -> None:
    cfg = ikev2(load, secret)
    assert cfg.interface is not None and cfg.interface.spmd_password is not None
    os.chown(cfg.interface.spmd_password, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534, expected the running user"):
        check_config(cfg, "spmd")


def test_missing_secret_file_is_a_warning_naming_pskgen(load: Load, secret: Secret) -> None:
    cfg = ikev2(load, secret)
    assert cfg.interface is not None and cfg.interface.spmd_password is not None
    os.unlink(cfg.interface.spmd_password)
    [warning] = check_config(cfg, "spmd")
    assert warning.where.endswith(":2")
    assert warning.message == (f"spmif password file {cfg.interface.spmd_password} does not "
                               f"exist yet; create it with: pskgen -r -o "
                               f"{cfg.interface.spmd_password}")


def test_iked_rejects_unsupported_algorithms(load: Load, secret: Secret) -> None:
    text_cfg = load(IKEV2.format(pwd=secret("p2"), psk=secret("k2"), extra="").replace(
        "kmp_enc_alg aes128_cbc", "kmp_enc_alg blowfish_cbc"))
    with pytest.raises(ConfigError, match="found blowfish_cbc in kmp_enc_alg, expected one "
                                          "ikev2 supports"):
        check_config(text_cfg, "iked")


def test_iked_requires_my_id_and_sane_nonce(load: Load, secret: Secret) -> None:
    no_id = load(IKEV2.format(pwd=secret("p"), psk=secret("k"), extra="").replace(
        "my_id ipaddr 192.0.2.1;", ""))
    with pytest.raises(ConfigError, match="ikev2 lacks my_id"):
        check_config(no_id, "iked")
    with pytest.raises(ConfigError, match="found nonce_size 8, expected 16 to 256"):
        check_config(ikev2(load, secret, "nonce_size 8;"), "iked")


def test_iked_warns_about_ignored_directives(load: Load, secret: Secret) -> None:
    warnings = check_config(ikev2(load, secret, "send_cert on; logmode debug;"), "iked")
    assert [w.message for w in warnings] == ["send_cert is not used by IKEv2, ignored",
                                             "logmode is parsed but not used, ignored"]
    assert all(w.where.endswith(":6") for w in warnings)


def test_iked_psk_without_key_file(load: Load, secret: Secret) -> None:
    cfg = load(IKEV2.format(pwd=secret("p"), psk="x", extra="").replace(
        'pre_shared_key "x";', ""))
    with pytest.raises(ConfigError, match="uses psk but has no pre_shared_key"):
        check_config(cfg, "iked")


def test_iked_unknown_remote_index(load: Load, secret: Secret) -> None:
    cfg = load(IKEV2.format(pwd=secret("p"), psk=secret("k"), extra="").replace(
        "remote_index r;", "remote_index nope;"))
    with pytest.raises(ConfigError, match="found remote_index 'nope', expected the name of a "
                                          "remote"):
        check_config(cfg, "iked")


@pytest.mark.parametrize(("change", "message"), [
    (("ipsec_mode transport;", ""), "lacks ipsec_mode"),
    (("ipsec_level require;", ""), "lacks ipsec_level"),
    (("ipsec_mode transport;", "ipsec_mode tunnel;"), "lacks my_sa_ipaddr"),
    (("src 192.0.2.1;", "src MY_IP;"), None),
    (("src 192.0.2.1; dst 192.0.2.2;", "src MY_IP; dst IP_ANY;"), "macros for both src and dst"),
    (("policy_index p;", ""), "has no policy_index"),
    (("ipsec_index i;", ""), "lacks ipsec_index"),
])
def test_spmd_policy_rules(load: Load, secret: Secret, change: tuple[str, str],
                           message: str | None) -> None:
    cfg = load(IKEV2.format(pwd=secret("p"), psk=secret("k"), extra="").replace(*change))
    if message is None:
        assert check_config(cfg, "spmd") == []
        return
    with pytest.raises(ConfigError, match=message):
        check_config(cfg, "spmd")


def test_spmd_needs_its_interface(load: Load) -> None:
    with pytest.raises(ConfigError, match="expected where spmd listens"):
        check_config(load("sa s { sa_protocol esp; };"), "spmd")
    with pytest.raises(ConfigError, match="found no spmd_password"):
        check_config(load('interface { spmd { unix "/x"; }; };'), "spmd")


def test_kinkd_needs_default_principal(load: Load, secret: Secret) -> None:
    pwd = secret("p")
    base = f'interface {{ kink 192.0.2.1; spmd {{ unix "/x"; }}; spmd_password "{pwd}"; }};'
    with pytest.raises(ConfigError, match="found no my_principal in default"):
        check_config(load(base), "kinkd")
    good = load(base + 'default { remote { kink { my_principal "kink/a@EXAMPLE.COM"; }; }; };'
                       'remote r { kink { my_principal "x@Y"; }; };')
    warnings = check_config(good, "kinkd")
    assert [w.message for w in warnings] == [
        "kinkd reads my_principal only from the default remote; this one is ignored"]


def test_additional_key_exchanges_pass(load: Load, secret: Secret) -> None:
    cfg = ikev2(load, secret, "kmp_addke1 mlkem768; kmp_addke2 { mlkem1024; none; };")
    assert check_config(cfg, "iked") == []


@pytest.mark.parametrize(("extra", "message"), [
    ("kmp_addke1 aes128_cbc;", "found aes128_cbc in kmp_addke1, expected a key exchange"),
    # cryptography 46-50 has no ML-KEM-512 (doc/iked.md, "Post-quantum").
    ("kmp_addke3 mlkem512;", "mlkem512 in kmp_addke3 is not available in the installed"),
])
def test_additional_key_exchange_refused(load: Load, secret: Secret, extra: str,
                                         message: str) -> None:
    if "mlkem512" in extra and dh.available(35):
        pytest.skip("this cryptography has ML-KEM-512: nothing to refuse")
    cfg = ikev2(load, secret, extra)
    with pytest.raises(ConfigError, match=message):
        check_config(cfg, "iked")


def test_iked_checks_fragment_size(load: Load, secret: Secret) -> None:
    # RFC 7383 fragmentation: on with 1280-octet datagrams unless written otherwise
    check_config(ikev2(load, secret, "fragmentation off; fragment_size 576;"), "iked")
    for bad in ("fragment_size 575;", "fragment_size 65536;", "fragment_size infinite;"):
        with pytest.raises(ConfigError, match=r":6: found fragment_size .* expected 576 to "
                           "65535 bytes"):
            check_config(ikev2(load, secret, bad), "iked")
