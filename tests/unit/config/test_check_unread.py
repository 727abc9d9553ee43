"""-n warnings for directives that were accepted, read by no code and said by nobody (the walk
of doc/config.md §6): each names its line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_check import IKEV2
from test_check_directives import KINKD

from racoon2.config import Config
from racoon2.config.check import check_config

Load = Callable[..., Config]
Secret = Callable[..., str]


def said(cfg: Config, daemon: str) -> list[tuple[str, str]]:
    return [(w.where.rpartition(":")[2], w.message) for w in check_config(cfg, daemon)]


def iked_config(load: Load, secret: Secret, extra: str = "", tail: str = "") -> Config:
    return load(IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra=extra) + tail)


@pytest.mark.parametrize("extra", ["use_coa on;", "random_pad_content on;", "random_padlen on;",
                                   "max_padlen 50 B;", "kmp_sa_grace_period 10 sec;"])
def test_iked_says_which_ikev2_directives_it_does_not_read(load: Load, secret: Secret,
                                                           extra: str) -> None:
    name = extra.split()[0]
    assert said(iked_config(load, secret, extra), "iked") == [
        ("6", f"{name} is not used by iked's IKEv2, ignored")]


def test_iked_says_provide_dhcp_and_mip6_are_not_sent(load: Load, secret: Secret) -> None:
    cfg = iked_config(load, secret, "provide { dhcp 192.0.2.53;\nmip6_home_prefix "
                                    "2001:db8::/64; dns 192.0.2.53; };")
    why = ("is not sent (iked's CFG_REPLY and mode-config REPLY carry a pool address, dns and "
           "application_version)")
    assert said(cfg, "iked") == [("6", f"provide dhcp {why}, ignored"),
                                 ("7", f"provide mip6_home_prefix {why}, ignored")]


def test_iked_says_a_provide_pool_that_does_not_exist(load: Load, secret: Secret) -> None:
    cfg = iked_config(load, secret, "provide { addresspool nopool; };")
    assert said(cfg, "iked") == [
        ("6", "provide addresspool 'nopool' names no addresspool: iked leases nothing from "
         "it")]
    pooled = iked_config(load, secret, "provide { addresspool pool; };",
                         "addresspool pool { 198.51.100.10 - 198.51.100.20; };\n")
    assert said(pooled, "iked") == []


@pytest.mark.parametrize("daemon", ["spmd", "iked"])
def test_spi_and_static_ipsec_are_said_to_be_unused(load: Load, secret: Secret,
                                                    daemon: str) -> None:
    cfg = load(IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra="").replace(
        "action auto_ipsec;", "action static_ipsec;").replace(
        "sa_protocol esp;", "sa_protocol esp; spi 4096;"))
    assert said(cfg, daemon)[-2:] == [
        ("11", "spi is not used: no daemon installs manually keyed SAs"),
        ("8", "policy 'p' is static_ipsec: no daemon installs manually keyed SAs: spmd installs "
              "its kernel policy, iked and kinkd negotiate auto_ipsec policies only, so its "
              "traffic finds no SA; write auto_ipsec")]


def test_default_policy_and_sa_are_read_not_said_unused(load: Load, secret: Secret) -> None:
    cfg = iked_config(load, secret, tail="default { policy { ipsec_mode tunnel; };\n"
                                         "sa { esp_enc_alg aes256_cbc; }; };\n")
    assert said(cfg, "iked") == [] and said(cfg, "spmd") == []


@pytest.mark.parametrize("extra", ["logmode debug;", "kmp_enc_alg aes128_gcm16;",
                                   'script { phase2_up "/bin/true"; };', "my_id fqdn a.example;",
                                   "kmp_sa_lifetime_time 1 hour;", "nat_traversal off;"])
def test_kinkd_says_which_kink_directives_it_does_not_read(load: Load, secret: Secret,
                                                           extra: str) -> None:
    cfg = load(KINKD.format(pwd=secret("p"), extra=extra))
    assert said(cfg, "kinkd") == [("4", f"{extra.split()[0]} is not used by kinkd, ignored")]


def test_kinkd_reads_what_its_settings_read(load: Load, secret: Secret) -> None:
    cfg = load(KINKD.format(pwd=secret("p"), extra="passive off; peers_ipaddr 192.0.2.2; "
                            "peers_kmp_port 910; nonce_size 16; interval_to_send 2 sec; "
                            "max_retry_to_send 3; proposal_check claim;"))
    assert said(cfg, "kinkd") == []


KINK_POLICY = """selector s {{ direction outbound; src 192.0.2.1; dst 192.0.2.2;
    policy_index p; }};
policy p {{ action auto_ipsec; remote_index r; ipsec_mode transport; ipsec_level require;
    ipsec_index i; }};
ipsec i {{ {ipsec} }};
sa e {{ sa_protocol esp; esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha2_256; }};
sa c {{ sa_protocol ipcomp; ipcomp_alg deflate; }};
"""


def test_kinkd_says_it_keys_esp_only_and_no_esn(load: Load, secret: Secret) -> None:
    cfg = load(KINKD.format(pwd=secret("p"), extra="") + KINK_POLICY.format(
        ipsec="sa_index { e; c; };\next_sequence on;"))
    assert said(cfg, "kinkd") == [
        ("10", "ext_sequence is not negotiated by kinkd, ignored"),
        ("9", "kinkd keys ESP only (RFC 4430): it negotiates no ipcomp SA for sa 'c'")]
    plain = load(KINKD.format(pwd=secret("p"), extra="") + KINK_POLICY.format(
        ipsec="sa_index e;"))
    assert said(plain, "kinkd") == []


def test_kinkd_says_a_default_ipsecs_esn_is_not_negotiated(load: Load, secret: Secret) -> None:
    text = KINKD.format(pwd=secret("p"), extra="") + KINK_POLICY.format(ipsec="sa_index e;")
    cfg = load(text.replace("default {", "default { ipsec { ext_sequence on; };", 1))
    assert said(cfg, "kinkd") == [("2", "ext_sequence is not negotiated by kinkd, ignored")]
