"""A remote's effective ikev1/ikev2/kink settings: own block, else default section, else built in
(doc/config.md §3), typed per protocol and built once per remote."""

from __future__ import annotations

import dataclasses

import pytest

from racoon2.config import loads
from racoon2.config.effective import (
    EffectiveKmp,
    Ikev1Kmp,
    Ikev2Kmp,
    KinkKmp,
    effective,
    ikev1,
    ikev2,
    kink,
)
from racoon2.config.model import (
    INFINITE,
    ExchangeMode,
    IdType,
    Kmp,
    KmpBlock,
    ProposalCheck,
    ScriptType,
    SelectorCheck,
)

BARE = ("remote r { acceptable_kmp { ikev2; ikev1; kink; };\n"
        " ikev1 { peers_ipaddr 192.0.2.2; };\n"
        " ikev2 { peers_ipaddr 192.0.2.2; };\n"
        " kink { peers_ipaddr 192.0.2.2; }; };\n")

DEFAULT = """default { remote { ikev2 {
    pre_shared_key "/etc/racoon2/psk/default.psk";
    my_id fqdn "gw.example.net";
    peers_id fqdn "any.example.net";
    kmp_enc_alg { aes256_cbc; };
    kmp_sa_lifetime_time infinite;
    dpd_delay 60;
    nonce_size 48;
}; }; };
remote own { ikev2 {
    peers_ipaddr 192.0.2.2;
    pre_shared_key "/etc/racoon2/psk/own.psk";
    peers_id fqdn "own.example.net";
    dpd_delay 0;
    kmp_sa_lifetime_time 1 hour;
}; };
remote inherits { ikev2 { peers_ipaddr 192.0.2.3; }; };
remote v2less { kink { peers_ipaddr 192.0.2.4; }; };
"""


def test_built_in_defaults_differ_per_protocol() -> None:
    cfg = loads(BARE)
    r = cfg.remote("r")
    v1, v2, k = ikev1(cfg, r), ikev2(cfg, r), kink(cfg, r)
    assert (v1.nonce_size, v2.nonce_size, k.nonce_size) == (16, 32, 16)
    assert (v1.max_retry_to_send, v2.max_retry_to_send, k.max_retry_to_send) == (5, 10, 5)
    assert (v1.proposal_check, v2.proposal_check, k.proposal_check) == (
        ProposalCheck.STRICT, ProposalCheck.OBEY, ProposalCheck.OBEY)
    assert (v1.kmp_sa_lifetime_time, v2.kmp_sa_lifetime_time, k.kmp_sa_lifetime_time) == (
        28800, 86400, None)
    assert (v1.verify_id, v2.verify_id, k.verify_id) == (False, True, None)
    assert (v1.dpd_delay, v2.dpd_delay, k.dpd_delay) == (0, 3600, None)
    assert (v1.selector_check, v2.selector_check) == (None, SelectorCheck.EXACT)
    assert (v1.exchange_mode, v2.exchange_mode) == (ExchangeMode.MAIN, None)
    assert (v1.dpd, v1.dpd_retry, v1.dpd_maxfail) == (True, 5, 5)
    assert (v2.cookie_required, v2.send_peers_id, v2.initial_contact) == (False, False, False)
    for eff in (v1, v2, k):
        assert (eff.nat_traversal, eff.interval_to_send, eff.times_per_send) == (True, 1, 1)
        assert (eff.passive, eff.need_pfs, eff.kmp_sa_lifetime_byte) == (False, False, 0)
        # Lists written nowhere are empty, not None.
        assert eff.my_id == eff.kmp_enc_alg == eff.script == ()
        assert eff.pre_shared_key is None and eff.peers_kmp_port is None
        assert eff.where_of("nonce_size") is None  # built in: written nowhere


@pytest.mark.parametrize("kmp", list(Kmp))
def test_no_none_where_the_type_promises_a_value(kmp: Kmp) -> None:
    """Nothing written anywhere: every field typed without ``None`` has its built-in value
    (the tables in racoon2.config.defaults cover what the classes promise)."""
    eff = effective(loads(""), None, kmp)
    for f in dataclasses.fields(eff):
        if f.name not in ("remote", "block", "default_block") and "None" not in str(f.type):
            assert getattr(eff, f.name) is not None, f.name


def test_every_kmp_directive_is_a_field_of_every_protocol() -> None:
    directives = {f.name for f in dataclasses.fields(KmpBlock)} - {"kmp", "where", "at"}
    # kinkd reads the principals from one block each, not by the default-section rule.
    directives -= {"my_principal", "peers_principal"}
    for cls in (Ikev1Kmp, Ikev2Kmp, KinkKmp):
        assert directives <= {f.name for f in dataclasses.fields(cls)}, cls


def test_own_block_then_default_section_then_built_in() -> None:
    cfg = loads(DEFAULT, "r.conf")
    own, inherits = ikev2(cfg, cfg.remote("own")), ikev2(cfg, cfg.remote("inherits"))
    # The remote's own values win, a written 0 included (no probes, not the default's 60).
    assert own.pre_shared_key == "/etc/racoon2/psk/own.psk"
    assert [i.value for i in own.peers_id] == ["own.example.net"]
    assert own.dpd_delay == 0 and own.kmp_sa_lifetime_time == 3600
    # The default section supplies keys and IDs (and the rest) the remote leaves out.
    assert inherits.pre_shared_key == "/etc/racoon2/psk/default.psk"
    assert [(i.type, i.value) for i in inherits.my_id] == [(IdType.FQDN, "gw.example.net")]
    assert [i.value for i in inherits.peers_id] == ["any.example.net"]
    assert [a.name for a in inherits.kmp_enc_alg] == ["aes256_cbc"]
    assert inherits.dpd_delay == 60 and inherits.nonce_size == 48
    # Neither: built in.
    assert inherits.max_retry_to_send == 10 and inherits.verify_id is True
    # A remote without an ikev2 block still gets the default section's.
    assert ikev2(cfg, cfg.remote("v2less")).pre_shared_key == "/etc/racoon2/psk/default.psk"
    # Where each value in effect was written.
    assert own.where_of("pre_shared_key") == "r.conf:12"
    assert inherits.where_of("pre_shared_key") == "r.conf:2"
    assert inherits.where_of("max_retry_to_send") is None


def test_default_section_alone() -> None:
    cfg = loads(DEFAULT)
    eff = ikev2(cfg, None)
    assert eff.name == "default" and eff.remote is None
    assert eff.pre_shared_key == "/etc/racoon2/psk/default.psk" and eff.peers_ipaddr == ()
    assert ikev2(cfg, cfg.default_remote).pre_shared_key == eff.pre_shared_key
    assert ikev2(cfg, cfg.remote("own")).name == "own"


def test_infinite_is_kept_and_a_written_infinite_counts() -> None:
    cfg = loads(DEFAULT + "remote forever { ikev2 { peers_ipaddr 192.0.2.5;"
                " kmp_sa_lifetime_time infinite; kmp_sa_nego_time_limit infinite; }; };\n"
                "remote finite { ikev2 { kmp_sa_lifetime_time 8 hours; }; };")
    assert ikev2(cfg, cfg.remote("inherits")).kmp_sa_lifetime_time is INFINITE  # default's
    forever = ikev2(cfg, cfg.remote("forever"))
    assert forever.kmp_sa_lifetime_time is INFINITE
    assert forever.kmp_sa_nego_time_limit is INFINITE  # not the built-in 600
    assert ikev2(cfg, cfg.remote("finite")).kmp_sa_lifetime_time == 8 * 3600


def test_built_once_per_remote_and_protocol_when_first_used() -> None:
    cfg = loads(DEFAULT)
    assert cfg.effective_cache == {}  # the loader builds nothing
    r = cfg.remote("own")
    first = ikev2(cfg, r)
    assert ikev2(cfg, r) is first and effective(cfg, r, Kmp.IKEV2) is first
    assert isinstance(effective(cfg, r, Kmp.KINK), KinkKmp)
    assert isinstance(first, Ikev2Kmp) and isinstance(first, EffectiveKmp)
    assert ikev2(cfg, cfg.remote("inherits")) is not first
    # A reload is a new Config: nothing carried over from the old one.
    again = loads(DEFAULT.replace("own.psk", "new.psk"))
    assert ikev2(again, again.remote("own")).pre_shared_key == "/etc/racoon2/psk/new.psk"
    assert ikev2(cfg, r).pre_shared_key == "/etc/racoon2/psk/own.psk"
    assert dataclasses.replace(cfg, file="copy.conf").effective_cache == {}  # not shared


def test_script_for_last_written_wins() -> None:
    cfg = loads('default { remote { ikev2 { script { phase1_up "/a"; phase1_up "/b"; }; }; }; };'
                'remote r { ikev2 { peers_ipaddr 192.0.2.2; }; };')
    eff = ikev2(cfg, cfg.remote("r"))
    assert eff.script_for(ScriptType.PHASE1_UP) == "/b"
    assert eff.script_for(ScriptType.PHASE1_DOWN) is None
