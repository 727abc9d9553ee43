"""The SPD readers, the mapper's rules (remotes, proposals, sainfos, SPD → policies) and the
command line, on small inputs (documentation addresses only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from racoon2.config import loads
from racoon2.config.model import Kmp
from racoon2.convert import convert_text
from racoon2.convert.cli import check_result, main
from racoon2.convert.output import Outcome
from racoon2.convert.psk import parse_psk
from racoon2.convert.spd import Request, Skipped, SpdEntry, parse_spd
from racoon2.errors import RacoonConfError

GW = """
path pre_shared_key "/etc/racoon/psk.txt";
remote 203.0.113.1 {
\texchange_mode main, aggressive;
\tmy_identifier address 198.51.100.1;
\tdpd_delay 30;
\tproposal { encryption_algorithm aes 256; hash_algorithm sha256;
\t\tauthentication_method pre_shared_key; dh_group 14; }
\tproposal { encryption_algorithm 3des; hash_algorithm sha1;
\t\tauthentication_method pre_shared_key; dh_group 2; }
}
sainfo address 192.0.2.0/25 any address 192.0.2.128/25 any {
\tpfs_group 14; lifetime time 1 hour;
\tencryption_algorithm aes 128, camellia; authentication_algorithm hmac_sha256;
\tcompression_algorithm deflate;
}
"""
SPD = """spdadd 192.0.2.0/25 192.0.2.128/25 any -P out ipsec
\tipcomp/tunnel/198.51.100.1-203.0.113.1/use esp/tunnel/198.51.100.1-203.0.113.1/unique:7;
spdadd 192.0.2.128/25 192.0.2.0/25 any -P in ipsec
\tipcomp/tunnel/203.0.113.1-198.51.100.1/use esp/tunnel/203.0.113.1-198.51.100.1/unique:7;
add 198.51.100.1 203.0.113.1 esp 0x1000 -E 3des-cbc "123456789012345678901234";
"""


def _outcome(result: object, text: str) -> Outcome:
    entries = [e for e in result.report.entries if e.text.startswith(text)]  # type: ignore
    assert entries, text
    return entries[0].outcome  # type: ignore[no-any-return]


def test_setkey_conf_and_setkey_dp_give_the_same_entries() -> None:
    conf = parse_spd("spdadd 192.0.2.1[500] 192.0.2.2 udp -P out prio 10 ipsec\n"
                     "  esp/transport//require;\nflush;\n", "s")
    dump = parse_spd("192.0.2.1[500] 192.0.2.2[any] udp\n\tout prio 10 ipsec\n"
                     "\tesp/transport//require\n\tspid=1 seq=0 pid=1\n\trefcnt=1\n", "d")
    req = Request("esp", "transport", None, None, "require", None)
    for entry in (conf[0], dump[0]):
        assert isinstance(entry, SpdEntry)
        assert (entry.src, entry.sport, entry.dst, entry.dport, entry.upper, entry.direction,
                entry.action, entry.requests) == ("192.0.2.1", "500", "192.0.2.2", "any",
                                                  "udp", "out", "ipsec", (req,))
    assert isinstance(conf[1], Skipped) and conf[1].where == "s:3"


def test_setkey_dp_per_socket_policies_and_relative_priorities() -> None:
    dump = parse_spd("(per-socket policy)\n\tin(socket) none\n\tspid=9 seq=0 pid=1\n"
                     "192.0.2.1[any] 192.0.2.2[any] 255\n\tout prio def + 5 none\n", "d")
    assert isinstance(dump[0], Skipped) and dump[0].where == "d:1"
    assert isinstance(dump[1], SpdEntry) and dump[1].action == "none"
    assert dump[1].upper == "255"


@pytest.mark.parametrize(("text", "message"), [
    ("spdadd 192.0.2.1 192.0.2.2 any -P up ipsec esp/transport//require;",
     "s:1: found 'up', expected the direction"),
    ("spdadd 192.0.2.1 192.0.2.2 any -P out ipsec esp/sideways//require;",
     "s:1: found 'esp/sideways//require', expected PROTO/MODE"),
    ("spdadd 192.0.2.1 192.0.2.2 any -P out ipsec;", "s:1: found ipsec without a request"),
    ("spdadd 192.0.2.1 192.0.2.2 any -P out ipsec esp/transport//sometimes;",
     "s:1: found level 'sometimes'"),
    ("spdadd 192.0.2.1 -P out none;", "s:1: found 'spdadd 192.0.2.1 -P out none'"),
    ("spdadd 192.0.2.1 192.0.2.2 any -P out none", "s:1: found the end of the file"),
])
def test_spd_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RacoonConfError) as e:
        parse_spd(text, "s")
    assert str(e.value).startswith(message), str(e.value)


def test_a_gateway_with_its_spd() -> None:
    result = convert_text(GW, "gw.conf", spd=parse_spd(SPD, "spd"))
    config = loads(result.text, "out")
    check_result(result.text, "out")
    assert config.remotes[0].block(Kmp.IKEV1) is not None
    assert "kmp_enc_alg {\n\t\t\taes256_cbc;\n\t\t\t3des_cbc;\n\t\t};" in result.text
    assert "kmp_dh_group {\n\t\t\tmodp2048;\n\t\t\tmodp1024;\n\t\t};" in result.text
    assert 'pre_shared_key "/usr/local/etc/racoon2/psk/203.0.113.1.psk";' in result.text
    assert "my_id ipaddr 198.51.100.1;" in result.text and "need_pfs on;" in result.text
    assert "dpd_delay 30 sec;" in result.text
    sel = {s.name: s for s in config.selectors}
    assert sel["spd_1_out"].policy is sel["spd_2_in"].policy
    policy = sel["spd_1_out"].policy
    assert policy is not None and policy.remote_index == "203.0.113.1"
    assert str(policy.ipsec_level.value) == "unique" and sel["spd_1_out"].reqid == 7
    ipsec = policy.ipsecs[0]
    assert [sa.sa_protocol.value for sa in ipsec.sas] == ["ipcomp", "esp"]
    assert "esp_enc_alg aes128_cbc;" in result.text and "ipcomp_alg deflate;" in result.text
    assert _outcome(result, "exchange_mode main, aggressive") is Outcome.CHANGED
    assert _outcome(result, "encryption_algorithm aes 128, camellia") is Outcome.CHANGED
    assert _outcome(result, "add 198.51.100.1") is Outcome.NONE
    assert _outcome(result, "proposal") is Outcome.MAPPED


def test_without_spd_the_sainfo_blocks_wait_for_policies() -> None:
    result = convert_text(GW, "gw.conf")
    assert "selector" not in result.text and "ipsec sainfo_1_esp {" in result.text
    entry = [e for e in result.report.entries if "no selector" in e.became][0]
    assert "--spd" in entry.note


@pytest.mark.parametrize(("stmt", "outcome", "became"), [
    ("nat_traversal force;", Outcome.CHANGED, "nat_traversal on"),
    ("ike_frag on;", Outcome.NONE, "no IKEv1 fragmentation"),
    ('script "up.sh" phase1_up;', Outcome.CHANGED, "script { phase1_up"),
    ('script "dead.sh" phase1_dead;', Outcome.NONE, "no phase1_dead"),
    ("mode_cfg on;", Outcome.NONE, "not emitted"),
    ("mode_cfg off;", Outcome.USED, "not emitted"),
    ('xauth_login "u";', Outcome.NONE, "not emitted"),
    ('certificate_type plain_rsa "k";', Outcome.NONE, "no plain RSA"),
    ("generate_policy on;", Outcome.NONE, "from racoon2.conf only"),
    ("generate_policy off;", Outcome.USED, "dropped"),   # racoon's default, racoon2's way
    ("lifetime time 2 hour;", Outcome.MAPPED, "kmp_sa_lifetime_time 2 hour"),
    ("verify_cert off;", Outcome.MAPPED, "verify_pubkey off"),
    ("send_cr off;", Outcome.MAPPED, "send_cert_req off"),
    # racoon's default ID, the address it speaks from, is iked's too; never the peer's
    ("my_identifier address;", Outcome.MAPPED, "iked sends the address it speaks from"),
    ("peers_identifier address;", Outcome.MAPPED, "peers_id ipaddr 192.0.2.2"),
])
def test_remote_statements(stmt: str, outcome: Outcome, became: str) -> None:
    text = (f"remote 192.0.2.2 {{ {stmt} proposal {{ encryption_algorithm 3des; "
            "hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; } }")
    result = convert_text(text, "r.conf")
    check_result(result.text, "out")
    entry = [e for e in result.report.entries if e.text == stmt.rstrip(";")][0]
    assert entry.outcome is outcome and became in entry.became, entry
    assert "my_id ipaddr 192.0.2.2" not in result.text


def test_an_xauth_client_remote_is_left_out_and_says_so() -> None:
    # racoon2's XAuth is the gateway's only: a client method has nothing to become
    text = ("remote 192.0.2.2 { exchange_mode aggressive; proposal { encryption_algorithm aes; "
            "hash_algorithm sha1; authentication_method xauth_psk_client; dh_group 2; } }")
    result = convert_text(text, "x.conf")
    check_result(result.text, "out")
    assert "remote" not in result.text.replace("# racoon2.conf", "")
    entry = [e for e in result.report.entries if e.text.startswith("exchange_mode")][0]
    assert entry.outcome is Outcome.NONE and "left out" in entry.became
    method = [e for e in result.report.entries if e.text.startswith("authentication")][0]
    assert method.outcome is Outcome.NONE and "gateway's only" in method.note


def test_listen_and_timer_and_inherit() -> None:
    text = ("listen { isakmp 192.0.2.1 [500]; isakmp_natt 192.0.2.1 [4500]; }\n"
            "timer { counter 3; interval 2 sec; }\n"
            "remote anonymous { proposal { authentication_method pre_shared_key; } }\n"
            "remote 192.0.2.2 inherit anonymous { passive on; }\n")
    result = convert_text(text, "l.conf")
    check_result(result.text, "out")
    assert "192.0.2.1 port 500;\n\t\t192.0.2.1 port 4500;" in result.text
    assert result.text.count("max_retry_to_send 3;") == 2
    assert result.text.count("kmp_auth_method psk;") == 2
    assert _outcome(result, "interval 2 sec") is Outcome.CHANGED


def test_cli_writes_the_file_and_the_report_and_refuses_to_overwrite(tmp_path: Path) -> None:
    conf, spd = tmp_path / "racoon.conf", tmp_path / "setkey.conf"
    conf.write_text(GW)
    spd.write_text(SPD)
    out, report = tmp_path / "racoon2.conf", tmp_path / "report"
    runner = CliRunner()
    r = runner.invoke(main, [str(conf), "-s", str(spd), "-o", str(out), "-r", str(report)])
    assert r.exit_code == 0, r.output
    assert "spmd -n and iked -n accept the result" in report.read_text()
    assert "remote 203.0.113.1 {" in out.read_text()
    r = runner.invoke(main, [str(conf), "-o", str(out)])
    assert r.exit_code == 1 and "exists, not overwritten" in r.output
    conf.write_text("remote anonymous {\n")
    r = runner.invoke(main, [str(conf), "--force", "-o", str(out)])
    assert r.exit_code == 1 and f"{conf}:1: found the end of the file" in r.output


def test_psk_txt_becomes_one_key_file_per_remote(tmp_path: Path) -> None:
    conf, psk = tmp_path / "racoon.conf", tmp_path / "psk.txt"
    conf.write_text(GW + 'remote 192.0.2.9 { peers_identifier fqdn "gw9.example.com"; proposal '
                    "{ authentication_method pre_shared_key; } }\n"
                    "remote 192.0.2.10 { proposal { authentication_method pre_shared_key; } }\n")
    psk.write_text("# racoon.conf(5)'s format\n203.0.113.1\tmekmitasdigoat\n"
                   "gw9.example.com 0x12345678\n")
    out, keys = tmp_path / "racoon2.conf", tmp_path / "psk"
    r = CliRunner().invoke(main, [str(conf), "-k", str(psk), "--psk-dir", str(keys), "-o",
                                  str(out), "-r", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    assert (keys / "203.0.113.1.psk").read_bytes() == b"mekmitasdigoat"
    assert (keys / "192.0.2.9.psk").read_bytes() == bytes.fromhex("12345678")
    assert (keys / "203.0.113.1.psk").stat().st_mode & 0o777 == 0o600
    report = (tmp_path / "report").read_text()
    assert f"psk: wrote {keys}/203.0.113.1.psk for remote '203.0.113.1' from {psk}:2" in report
    assert "psk: no key for remote '192.0.2.10'" in report
    with pytest.raises(RacoonConfError, match="p:1: found 'lonely' alone, expected ID KEY"):
        parse_psk("lonely\n", "p")


def test_cli_follows_includes_with_their_own_lines(tmp_path: Path) -> None:
    (tmp_path / "remotes").mkdir()
    (tmp_path / "remotes" / "a.conf").write_text(
        "\nremote 192.0.2.2 { proposal { authentication_method pre_shared_key; } }\n")
    (tmp_path / "remotes" / "b.conf").write_text("remote 192.0.2.3 {\n\tbogus on;\n}\n")
    conf = tmp_path / "racoon.conf"
    conf.write_text(f'path include "{tmp_path}";\ninclude "remotes/a.conf";\n')
    r = CliRunner().invoke(main, [str(conf), "-r", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    assert f"{tmp_path}/remotes/a.conf:2: remote 192.0.2.2" in (tmp_path / "report").read_text()
    conf.write_text(f'path include "{tmp_path}";\ninclude "remotes/*.conf";\n')
    r = CliRunner().invoke(main, [str(conf)])
    assert r.exit_code == 1
    assert f"{tmp_path}/remotes/b.conf:2: found 'bogus' in a remote block" in r.output


def test_bundles_and_sizes_racoon2_cannot_take_are_changed_and_said() -> None:
    spd = parse_spd("spdadd 192.0.2.1 192.0.2.2 any -P out ipsec esp/transport//require "
                    "ah/transport//require;\nspdadd 192.0.2.1 192.0.2.3 any -P out ipsec "
                    "ipcomp/transport//use;\n", "s")
    text = ("remote anonymous { lifetime byte 3 TB; proposal { authentication_method "
            "pre_shared_key; } }\nsainfo anonymous { lifetime byte 4 GB; "
            "authentication_algorithm hmac_sha1; }\n")
    result = convert_text(text, "b.conf", spd=spd)
    check_result(result.text, "out")
    assert "sa_protocol ah" not in result.text and "192.0.2.3" not in result.text
    assert result.text.count("lifetime_byte 2147483647 B;") == 2
    notes = [e for e in result.report.entries if e.where.startswith("s:")]
    assert notes[0].outcome is Outcome.CHANGED and "ESP" in notes[0].became
    assert any(n.outcome is Outcome.NONE and "IPComp alone" in n.became for n in notes)
    assert _outcome(result, "lifetime byte 3 TB") is Outcome.CHANGED


# The FreeBSD Handbook's racoon.conf (tests/convert/corpus/guide-freebsd-handbook-*) writes
# its sainfo IDs in parentheses, which racoon's lexer lets through (cftoken.l has no rule for
# them: its catch-all '.' keeps them for the next token, which a keyword or blank ignores).
@pytest.mark.parametrize("header", [
    "(address 192.0.2.0/25 any address 192.0.2.128/25 any)",
    "( address 192.0.2.0/25 any address 192.0.2.128/25 any )",
])
def test_a_parenthesised_sainfo_header_reads_as_racoon_reads_it(header: str) -> None:
    plain = convert_text(GW, "gw.conf", spd=parse_spd(SPD, "spd"))
    text = GW.replace("address 192.0.2.0/25 any address 192.0.2.128/25 any", header)
    result = convert_text(text, "gw.conf", spd=parse_spd(SPD, "spd"))
    assert result.text == plain.text
    assert _outcome(result, f"sainfo {header}") is Outcome.MAPPED


def test_a_parenthesis_glued_to_an_address_is_refused_with_its_line() -> None:
    # racoon would read '(192.0.2.0/25' as the address, and fail on it
    text = GW.replace("sainfo address 192.0.2.0/25", "sainfo address (192.0.2.0/25")
    with pytest.raises(RacoonConfError, match=r"gw.conf:12: found '\(192.0.2.0/25' in the "
                       "sainfo header"):
        convert_text(text, "gw.conf")


def test_a_remote_lifetime_before_a_proposal_lifetime_is_said_not_emitted() -> None:
    # racoon.conf(5): the remote's lifetime is the default of the proposals without one
    text = ("remote 192.0.2.2 { lifetime time 8 hour; proposal { encryption_algorithm 3des; "
            "hash_algorithm sha1; authentication_method pre_shared_key; dh_group 2; "
            "lifetime time 30 sec; } }")
    result = convert_text(text, "r.conf")
    assert "kmp_sa_lifetime_time 30 sec;" in result.text and "8 hour" not in result.text
    entry = [e for e in result.report.entries if e.text == "lifetime time 8 hour"][0]
    assert (entry.outcome, entry.became) == (Outcome.USED, "not emitted")
    assert entry.note == "the proposal's lifetime at r.conf:1 counts"


def test_a_sainfo_no_spd_entry_picks_is_said_not_emitted() -> None:
    # the Linux IPv6 HOWTO's racoon.conf holds both hosts' sainfos; on this host, with its
    # SPD, racoon looks up (local ID, remote ID) and never picks the peer's one
    text = GW + ("sainfo address 192.0.2.128/25 any address 192.0.2.0/25 any {\n"
                 "\tencryption_algorithm aes; authentication_algorithm hmac_sha1;\n}\n")
    result = convert_text(text, "gw.conf", spd=parse_spd(SPD, "spd"))
    assert "sainfo_2" not in result.text and "ipsec sainfo_1_" in result.text
    unused = [e for e in result.report.entries if e.where in ("gw.conf:17", "gw.conf:18")]
    assert [(e.outcome, e.became) for e in unused] == [(Outcome.USED, "not emitted")] * 3
    assert "no entry of the SPD picks this sainfo" in unused[0].note
    assert _outcome(result, "sainfo address 192.0.2.0/25") is Outcome.MAPPED
