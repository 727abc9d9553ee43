"""racoon2.conf as the original's grammar reads it (lib/cfparse.y, lib/cftoken.l, lib/cfsetup.c).

Each test names the rule of the C sources it pins down; each failed before the change that made
the loader follow that rule (issue 15 §3-§4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.config.effective import ikev2
from racoon2.config.model import AddrKind, Kmp, ScriptType
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]

CHAIN = ("policy p { action auto_ipsec; ipsec_mode transport; ipsec_level require; "
         "ipsec_index i; }; ipsec i { sa_index e; }; sa e { sa_protocol esp; "
         "esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha1; };")


def notes(cfg: Config) -> list[str]:
    return [str(n) for n in cfg.notes]


# -- 1. address ranges: cftoken.l {string} swallows "A-B" as one word -------------------------


def test_selector_range_is_one_word_and_a_range(load: Load) -> None:
    """cftoken.l: ``{string}`` is ``[0-9A-Za-z%*\\-./:?@_]+``, so ``A-B`` is one STRING; the C
    loader kept it (as an unresolvable host name) and loaded the file."""
    cfg = load("selector s { src 192.0.2.10-192.0.2.20; dst 2001:db8::-2001:db8::ff;"
               " policy_index p; };" + CHAIN)
    sel = cfg.selector("s")
    assert sel is not None
    src, dst = sel.src[0], sel.dst[0]
    assert src.kind is AddrKind.RANGE and str(src.address) == "192.0.2.10"
    assert str(src.end) == "192.0.2.20"
    # What spmd installs: the prefixes that cover the range exactly (XFRM wants prefixes).
    assert [str(n) for n in src.prefixes()] == [
        "192.0.2.10/31", "192.0.2.12/30", "192.0.2.16/30", "192.0.2.20/32"]
    assert dst.prefixes() == [ipaddress.ip_network("2001:db8::/120")]


def test_spmd_installs_the_covering_prefixes_of_a_range(load: Load) -> None:
    from spmd.policies import plan

    cfg = load("selector s { direction outbound; src 192.0.2.1; dst 198.51.100.1-198.51.100.3;"
               " policy_index p; };" + CHAIN)
    dsts = sorted(str(d.spec.selector.dst) for d in plan(cfg, fwd=False).policies)
    assert dsts == ["198.51.100.1/32", "198.51.100.2/31"]


def test_spaced_dash_in_a_selector_stays_a_syntax_error(load: Load) -> None:
    """cfparse.y: ``'-'`` appears only in ``addr_range`` (addresspool); ``src A - B`` is not an
    ``addr_spec``."""
    with pytest.raises(ConfigError, match=":1: found '-', expected 'port PORT'"):
        load("selector s { src 192.0.2.1 - 192.0.2.9; };")


# -- 2. upper_layer_protocol string [number [number]] -----------------------------------------


#: iked -n needs the addresses it listens on; appended last, so no line number moves.
IKE = "\ninterface { ike { 192.0.2.1; }; };"


def test_numbers_after_any_protocol_are_accepted_and_ignored_with_a_warning(load: Load) -> None:
    """cfparse.y selector_spec: ``UPPER_LAYER_PROTOCOL string number number`` for any protocol;
    cfsetup.c rcf_fix_upper_layer_protocol uses them for ICMP/ICMPv6 (type, code) and MH (type)
    and warns "spurious extra ulp parameter" otherwise."""
    cfg = load("selector t {\n upper_layer_protocol tcp 80 90; };\n"
               "selector m { upper_layer_protocol mh 5 6; };\n"
               "selector i { upper_layer_protocol icmp 8 0; };" + IKE)
    t, m, i = (cfg.selector(n) for n in "tmi")
    assert t is not None and (t.upper_layer_protocol, t.icmp_type, t.icmp_code) == (6, None, None)
    assert m is not None and (m.icmp_type, m.icmp_code) == (5, None)
    assert i is not None and (i.icmp_type, i.icmp_code) == (8, 0)
    warned = notes(cfg)
    assert any(":2: upper_layer_protocol tcp takes no type or code: 80 90 ignored" in w
               for w in warned)
    assert any(":3: upper_layer_protocol mh takes no code: 6 ignored" in w for w in warned)
    assert check_config(cfg, "iked")[:0] == [] and len(warned) == 2


# -- 3. numbers: cfparse.y ``number`` is "0x" → base 16, else base 10 ---------------------------


@pytest.mark.parametrize(("text", "value"), [("010", 10), ("0x10", 16), ("0xfF", 255),
                                             ("-7", -7)])
def test_number_is_decimal_unless_lower_case_0x(load: Load, text: str, value: int) -> None:
    cfg = load(f"sa s {{ spi {text}; }};")
    assert cfg.sas[0].spi == value


@pytest.mark.parametrize("text", ["0X10", "-0x10", "0x"])
def test_upper_case_0x_or_signed_hex_is_no_number(load: Load, text: str) -> None:
    """cfparse.y ``number``: ``$1[0] == '0' && $1[1] == 'x'`` picks strtoll base 16; ``0X10`` goes
    to base 10 and stops at the X ("illegal a number string")."""
    with pytest.raises(ConfigError, match=f"found '{text}', expected a number"):
        load(f"sa s {{ spi {text}; }};")


def test_icmp_type_is_a_grammar_number_but_the_protocol_is_strtol_base_0(load: Load) -> None:
    """The protocol is a ``string`` that rcf_setproto reads with ``strtol(name, &bp, 0)`` (so 010
    is 8 there, as the original); the type and code after it are the grammar's ``number``."""
    cfg = load("selector s { upper_layer_protocol 01 010 0x0b; };")
    sel = cfg.selector("s")
    assert sel is not None and (sel.upper_layer_protocol, sel.icmp_type, sel.icmp_code) == (
        1, 10, 11)
    cfg = load("selector s { upper_layer_protocol 021; };")
    assert cfg.selectors[0].upper_layer_protocol == 17


# -- 4. every block body has at least one statement ---------------------------------------------


@pytest.mark.parametrize("text", [
    "sa x { };", "ipsec x { };", "policy x { };", "selector x { };", "remote x { };",
    "remote x { ikev2 { }; };", "remote x { ikev1 { }; };", "remote x { kink { }; };",
    "interface { };", "resolver { };", "default { };", "default { remote { }; };",
    "default { sa { }; };",
])
def test_empty_block_is_a_syntax_error(load: Load, text: str) -> None:
    """cfparse.y: ``sa_list: sa_spec EOS | sa_list sa_spec EOS`` (and so for every block list)."""
    with pytest.raises(ConfigError, match=r":1: found an empty '.*' block"):
        load(text)


def test_empty_request_provide_script_addresspool_are_fine(load: Load) -> None:
    """cfparse.y: ``config_list``, ``provide_list``, ``script_list`` and ``addr_range_list``
    start with ``/* empty */``."""
    cfg = load("remote r { ikev2 { request { }; provide { }; script { }; }; };"
               "addresspool p { };")
    assert cfg.addresspool("p") is not None


# -- 5. blocks that no selector reaches are not converted (cfsetup.c rcf_fix_selector) --------


def test_unreached_blocks_with_conversion_errors_load_with_a_warning(load: Load) -> None:
    """cfsetup.c converts a policy, its ipsecs and their sas per selector (rcf_fix_policy_index →
    rcf_fix_ipsec → rcf_fix_sa); others are parsed only, never converted."""
    cfg = load('policy lost {\n my_sa_ipaddr "${NOPE}"; };\n'
               "ipsec alone { ipsec_sa_lifetime_byte 4 GB; };\n"
               "sa dup { esp_enc_alg aes128_cbc; esp_enc_alg 3des_cbc; };\n"
               "sa big { spi 4294967296; };" + IKE)
    warned = notes(cfg)
    assert len(warned) == 4
    assert ":1: policy 'lost' is used by no selector, so it is not checked" in warned[0]
    assert "found ${NOPE}" in warned[0]
    assert ":3: ipsec 'alone'" in warned[1] and ":4: sa 'dup'" in warned[2]
    assert ":5: sa 'big'" in warned[3] and "fits a C int" in warned[3]
    assert all(w in check_config(cfg, "iked") for w in cfg.notes)


def test_a_reached_block_with_the_same_error_is_refused(load: Load) -> None:
    with pytest.raises(ConfigError, match=":2: found 4294967296, expected a number that fits"):
        load("selector s { policy_index p; }; policy p { ipsec_index i; };\n"
             "ipsec i { sa_index e; }; sa e { sa_protocol esp; spi 4294967296; };")


def test_grammar_errors_count_in_unreached_blocks_too(load: Load) -> None:
    with pytest.raises(ConfigError, match="found 'x1', expected a number"):
        load("sa never { spi x1; };")


# -- 6. the default section supplies keys and IDs -----------------------------------------------


def test_default_remote_supplies_pre_shared_key_and_ids(load: Load, secret: Secret) -> None:
    psk = secret("psk/default.psk")
    cfg = load(f'default {{ remote {{ ikev2 {{ pre_shared_key "{psk}"; my_id fqdn gw.example;'
               " kmp_enc_alg aes128_cbc; }; }; };\n"
               "remote r { acceptable_kmp ikev2; ikev2 { kmp_auth_method psk;"
               " peers_ipaddr 192.0.2.2; }; };" + IKE)
    remote = cfg.remote("r")
    assert ikev2(cfg, remote).pre_shared_key == psk
    assert ikev2(cfg, remote).my_id[0].value == "gw.example"
    # Before: "remote 'r' ikev2 uses psk but has no pre_shared_key".
    assert not [w for w in check_config(cfg, "iked") if "pre_shared_key" in str(w)]


# -- 7. repeated directives: last wins, first inside ikev2 (and provide) ------------------------


def test_repeats_follow_the_lists_of_each_block(load: Load) -> None:
    """cfparse.y: ``ikev2_list: ikev2_spec EOS ikev2_list`` is built backwards (first wins) and so
    is ``provide_list`` (``$$->nexts = $1``); every other list keeps file order (last wins)."""
    cfg = load("remote r {\n acceptable_kmp ikev2;\n acceptable_kmp { kink; ikev2; };\n"
               " ikev1 { passive on;\n passive off; };\n"
               " ikev2 { passive on;\n passive off;\n provide { addresspool a;\n"
               " addresspool b; };\n provide { dns 192.0.2.53; addresspool c; }; }; };\n"
               "selector s { reqid 1;\n reqid 2; };")
    remote = cfg.remote("r")
    assert remote is not None and remote.ikev1 is not None and remote.ikev2 is not None
    assert remote.acceptable_kmp == (Kmp.IKEV2, Kmp.KINK)  # rcf_fix_acceptable_kmp ORs them
    assert remote.ikev1.passive is False and remote.ikev2.passive is True
    provide = remote.ikev2.provide
    assert provide is not None and provide.addresspool == ("a",) and provide.dns
    assert cfg.selectors[0].reqid == 2
    assert (remote.ikev1.where_of("passive") or "").endswith(":5")
    warned = notes(cfg)
    for line, what in [(3, "'acceptable_kmp' repeated in 'remote r' (first at line 2)"),
                       (5, "'passive' repeated in 'ikev1' (first at line 4): this one counts"),
                       (7, "'passive' repeated in 'ikev2' (first at line 6): the first one"),
                       (9, "'addresspool' repeated in 'provide' (first at line 8)"),
                       (10, "'provide' repeated in 'ikev2' (first at line 8): the options"),
                       (12, "'reqid' repeated in 'selector s' (first at line 11)")]:
        assert any(f":{line}: {what}" in w for w in warned), (line, warned)


def test_index_lists_and_scripts_add_up(load: Load) -> None:
    """cfsetup.c: rcf_fix_ipsec_index / rcf_fix_sa_index append; rcf_fix_script has one slot per
    hook type."""
    cfg = load('remote r { ikev1 { script phase1_up "/a"; script { phase1_down "/b";'
               ' phase1_up "/c"; }; }; };\n'
               "policy p { ipsec_index i; ipsec_index j; };")
    block = cfg.remote("r").ikev1  # type: ignore[union-attr]
    assert block is not None
    assert {s.type: s.path for s in block.script or ()} == {
        ScriptType.PHASE1_UP: "/c", ScriptType.PHASE1_DOWN: "/b"}
    assert cfg.policies[0].ipsec_index == ("i", "j")


def test_a_second_interface_kink_is_an_error(load: Load) -> None:
    """cfsetup.c rcf_fix_if_kink: "interface kink already existed"."""
    with pytest.raises(ConfigError, match=":2: found a second 'kink', expected it once"):
        load("interface { kink MY_IP;\n kink MY_IP; };")


# -- 8. numbers beyond any C int are ConfigErrors, never ValueError -----------------------------


HUGE = "9" * 5000


@pytest.mark.parametrize("text", [
    f"remote r {{ ikev2 {{ max_retry_to_send {HUGE}; }}; }};",
    f"remote r {{ ikev2 {{ kmp_sa_lifetime_time {HUGE} hours; }}; }};",
    f"remote r {{ ikev2 {{ peers_ipaddr 192.0.2.1 port {HUGE}; }}; }};",
    f"selector s {{ src 192.0.2.0/{HUGE}; }};",
    f"selector s {{ upper_layer_protocol {HUGE}; }};",
    f"selector s {{ upper_layer_protocol icmp {HUGE}; }};",
    f"remote r {{ ikev2 {{ kmp_enc_alg rijndael_cbc, {HUGE}; }}; }};",
    f"remote r {{ ikev2 {{ kmp_dh_group {HUGE}; }}; }};",
    f'remote r {{ ikev2 {{ peers_ipaddr 192.0.2.1 port "{"٣" * 3}"; }}; }};',
    f"remote r {{ ikev2 {{ max_retry_to_send {'0' * 5000}1{'0' * 10}; }}; }};",
    f"selector s {{ upper_layer_protocol 0{'7' * 5000}; }};",
    f"selector s {{ upper_layer_protocol 0x{'f' * 5000}; }};",
])
def test_huge_numbers_are_config_errors_with_file_line(load: Load, text: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(text)
    assert ":1: found " in str(e.value) and len(str(e.value)) < 400


def test_iked_and_kinkd_negotiate_the_prefixes_spmd_installs(load: Load) -> None:
    from iked.ikev2.settings import child_settings
    from kinkd.settings import policy_settings

    cfg = load("selector s { direction outbound; src 192.0.2.1; dst 198.51.100.1-198.51.100.3;"
               " policy_index p; };" + CHAIN.replace("action auto_ipsec;",
                                                       "action auto_ipsec; remote_index r;"))
    child = child_settings(cfg, cfg.policies[0], lambda spec: ())
    assert [(str(t.start), str(t.end)) for t in child.remote_ts] == [
        ("198.51.100.1", "198.51.100.1"), ("198.51.100.2", "198.51.100.3")]
    kink = policy_settings(cfg, cfg.policies[0])
    assert [str(n) for n in kink.remote_nets] == ["198.51.100.1/32", "198.51.100.2/31"]


def test_iked_maps_an_acquire_inside_a_range_to_its_selector(load: Load) -> None:
    from racoon2.config.lookup import acquire_selector

    cfg = load("selector s { direction outbound; src 192.0.2.1; dst 198.51.100.1-198.51.100.3;"
               " policy_index p; };" + CHAIN)
    me = ipaddress.ip_address("192.0.2.1")
    inside = acquire_selector(cfg, None, me, ipaddress.ip_address("198.51.100.3"))
    assert inside is not None and inside.name == "s"
    assert acquire_selector(cfg, None, me, ipaddress.ip_address("198.51.100.4")) is None


def test_esp_and_ah_authentication_share_one_list(load: Load) -> None:
    """cfsetup.c: rcf_fix_esp_auth_alg and rcf_fix_ah_auth_alg both fill ``rcf_sa.auth_alg``, so
    the second is "algorithm list already defined" (when the sa is reached)."""
    with pytest.raises(ConfigError, match=":2: found ah_auth_alg next to esp_auth_alg"):
        load("selector s { policy_index p; };" + CHAIN.replace(
            "esp_auth_alg hmac_sha1; };", "esp_auth_alg hmac_sha1;\n ah_auth_alg hmac_sha1; };"))


def test_a_repeated_setval_name_keeps_the_first_and_warns(load: Load) -> None:
    cfg = load('setval { A "one";\n A "two"; };\nremote r { ikev2 { logfile "${A}"; }; };')
    assert cfg.remote("r").ikev2.logfile == "one"  # type: ignore[union-attr]
    assert [w for w in notes(cfg) if ":2: setval 'A' repeated: the first" in w]


def test_leading_zeros_do_not_count_against_the_range(load: Load) -> None:
    cfg = load(f"remote r {{ ikev2 {{ max_retry_to_send {'0' * 5000}7; }}; }};"
               f"sa s {{ spi -{'0' * 30}9; }};")
    assert cfg.remote("r").ikev2.max_retry_to_send == 7  # type: ignore[union-attr]
    assert cfg.sas[0].spi == -9
    cfg = load(f"selector s {{ src 192.0.2.0/{'0' * 5000}24 port {'0' * 5000}500;"
               f" upper_layer_protocol 0{'0' * 5000}21; }};")
    spec = cfg.selectors[0].src[0]
    assert (spec.prefixlen, spec.port, cfg.selectors[0].upper_layer_protocol) == (24, 500, 17)
