"""racoon as an XAuth gateway → ikev1 xauth { }, provide { } and an addresspool: the auth
sources, the pool's range, what has no equivalent, and that the result loads and passes the
daemons' checks (documentation addresses only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from racoon2.config import loads
from racoon2.convert import convert_text
from racoon2.convert.cli import check_result, main
from racoon2.convert.mapper import Options
from racoon2.convert.output import Outcome

_REMOTE = """
remote anonymous {
\texchange_mode aggressive;
\tcertificate_type x509 "gw.crt" "gw.key";
\tproposal { encryption_algorithm aes 256; hash_algorithm sha256;
\t\tauthentication_method %s; dh_group 14; }
}
"""
_MODE_CFG = """
mode_cfg {
\tauth_source %s;
\tnetwork4 198.51.100.10;
\tpool_size 20;
\tnetmask4 255.255.255.0;
\tdns4 192.0.2.53, 192.0.2.54;
\twins4 192.0.2.55;
\tsplit_network include 192.0.2.0/24;
\tauth_groups "vpn";
\taccounting system;
}
"""


def _convert(method: str, source: str | None, users: str | None = None
             ) -> tuple[str, dict[str, Outcome], dict[str, str]]:
    text = _REMOTE % method + (_MODE_CFG % source if source else "")
    result = convert_text(text, "gw.conf", options=Options(xauth_users=users))
    check_result(result.text, "out")  # raises ConfigError if spmd -n or iked -n refuses it
    return (result.text, {e.text: e.outcome for e in result.report.entries},
            {e.text: e.note for e in result.report.entries})


@pytest.mark.parametrize(("method", "auth"), [("xauth_psk_server", "psk"),
                                              ("xauth_rsa_server", "rsasig"),
                                              ("hybrid_rsa_server", "rsasig")])
def test_a_gateway_method_becomes_its_method_with_xauth_and_provide(method: str,
                                                                    auth: str) -> None:
    text, outcome, note = _convert(method, "pam")
    ikev1 = loads(text, "out").remote("anonymous").ikev1  # type: ignore[union-attr]
    assert ikev1 is not None and ikev1.xauth is not None and ikev1.xauth.pam == "racoon"
    assert [m.name for m in ikev1.kmp_auth_method or ()] == [auth]
    assert ikev1.provide is not None and ikev1.provide.addresspool == ("mode_cfg_pool",)
    assert [a.text for a in ikev1.provide.dns] == ["192.0.2.53", "192.0.2.54"]
    # racoon handed out network4 + 0 … pool_size - 1
    assert "addresspool mode_cfg_pool {\n\t198.51.100.10 - 198.51.100.29;\n};" in text
    assert outcome[f"authentication_method {method}"] is Outcome.CHANGED
    assert "psk and rsasig only" in note[f"authentication_method {method}"]
    assert ("no hybrid authentication" in note[f"authentication_method {method}"]) == \
        method.startswith("hybrid")
    assert outcome["auth_source pam"] is Outcome.MAPPED
    assert outcome["dns4 192.0.2.53, 192.0.2.54"] is Outcome.MAPPED
    for stmt in ("netmask4 255.255.255.0", "wins4 192.0.2.55", 'auth_groups "vpn"',
                 "split_network include 192.0.2.0/24", "accounting system"):
        assert outcome[stmt] is Outcome.NONE, stmt


def test_system_accounts_become_pam_login_and_without_mode_cfg_too() -> None:
    text, outcome, note = _convert("xauth_psk_server", "system")
    assert 'xauth {\n\t\t\tpam "login";\n\t\t};' in text
    assert outcome["auth_source system"] is Outcome.CHANGED
    assert "locked or expired" in note["auth_source system"]
    # racoon's default auth_source is system: no mode_cfg, still XAuth, and no provide
    text, _, note = _convert("xauth_psk_server", None)
    assert 'pam "login";' in text and "provide" not in text and "addresspool" not in text
    assert "PAM service login" in note["authentication_method xauth_psk_server"]


@pytest.mark.parametrize("source", ["radius", "ldap"])
def test_radius_and_ldap_have_no_equivalent_and_the_gateway_is_left_out(source: str) -> None:
    text, outcome, note = _convert("xauth_psk_server", source)
    assert "remote anonymous" not in text and "addresspool" not in text
    assert outcome[f"auth_source {source}"] is Outcome.NONE
    assert f"no {source.upper()} client" in note["authentication_method xauth_psk_server"]
    assert outcome["mode_cfg"] is Outcome.NONE


def test_a_users_file_replaces_any_source_and_says_how_to_create_it() -> None:
    text, outcome, note = _convert("xauth_psk_server", "radius", "/etc/racoon2/xauth.users")
    assert 'users "/etc/racoon2/xauth.users";' in text
    assert outcome["auth_source radius"] is Outcome.CHANGED
    assert "mode 0600" in note["auth_source radius"] and "doc/iked.md" in note[
        "auth_source radius"]


def test_mode_cfg_without_an_xauth_gateway_is_not_written() -> None:
    text, outcome, note = _convert("pre_shared_key", "pam")
    assert "provide" not in text and "xauth" not in text and "addresspool" not in text
    assert outcome["mode_cfg"] is Outcome.NONE and "no remote" in note["mode_cfg"]
    assert outcome["dns4 192.0.2.53, 192.0.2.54"] is Outcome.NONE


@pytest.mark.parametrize(("network", "size", "pool"), [
    ("203.0.113.200", "pool_size 56;", "203.0.113.200 - 203.0.113.255"),
    ("255.255.255.250", "pool_size 100;", "255.255.255.250 - 255.255.255.255"),  # capped
    ("203.0.113.0", "", "203.0.113.0 - 203.0.113.254"),  # racoon's default pool_size 255
    ("2001:db8::1", "pool_size 10;", None),  # network4 is IPv4 only
])
def test_the_pool_range(network: str, size: str, pool: str | None) -> None:
    text = (_REMOTE % "xauth_psk_server"
            + f"mode_cfg {{ auth_source pam; network4 {network}; {size} }}\n")
    result = convert_text(text, "gw.conf")
    check_result(result.text, "out")
    if pool is None:
        assert "addresspool" not in result.text
        entry = [e for e in result.report.entries if e.text.startswith("network4")][0]
        assert entry.outcome is Outcome.NONE
    else:
        assert f"\t{pool};" in result.text


def test_sainfo_group_and_client_statements_have_no_equivalent() -> None:
    text = ('remote 192.0.2.2 { xauth_login "alice"; mode_cfg on; proposal { '
            "authentication_method pre_shared_key; } }\n"
            'sainfo anonymous group "staff" { encryption_algorithm aes; }\n'
            'radiuscfg { auth 192.0.2.9 1812 "secret"; }\n')
    result = convert_text(text, "c.conf")
    check_result(result.text, "out")
    entries = {e.text: e for e in result.report.entries}
    group = [e.note for e in result.report.entries if e.text.startswith("sainfo")]
    assert any("checks no XAuth groups" in n for n in group)
    assert entries['xauth_login "alice"'].outcome is Outcome.NONE
    assert entries["mode_cfg on"].outcome is Outcome.NONE
    assert entries["radiuscfg"].outcome is Outcome.NONE
    assert entries['auth 192.0.2.9 1812 "secret"'].outcome is Outcome.NONE


def test_cli_xauth_users(tmp_path: Path) -> None:
    conf = tmp_path / "racoon.conf"
    conf.write_text(_REMOTE % "xauth_psk_server")
    out, users = tmp_path / "racoon2.conf", tmp_path / "xauth.users"
    done = CliRunner().invoke(main, [str(conf), "-o", str(out), "-r", str(tmp_path / "r"),
                                     "--xauth-users", str(users)])
    assert done.exit_code == 0, done.output
    assert f'users "{users}";' in out.read_text()
    report = (tmp_path / "r").read_text()
    assert f"create {users}, mode 0600" in report
    assert "does not exist yet" in report  # iked -n only warns about a users file not there
