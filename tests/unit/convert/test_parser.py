"""racoon.conf's tokens, statements and grammar (racoon.conf(5)): every statement of the
manual page parses in its block, and what does not fit is refused with its file:line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racoon2.convert import convert_text, grammar
from racoon2.convert.cli import check_result
from racoon2.convert.spd import parse_spd
from racoon2.convert.syntax import PORT, QUOTED, parse, tokenize
from racoon2.errors import RacoonConfError

#: One example of every statement racoon.conf(5) (ipsec-tools 0.8) describes, per block.
STATEMENTS: dict[str, list[str]] = {
    "top": ['path include "/etc/racoon";', 'path certificate "$[CERTS]";',
            'path pre_shared_key "/etc/racoon/psk.txt";',
            'path certificate "/etc/racoon/certs";', 'path backupsa "/var/racoon/backup";',
            'path script "/etc/racoon/scripts";', 'path pidfile "/var/run/racoon.pid";',
            "log notify;", "log debug2;", "gss_id_enc latin1;", "pfkey_buffer 1024;",
            "complex_bundle on;"],
    "privsep": ['user "racoon";', 'group "racoon";', 'chroot "/var/empty";', "user 0;"],
    "listen": ["isakmp 192.0.2.1 [500];", "isakmp 2001:db8::1;", "isakmp_natt 192.0.2.1 [4500];",
               "strict_address;", 'adminsock "/var/racoon/racoon.sock" "root" "operator" 0660;',
               "adminsock disabled;", 'adminsock "/var/racoon/racoon.sock";'],
    "timer": ["counter 5;", "interval 20 sec;", "persend 1;", "phase1 30 sec;",
              "phase2 15 sec;", "natt_keepalive 10 sec;"],
    "padding": ["randomize off;", "randomize_length on;", "maximum_length 20;",
                "exclusive_tail off;", "strict_check off;"],
    "remote": ["remote_address 192.0.2.2;", "exchange_mode main, aggressive, base;",
               "doi ipsec_doi;", "situation identity_only;", "my_identifier address;",
               "my_identifier address 192.0.2.1;", 'my_identifier user_fqdn "a@example.com";',
               'my_identifier fqdn "gw.example.com";', 'my_identifier keyid file "id.bin";',
               'my_identifier keyid tag "tag";', "my_identifier asn1dn;",
               'my_identifier asn1dn "C=JP, O=KAME";', 'xauth_login "user";',
               'peers_identifier fqdn "peer.example.com";', "verify_identifier on;",
               'certificate_type x509 "c.pem" "k.pem";', 'certificate_type plain_rsa "k.rsa";',
               'ca_type x509 "ca.pem";', "mode_cfg on;", "weak_phase1_check off;",
               "peers_certfile dnssec;", 'peers_certfile x509 "p.pem";',
               'peers_certfile plain_rsa "p.rsa";', 'peers_certfile "p.pem";',
               'script "up.sh" phase1_up;', 'script "down.sh" phase1_down;',
               'script "dead.sh" phase1_dead;', "send_cert on;", "send_cr off;",
               "match_empty_cr off;", "verify_cert on;", "lifetime time 24 hour;",
               "lifetime byte 100 MB;", "ike_frag force;", "esp_frag 552;",
               "initial_contact on;", "passive off;", "proposal_check exact;",
               "support_proxy on;", "generate_policy unique;", "nat_traversal force;",
               "dpd_delay 20;", "dpd_retry 5;", "dpd_maxfail 5;", "rekey force;",
               "nonce_size 16;", "ph1id 3;", "dpd on;", "keepalive;",
               'my_identifier fqdn "${template}";'],
    "proposal": ["encryption_algorithm aes 256;", "hash_algorithm sha256;",
                 "authentication_method pre_shared_key;", "dh_group modp2048;",
                 "dh_group 14;", "lifetime time 8 hour;", 'gss_id "id";', 'gssapi_id "id";'],
    "sainfo": ["pfs_group 2;", "lifetime time 1 hour;", "lifetime byte 10 KB;", "remoteid 3;",
               "lifetime byte 3 TB;",
               "encryption_algorithm 3des, blowfish 448, rijndael;",
               "authentication_algorithm hmac_sha1, hmac_md5;",
               "compression_algorithm deflate;"],
    "mode_cfg": ["auth_source pam;", "auth_source system;", "auth_source radius;",
                 'auth_groups "a", "b";', "group_source ldap;",
                 "conf_source radius;", "accounting system;", "pool_size 255;",
                 "network4 10.99.99.0;", "netmask4 255.255.255.0;",
                 "dns4 192.0.2.53, 192.0.2.54;", "wins4 192.0.2.55;", "nbns4 192.0.2.55;",
                 "split_network include 192.0.2.0/24, 198.51.100.0/24;",
                 'default_domain "example.com";', 'split_dns "example.com";',
                 'banner "/etc/racoon/motd";', "auth_throttle 5;", "pfs_group 2;",
                 "save_passwd on;"],
    "ldapcfg": ["version 3;", 'host "ldap.example.com";', "port 389;",
                'base "dc=example,dc=com";', "subtree on;", 'bind_dn "cn=a";', 'bind_pw "x";',
                'attr_user "uid";', 'attr_addr "ip";', 'attr_mask "mask";',
                'attr_group "cn";', 'attr_member "member";'],
    "radiuscfg": ['auth 192.0.2.9 1812 "secret";', 'acct 192.0.2.9 "secret";', "timeout 3;",
                  "retries 3;"],
}

_WRAP = {"top": "{}", "proposal": "remote anonymous {{ proposal {{ {} }} }}",
         "sainfo": "sainfo anonymous {{ {} }}", "remote": "remote anonymous {{ {} }}"}


def _wrapped(block: str, stmt: str) -> str:
    return _WRAP.get(block, block + " {{ {} }}").format(stmt)


@pytest.mark.parametrize(("block", "stmt"),
                         [(b, s) for b, stmts in STATEMENTS.items() for s in stmts])
def test_every_statement_of_the_manual_parses(block: str, stmt: str) -> None:
    grammar.check(parse(_wrapped(block, stmt), "racoon.conf"))


def test_the_statement_list_covers_every_directive_of_the_tables() -> None:
    for block, table in grammar.TABLES.items():
        written = {s.rstrip(";").split()[0] for s in STATEMENTS[block]}
        assert set(table) - written <= {"privsep", "listen", "timer", "padding", "remote",
                                        "sainfo", "mode_cfg", "ldapcfg", "radiuscfg",
                                        "include", "proposal", "logfile"}, block


def test_tokens_comments_ports_and_quotes() -> None:
    toks = tokenize('# c\nisakmp ::1[500]; /* a\nb */ path x "q r";', "f")
    assert [(t.kind, t.text, t.line) for t in toks][:4] == [
        ("word", "isakmp", 2), ("word", "::1", 2), (PORT, "500", 2), ("punct", ";", 2)]
    assert toks[-2].kind == QUOTED and toks[-2].text == "q r" and toks[-2].line == 3


@pytest.mark.parametrize(("text", "message"), [
    ("remote anonymous {\n exchange_mode main;\n", "f:2: found the end of the file, expected '}'"),
    ("log notify\n", "f:1: found the end of the file after 'log', expected ';'"),
    ("}\n", "f:1: found '}' without its '{', expected a statement"),
    ("log notify;\n/* open\n", "f:2: found '/*' without its '*/'"),
    ("log @;\n", "f:1: found log @, expected log notify or debug"),
    ("timer { counter five; };\n", "f:1: found counter five, expected counter a number"),
    ("listen { isakmp nowhere; }\n", "f:1: found isakmp nowhere, expected isakmp an address"),
    ("remote anonymous {\n\tfoo on;\n}\n", "f:2: found 'foo' in a remote block, expected one of"),
    ("remote anonymous { passive maybe; }\n", "f:1: found passive maybe, expected passive on or "
                                              "off"),
    ("sainfo anonymous { lifetime time 1 day; }\n", "f:1: found lifetime time 1 day"),
    ("timer;\n", "f:1: found 'timer' without a block"),
    ("log { notify; }\n", "f:1: found a block after 'log', expected ';'"),
    ('log "x" ;\n', "f:1: found log \"x\""),
    ("{ }\n", "f:1: found '{', expected a directive"),
    ("path certificate;\n", "f:1: found path certificate, expected path include a quoted"),
])
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RacoonConfError) as e:
        grammar.check(parse(text, "f"))
    assert str(e.value).startswith(message), str(e.value)


def test_include_follows_path_include_and_keeps_its_lines() -> None:
    files = {"/etc/racoon/remote.conf": "\n\nremote anonymous { passive on; }\n"}
    stmts = parse('path include "/etc/racoon";\ninclude "remote.conf";\n', "main.conf",
                  lambda p: [(p, files[p])] if p in files else [])
    assert [s.where for s in stmts] == ["main.conf:1", "main.conf:2",
                                        "/etc/racoon/remote.conf:3"]
    with pytest.raises(RacoonConfError, match="main.conf:1: found include 'nothing.conf'"):
        parse('include "nothing.conf";', "main.conf", lambda p: [])


def test_include_depth_is_limited_as_racoon_does() -> None:
    with pytest.raises(RacoonConfError, match="nested 10 deep"):
        parse('include "/loop";', "f", lambda p: [(p, 'include "/loop";')])


_WORDS = sorted({s.rstrip(";").split()[0] for stmts in STATEMENTS.values() for s in stmts}
                | set(grammar.TABLES) | {"anonymous", "inherit", "address", "subnet", "any",
                                         "192.0.2.1", "2001:db8::/32", "on", "3", "sec"})


@given(st.lists(st.one_of(st.sampled_from(_WORDS),
                          st.sampled_from(["{", "}", ";", ",", "[500]", '"x"', "#", "\n"])),
                max_size=40))
def test_any_token_stream_converts_or_fails_with_file_and_line(tokens: list[str]) -> None:
    try:
        result = convert_text(" ".join(tokens), "f")
    except RacoonConfError as e:
        assert str(e).startswith("f:"), str(e)
        return
    assert result.text.startswith("# racoon2.conf converted")


def _block(name: str, inner: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
    return inner.map(lambda stmts: f"{name} {{\n" + "\n".join(stmts) + "\n}\n")


_PROPOSAL = _block("proposal", st.lists(st.sampled_from(STATEMENTS["proposal"] + [
    "authentication_method rsasig;", "authentication_method xauth_psk_client;",
    "authentication_method xauth_psk_server;", "authentication_method hybrid_rsa_server;",
    "encryption_algorithm camellia;", "dh_group 3;"]), max_size=5))
_REMOTE = st.tuples(
    st.sampled_from(["remote anonymous", "remote 192.0.2.2", "remote 2001:db8::2 [4500]",
                     'remote "gw"']),
    st.lists(st.one_of(st.sampled_from(STATEMENTS["remote"]), _PROPOSAL), max_size=8),
).map(lambda t: f"{t[0]} {{\n" + "\n".join(t[1]) + "\n}\n")
_SAINFO = st.tuples(
    st.sampled_from(["sainfo anonymous", "sainfo address 192.0.2.0/24 any anonymous",
                     'sainfo fqdn "a.example" anonymous', "sainfo anonymous clientaddr"]),
    st.lists(st.sampled_from(STATEMENTS["sainfo"] + ["encryption_algorithm camellia;",
                                                     "pfs_group 3;"]), max_size=6),
).map(lambda t: f"{t[0]} {{\n" + "\n".join(t[1]) + "\n}\n")
_TOP = st.one_of(st.sampled_from(STATEMENTS["top"]), _REMOTE, _SAINFO,
                 *(_block(b, st.lists(st.sampled_from(STATEMENTS[b]), min_size=1, max_size=4))
                   for b in ("listen", "timer", "padding", "mode_cfg", "privsep")))
_SPD = st.sampled_from([None, "spdadd 192.0.2.0/24 198.51.100.0/24 any -P out ipsec "
                        "esp/tunnel/192.0.2.1-192.0.2.2/require;\n"
                        "spdadd 198.51.100.0/24 192.0.2.0/24 any -P in ipsec "
                        "esp/tunnel/192.0.2.2-192.0.2.1/require;",
                        "spdadd 192.0.2.1 192.0.2.2 tcp -P out ipsec "
                        "ipcomp/transport//use ah/transport//unique:3;",
                        "spdadd 192.0.2.1 192.0.2.2 any -P out ipsec esp/transport//use "
                        "ah/transport//use;\nspdadd 192.0.2.1 192.0.2.9 any -P in ipsec "
                        "ipcomp/transport//use;"])


@settings(max_examples=1000)  # each example loads and checks a racoon2.conf: ~10 ms
@given(st.lists(_TOP, max_size=8), _SPD)
def test_every_racoon_conf_the_grammar_accepts_converts_to_what_the_checks_accept(
        stmts: list[str], spd: str | None) -> None:
    result = convert_text("\n".join(stmts), "racoon.conf",
                          spd=parse_spd(spd, "setkey.conf") if spd else None)
    check_result(result.text, "racoon2.conf")
    assert not [e for e in result.report.entries if e.became == "not converted"]
