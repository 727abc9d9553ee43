"""``xauth { users FILE; }`` and ``provide { }`` in an ikev1 block (doc/config.md §5): the
grammar, the effective values, and what ``iked -n`` says about them and the users file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from iked.cli import main
from iked.users import check_users
from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.config.effective import ikev1
from racoon2.config.model import ConfigWarning
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]

IKEV1 = """
interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "/run/spmif"; }}; spmd_password "{pwd}"; }};
remote r {{ acceptable_kmp ikev1; ikev1 {{
    peers_ipaddr IP_RW; kmp_enc_alg aes128_cbc; kmp_hash_alg sha1; kmp_dh_group modp2048;
    kmp_auth_method psk; pre_shared_key "{psk}";
    {extra}
}}; }};
addresspool rw {{ 198.51.100.10 - 198.51.100.20; }};
"""


def _config(load: Load, secret: Secret, extra: str) -> Config:
    return load(IKEV1.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra=extra))


def _where(warnings: list[ConfigWarning]) -> list[tuple[str, str]]:
    return [(w.where.rpartition(":")[2], w.message) for w in warnings]


def _users_check(cfg: Config) -> list[tuple[str, str]]:
    warnings: list[ConfigWarning] = []
    check_users(cfg, warnings)
    return _where(warnings)


def test_xauth_and_provide_in_ikev1(load: Load, secret: Secret) -> None:
    users = secret("xauth.users", b"alice plain:s3cret\n")
    cfg = _config(load, secret, f'xauth {{ users "{users}"; }};\n'
                                "provide { addresspool rw; dns 192.0.2.53; };")
    eff = ikev1(cfg, cfg.remote("r"))
    assert eff.xauth is not None and eff.xauth.users == users
    assert eff.provide is not None and eff.provide.addresspool == ("rw",)
    assert eff.xauth.where_of("users") == f"{cfg.file}:6"
    assert _users_check(cfg) == []
    # run by the IKEv1 engine (iked/ikev1/remote_access.py): nothing to say
    assert _where(list(check_config(cfg, "iked"))) == []


def test_the_default_remote_lends_its_xauth(load: Load, secret: Secret) -> None:
    users = secret("xauth.users", b"alice plain:s3cret\n")
    cfg = load(IKEV1.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra="")
               + f'default {{ remote {{ ikev1 {{ xauth {{ users "{users}"; }}; }}; }}; }};')
    assert ikev1(cfg, cfg.remote("r")).xauth is not None


@pytest.mark.parametrize(("text", "message"), [
    ("xauth { };", "empty 'xauth' block"),
    ('xauth { user "x"; };', "expected a directive of 'xauth'"),
    ("xauth users;", "'{' to open the 'xauth' block"),
    ('xauth { users "f"; pam "racoon2"; };', "found both users and pam in xauth"),
])
def test_grammar_errors(load: Load, secret: Secret, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        _config(load, secret, text)
    assert e.value.where is not None and e.value.where.endswith(":6")


def test_xauth_is_ikev1_only(load: Load) -> None:
    with pytest.raises(ConfigError, match="expected a directive of 'ikev2'"):
        load('remote r { ikev2 { xauth { users "x"; }; }; };')


def test_a_missing_users_file_is_a_warning(load: Load, secret: Secret, tmp_path: Path
                                           ) -> None:
    cfg = _config(load, secret, f'xauth {{ users "{tmp_path}/none"; }};')
    assert _users_check(cfg) == [("6", f"XAuth users file {tmp_path}/none does not exist yet; "
                                       "create it, mode 0600 (doc/iked.md, XAuth users file)")]


def test_a_readable_users_file_is_refused(load: Load, secret: Secret) -> None:
    users = secret("xauth.users", b"alice plain:s3cret\n", mode=0o644)
    cfg = _config(load, secret, f'xauth {{ users "{users}"; }};')
    with pytest.raises(ConfigError, match="mode 0644 lets others read a secret; chmod 600") \
            as e:
        _users_check(cfg)
    assert e.value.where == f"{cfg.file}:6"


def test_a_bad_users_line_names_the_users_file(load: Load, secret: Secret) -> None:
    users = secret("xauth.users", b"alice plain:ok\nbob md5:abc\n")
    cfg = _config(load, secret, f'xauth {{ users "{users}"; }};')
    with pytest.raises(ConfigError, match="expected plain:, scrypt:, pbkdf2-sha256: or nthash:") \
            as e:
        _users_check(cfg)
    assert e.value.where == f"{users}:2"


def test_ikev1_provide_pool_must_exist(load: Load, secret: Secret) -> None:
    cfg = _config(load, secret, "provide { addresspool nopool; dhcp 192.0.2.67; };")
    said = [(w.where.rpartition(":")[2], w.message) for w in check_config(cfg, "iked")]
    assert ("6", "provide addresspool 'nopool' names no addresspool: iked leases nothing "
            "from it") in said
    assert any(m.startswith("provide dhcp is not sent") for _, m in said)


def test_iked_dash_n_runs_the_users_check(load: Load, secret: Secret,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    users = secret("xauth.users", b"bob md5:abc\n")
    cfg = _config(load, secret, f'xauth {{ users "{users}"; }};')
    assert main(["-n", "-f", cfg.file]) == 1
    assert f"{users}:1: user 'bob': found 'md5'" in capsys.readouterr().err


def test_ikev1_provide_says_what_mode_config_does_not_send(load: Load, secret: Secret) -> None:
    cfg = _config(load, secret, "provide { addresspool rw; dns_domain corp.example; "
                                "lease_time 1 hour; };")
    said = [w.message for w in check_config(cfg, "iked")]
    assert "provide dns_domain is not sent by IKEv1 mode-config, ignored" in said
    assert "provide lease_time is not sent by IKEv1 mode-config, ignored" in said
