"""-n for directives a daemon cannot honour (issue 15 §2): refused with file:line, or a
warning when the daemon runs on without them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_check import IKEV2, ikev2

from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]


@pytest.mark.parametrize("extra", [
    "ipsec_sa_nego_time_limit infinite;", "kmp_sa_lifetime_time infinite;",
    "kmp_sa_nego_time_limit infinite;", "dpd_delay infinite;", "kmp_sa_grace_period infinite;",
])
def test_infinite_limits_pass(load: Load, secret: Secret, extra: str) -> None:
    """``infinite`` is "no limit" for these (IKEv2 warns only about what it ignores)."""
    warnings = check_config(ikev2(load, secret, extra), "iked")
    assert all("infinite" not in w.message for w in warnings)


@pytest.mark.parametrize(("extra", "what"), [
    ("interval_to_send infinite;", "found interval_to_send infinite, expected a positive time"),
    ("interval_to_send 0;", "found interval_to_send 0, expected a positive time"),
    ("nonce_size infinite;", "found nonce_size infinite, expected a positive size"),
])
def test_infinite_where_it_means_nothing_is_refused(load: Load, secret: Secret, extra: str,
                                                    what: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_config(ikev2(load, secret, extra), "iked")
    assert str(e.value).endswith(f":6: {what} in ikev2")


def test_dss_is_refused_with_its_line(load: Load, secret: Secret) -> None:
    cfg = load(IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra="").replace(
        "kmp_auth_method psk;", "kmp_auth_method { psk;\ndss; };"))
    with pytest.raises(ConfigError) as e:
        check_config(cfg, "iked")
    assert ":7: found dss in kmp_auth_method, expected psk or rsasig" in str(e.value)
    assert "not implemented; use rsasig" in str(e.value)


def test_iked_without_interface_ike_is_refused(load: Load, secret: Secret) -> None:
    cfg = load(IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra="").replace(
        "ike { 192.0.2.1; }; ", ""))
    assert cfg.interface is not None and not cfg.interface.ike
    with pytest.raises(ConfigError) as e:
        check_config(cfg, "iked")
    assert ":2: found no 'interface { ike … }', expected the addresses iked listens on" in str(
        e.value)


def test_ikev1_aggressive_psk_is_warned_about(load: Load, secret: Secret) -> None:
    psk = secret("r.psk")
    cfg = load(IKEV2.format(pwd=secret("spmd.pwd"), psk=psk, extra="").replace(
        "acceptable_kmp ikev2;", "acceptable_kmp { ikev2; ikev1; };\n ikev1 { proposal_check "
        "claim; kmp_enc_alg aes128_cbc; kmp_hash_alg sha1; kmp_dh_group modp2048;\n"
        f'exchange_mode aggressive; kmp_auth_method psk; pre_shared_key "{psk}"; }};'))
    assert [(w.where.rpartition(":")[2], w.message) for w in check_config(cfg, "iked")] == [
        ("5", "remote 'r': aggressive mode with a pre-shared key is vulnerable to an offline "
              "dictionary attack on the key (CERT VU#886601); use main mode, or a long random "
              "key (pskgen)")]


KINKD = """interface {{ kink 192.0.2.1; spmd {{ unix "/x"; }}; spmd_password "{pwd}"; }};
default {{ remote {{ kink {{ my_principal "kink/a@EXAMPLE.COM"; }}; }}; }};
remote r {{ acceptable_kmp kink; kink {{ peers_principal "kink/b@EXAMPLE.COM";
    {extra} }}; }};
"""


def test_kinkd_warns_about_what_it_does_not_read(load: Load, secret: Secret) -> None:
    cfg = load(KINKD.format(pwd=secret("p"), extra="times_per_send 2;\nverify_id on;\n"
                            "proposal_check strict;"))
    assert [(w.where.rpartition(":")[2], w.message) for w in check_config(cfg, "kinkd")] == [
        ("4", "times_per_send is not used by kinkd, ignored"),
        ("5", "verify_id is not used by kinkd, ignored (the peer is known by its principal)")]


def test_kinkd_refuses_an_infinite_nonce(load: Load, secret: Secret) -> None:
    with pytest.raises(ConfigError, match=r":4: found nonce_size infinite, expected a positive "
                                          "size in kink"):
        check_config(load(KINKD.format(pwd=secret("p"), extra="nonce_size infinite;")),
                     "kinkd")


def test_kinkd_without_interface_kink_is_refused(load: Load, secret: Secret) -> None:
    cfg = load(KINKD.format(pwd=secret("p"), extra="").replace("kink 192.0.2.1; ", ""))
    with pytest.raises(ConfigError, match=r":1: found no 'interface \{ kink … \}', expected "
                                          "the addresses kinkd listens on"):
        check_config(cfg, "kinkd")
