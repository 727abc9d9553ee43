"""Every class of configuration error: a ConfigError with file:line and what was expected."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from racoon2.config import Config, load_config
from racoon2.config.model import INFINITE
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Write = Callable[..., str]

SEMANTIC = [
    # values
    ("sa s { spi x1; };", 1, "found 'x1', expected a number"),
    ("remote r { ikev2 { max_retry_to_send 4294967296; }; };", 1,
     "found 4294967296, expected a number that fits a C int"),
    ("remote r { ikev2 { kmp_sa_lifetime_byte 4 GB; }; };", 1, "expected a size"),
    ("ipsec i { ipsec_sa_lifetime_time 5 parsecs; };", 1, "found 'parsecs', expected a unit"),
    ("ipsec i { ipsec_sa_lifetime_time 5 KB; };", 1, "found 'KB', expected a unit"),
    ("ipsec i { ext_sequence maybe; };", 1, "found 'maybe', expected on or off"),
    ("policy p { ipsec_mode sideways; };", 1, "found 'sideways', expected an IPsec mode"),
    ("policy p { action; };", 1, "found end of file, expected an action"),
    ("policy p { install { on; }; };", 1, "found '{' after 'install', expected a value"),
    ("remote r { ikev2 on; };", 1, "expected '{' to open the 'ikev2' block"),
    ("sa s { bogus 1; };", 1, "found 'bogus', expected a directive of 'sa s'"),
    ("sa s { remote_index r; };", 1, "found 'remote_index', expected a directive of 'sa s'"),
    ("remote r { ikev2 { dpd on; }; };", 1, "found 'dpd', expected a directive of 'ikev2'"),
    ("remote r { ikev2 { require_config_payload on; }; };", 1, "found 'require_config_payload'"),
    ("remote r { ikev2 { max_ip4_alloc 1; }; };", 1, "found 'max_ip4_alloc'"),
    # addresses and ports
    ("selector s { src 10.0.0.9-10.0.0.1; };", 1, "with START not above END"),
    ("selector s { src 10.0.0.1-2001:db8::1; };", 1, "expected an address range"),
    ("remote r { ikev2 { peers_ipaddr 10.0.0.1-10.0.0.9; }; };", 1,
     "ranges a-b are for selector src and dst only"),
    ("selector s { src 192.0.2.0/33; };", 1, "found prefix length 33, expected at most 32"),
    ("selector s { src 192.0.2.0/x; };", 1, "expected a decimal prefix length"),
    ("selector s { src 192.0.2.1 port 70000; };", 1, "expected a port"),
    ("selector s { src 192.0.2.1 port nosuchservice; };", 1, "expected a port"),
    ("selector s { src 192.0.2.1 500; };", 1, "expected 'port PORT'"),
    ('selector s { src unix "/x"; };', 1, "for the spmd interface only"),
    ("policy p { my_sa_ipaddr 192.0.2.1 port 500; };", 1, "no port here"),
    ("addresspool p { 10.0.0.1-10.0.0.9; };", 1, "put spaces around '-'"),
    ("addresspool p { 10.0.0.9 - 10.0.0.1; };", 1, "expected an address not below 10.0.0.9"),
    ("addresspool p { 10.0.0.1 - 2001:db8::1; };", 1, "expected an IPv4 address"),
    ("addresspool p { 10.0.0.1 - host; };", 1, "expected a numeric IPv4 or IPv6 address"),
    # algorithms, ids, keys, scripts
    ("remote r { ikev1 { kmp_enc_alg { aes128_cbc; }; kmp_enc_alg 3des_cbc; }; };", 1,
     "found a second 'kmp_enc_alg', expected one algorithm list per block"),
    ("remote r { ikev1 { kmp_enc_alg a; }; };", 1, "found 'a', expected an algorithm"),
    ("remote r { ikev2 { kmp_dh_group { 14; modp2048; }; }; };", 1, "cannot be mixed"),
    ("remote r { ikev2 { kmp_dh_group 13; }; };", 1, "expected a DH group number"),
    ("sa s { esp_enc_alg aes_ctr, ; };", 1, "expected a key length"),
    ("sa s { esp_enc_alg aes_ctr, 128, a, b; };", 1, "at most ALG, KEYLEN, KEY"),
    ("remote r { ikev2 { my_id ipaddr gw.example.net; }; };", 1, "expected a numeric IPv4"),
    ("remote r { ikev2 { my_id dn x; }; };", 1, "found 'dn', expected an identity type"),
    ("remote r { ikev2 { my_public_key pem a b; }; };", 1, "expected a key type"),
    ('remote r { ikev2 { script { on_up "/x"; }; }; };', 1, "expected a hook type"),
    ("remote r { ikev2 { request { ip5; }; }; };", 1, "expected a request item"),
    ("selector s { upper_layer_protocol nosuchproto; };", 1, "expected a protocol"),
    ("selector s { upper_layer_protocol 256; };", 1, "expected a protocol"),
    ("selector s { upper_layer_protocol icmp 300; };", 1, "expected a type/code number 0-255"),
    ('selector s { tagged "0123456789abcdef"; };', 1, "shorter than 16 characters"),
    # sections, duplicates, references
    ("interface { };\ninterface { };", 2, "found a second 'interface' section"),
    ("setval { A b; };\nsetval { C d; };", 2, "found a second 'setval' section"),
    ("default { };\ndefault { };", 2, "found a second 'default' section"),
    ("resolver { };\nresolver { };", 2, "found a second 'resolver' section"),
    ("default { sa { spi 1; }; sa { spi 2; }; };", 1, "found a second 'default sa'"),
    ("default { selector { }; };", 1, "expected remote, policy, ipsec or sa inside 'default'"),
    ("interface { ike MY_IP;\n ike MY_IP; };", 2, "found a second 'ike', expected it once"),
    ("resolver { nameserver ::1;\n nameserver ::1; };", 2, "found a second 'nameserver'"),
    ("selector s { policy_index nope; };", 1, "found policy_index 'nope', expected the name of"),
    ("selector s { policy_index p; };\npolicy p { ipsec_index nope; };", 2,
     "found ipsec_index 'nope'"),
    ("selector s { policy_index p; }; policy p { ipsec_index i; };\n"
     "ipsec i { sa_index nope; };", 2, "found sa_index 'nope'"),
    ("selector s { policy_index p; }; policy p { ipsec_index i; };\n"
     "ipsec i { sa_index s1; };\nsa s1 { spi 1; };", 3, "has no sa_protocol"),
    ("selector s { policy_index p; }; policy p { ipsec_index i; };\n"
     "ipsec i { sa_index { a; b; }; }; sa a { sa_protocol esp; }; sa b { sa_protocol esp; };",
     2, "expected at most one sa per protocol"),
    # expansion
    ('remote r { kink { times_per_send "${NOPE}"; }; };', 1,
     "found ${NOPE}, expected a name defined by setval"),
    ('remote r { kink { times_per_send "$[NOPE]"; }; };', 1,
     "found $[NOPE], expected a set environment variable"),
    ('remote r { kink { times_per_send "${NOPE"; }; };', 1, "found '${' without '}'"),
    ('setval { A "${B}"; B x; };', 1, "expected no setval reference here"),
    ('setval { A "${A}x"; };\nsa s { spi "${A}"; };', 1, "expected no setval reference here"),
    ('include "${X}";', 1, "expected no setval reference here"),
    ('include "/nonexistent/r2-*.conf";', 1, "found no file matching"),
]


@pytest.mark.parametrize(("text", "line", "message"), SEMANTIC,
                         ids=[f"{i}" for i in range(len(SEMANTIC))])
def test_error_names_file_line_and_expectation(load: Load, text: str, line: int,
                                               message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(text)
    text_of = str(e.value)
    assert re.match(rf"^/\S+/racoon2\.conf:{line}: ", text_of), text_of
    assert message in text_of


def test_unreferenced_blocks_are_not_validated(load: Load) -> None:
    cfg = load("policy p { ipsec_index nope; }; ipsec i { sa_index nope; }; sa s { spi 1; };")
    assert cfg.policies[0].ipsecs == () and cfg.ipsecs[0].sas == ()


def test_duplicate_scalar_last_wins_but_first_inside_ikev2(load: Load) -> None:
    cfg = load("""remote r {
        ikev1 { passive on; passive off; };
        ikev2 { passive on; passive off; nonce_size 16; nonce_size 64; };
    }; policy p { action discard; action none; };""")
    r = cfg.remote("r")
    assert r is not None and r.ikev1 is not None and r.ikev2 is not None
    assert r.ikev1.passive is False
    assert r.ikev2.passive is True and r.ikev2.nonce_size == 16
    assert cfg.policies[0].action is not None and cfg.policies[0].action.value == "none"


def test_first_block_of_a_name_wins(load: Load) -> None:
    cfg = load("remote r { acceptable_kmp ikev1; }; remote r { acceptable_kmp ikev2; };")
    assert cfg.remote("r") is cfg.remotes[0]


def test_infinite_is_kept(load: Load) -> None:
    cfg = load("remote r { ikev2 { kmp_sa_lifetime_time infinite; }; };")
    assert cfg.remote("r").ikev2.kmp_sa_lifetime_time is INFINITE  # type: ignore[union-attr]


def test_peers_kmp_port_works_unlike_the_original(load: Load) -> None:
    cfg = load("remote r { ikev2 { peers_kmp_port ipsec-nat-t; }; };")
    assert cfg.remote("r").ikev2.peers_kmp_port == 4500  # type: ignore[union-attr]


def test_setval_and_environment_expansion(load: Load) -> None:
    cfg = load('setval { ADDR "$[NET].1"; };\n'
               'selector s { src "${ADDR}"; dst "$[PEER]"; };',
               environ={"PEER": "198.51.100.7", "NET": "192.0.2"})
    sel = cfg.selectors[0]
    assert str(sel.src[0].address) == "192.0.2.1" and str(sel.dst[0].address) == "198.51.100.7"


def test_include_with_glob_env_and_error_in_included_file(write: Write, tmp_path: Path) -> None:
    write("sa a { sa_protocol esp; };", "inc/10-a.conf")
    write("sa b { sa_protocol ah; };", "inc/20-b.conf")
    main = write('include "$[DIR]/inc/*.conf";\nsa c { sa_protocol ipcomp; };')
    cfg = load_config(main, environ={"DIR": str(tmp_path)})
    assert [s.name for s in cfg.sas] == ["a", "b", "c"]
    bad = write("sa d {\n  spi x; };", "inc/30-bad.conf")
    with pytest.raises(ConfigError) as e:
        load_config(main, environ={"DIR": str(tmp_path)})
    assert str(e.value).startswith(f"{bad}:2: found 'x', expected a number")


def test_include_depth_limit(write: Write, tmp_path: Path) -> None:
    loop = write(f'include "{tmp_path}/loop.conf";', "loop.conf")
    with pytest.raises(ConfigError, match="found include nested 11 deep, expected at most 10"):
        load_config(loop, environ={})


def test_unreadable_and_foreign_files(write: Write, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(str(tmp_path / "missing.conf"))
    path = write("sa a { sa_protocol esp; };")
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534, expected the running user"):
        load_config(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(str(tmp_path))


def test_binary_garbage_is_a_config_error(write: Write) -> None:
    path = write("")
    Path(path).write_bytes(b"\x00\xff\xfe sa \x80;")
    with pytest.raises(ConfigError, match=r":1: found character"):
        load_config(path)
