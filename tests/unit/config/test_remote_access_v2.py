"""racoon2.conf for IKEv2 remote access (doc/config.md §5): ``proposal_profile`` and the
``provide`` extensions, their errors with ``FILE:LINE:``, ``iked -n``'s warnings, and what
iked's settings make of them."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable

import pytest
from test_check import IKEV2

from iked.ikev2.settings import peer_settings
from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]
net = ipaddress.ip_network


def config(load: Load, secret: Secret, extra: str, algorithms: bool = True) -> Config:
    text = IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra=extra)
    if not algorithms:
        text = text.replace("kmp_enc_alg aes128_cbc; kmp_prf_alg hmac_sha2_256; kmp_hash_alg "
                            "hmac_sha2_256;\n    kmp_dh_group modp2048; ", "")
    return load(text)


@pytest.mark.parametrize("extra, message", [
    ("proposal_profile { roadwarrior; windows; };",
     "found 'windows', expected a proposal profile: roadwarrior or windows_legacy"),
    ("provide { dns_domain { corp.example; -bad.example; }; };",
     "found '-bad.example', expected a domain name"),
    ("provide { subnet { 198.51.100.0/24; vpn.example; }; };",
     "found 'vpn.example', expected a numeric prefix"),
    ("provide { subnet IP_RW; };", "found 'IP_RW', expected a numeric prefix"),
])
def test_bad_values_name_their_line(load: Load, secret: Secret, extra: str,
                                    message: str) -> None:
    with pytest.raises(ConfigError) as e:
        config(load, secret, extra)
    assert e.value.where is not None and e.value.where.endswith(":6")
    assert str(e.value).startswith(f"{e.value.where}: {message}"), str(e.value)


def test_a_profile_needs_no_kmp_lists(load: Load, secret: Secret) -> None:
    with pytest.raises(ConfigError, match="has no kmp_enc_alg"):
        check_config(config(load, secret, "", algorithms=False), "iked")
    cfg = config(load, secret, "proposal_profile roadwarrior;", algorithms=False)
    assert check_config(cfg, "iked") == []
    peer = peer_settings(cfg, cfg.remote("r"), lambda p: b"key")
    assert [name for name, _ in peer.ike_sets] == ["roadwarrior"]
    assert [p.number for p in peer.ike_proposals] == [1, 2]  # classic and AEAD


def test_own_lists_then_profiles_one_numbered_offer(load: Load, secret: Secret) -> None:
    cfg = config(load, secret, "proposal_profile { roadwarrior; windows_legacy; };")
    peer = peer_settings(cfg, cfg.remote("r"), lambda p: b"key")
    assert [name for name, _ in peer.ike_sets] == ["configured", "roadwarrior",
                                                   "windows_legacy"]
    assert [p.number for p in peer.ike_proposals] == list(range(1, 6))
    assert peer.profiles == ("roadwarrior", "windows_legacy")


def test_provide_extensions_reach_the_settings(load: Load, secret: Secret) -> None:
    text = ("provide { addresspool { rw4; rw6; }; dns_domain corp.example.; subnet { "
            "198.51.100.16/28; 2001:db8:16::/64; }; lease_time infinite; };")
    cfg = config(load, secret, text)
    provide = peer_settings(cfg, cfg.remote("r"), lambda p: b"key").provide
    assert provide is not None
    assert (provide.pools, provide.domains, provide.subnets, provide.lease_time) == (
        ("rw4", "rw6"), ("corp.example",), (net("198.51.100.16/28"), net("2001:db8:16::/64")),
        math.inf)
    # Both pools are missing: one warning each.
    assert [w.message for w in check_config(cfg, "iked")] == [
        f"provide addresspool {name!r} names no addresspool: iked leases nothing from it"
        for name in ("rw4", "rw6")]
    unset = config(load, secret, "provide { dns 192.0.2.53; };")
    p = peer_settings(unset, unset.remote("r"), lambda p: b"key").provide
    assert p is not None and p.subnets is None and p.lease_time == 86400.0
