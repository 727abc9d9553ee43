"""selector/remote directives spmd cannot or does not act on, and `order`, which it does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from racoon2.config import load_config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError
from spmd.policies import plan

BASE = """
interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "/run/r2.s"; {tcp} }}; spmd_password "{pwd}"; }};
remote r {{ acceptable_kmp ikev2; {remote}
            ikev2 {{ my_id ipaddr 192.0.2.1; kmp_enc_alg aes128_cbc; }}; }};
selector wide {{ direction outbound; src 192.0.2.0/24; dst 198.51.100.0/24;
                 policy_index p; {wide} }};
selector narrow {{ direction outbound; src 192.0.2.1; dst 198.51.100.1;
                   policy_index p; {narrow} }};
policy p {{ action auto_ipsec; remote_index r; ipsec_mode transport; ipsec_level require;
            ipsec_index i; }};
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha2_256; }};
{extra}
"""


@pytest.fixture
def conf(tmp_path: Path):  # type: ignore[no-untyped-def]
    pwd = tmp_path / "spmd.pwd"
    fd = os.open(pwd, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"password")
    os.close(fd)

    def make(**parts: str) -> tuple[object, Path]:
        fields = {"tcp": "", "remote": "", "wide": "", "narrow": "", "extra": ""} | parts
        path = tmp_path / "racoon2.conf"
        path.write_text(BASE.format(pwd=pwd, **fields))
        return load_config(str(path)), path
    return make


def lines(warnings: list[object]) -> list[str]:
    return [str(w) for w in warnings]


def test_tagged_is_refused_with_file_line(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, path = conf(narrow='tagged "fromvpn";')
    with pytest.raises(ConfigError) as e:
        check_config(cfg, "spmd")
    assert str(e.value).startswith(f"{path}:8: found tagged 'fromvpn', expected no pf tag")
    assert "XFRM mark is not the same" in str(e.value)
    assert not any("tagged" in w.message for w in check_config(cfg, "iked"))  # spmd only


def test_unused_directives_warn_with_file_line(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, path = conf(remote="selector_index narrow;",
                     wide="next_header_including { 135; };")
    for daemon in ("spmd", "iked"):
        got = [w for w in lines(check_config(cfg, daemon)) if "never used" in w
               or "Mobile IPv6" in w]
        assert f"{path}:3: selector_index in a remote is never used" in got[0]
        assert got[1].startswith(f"{path}:6: next_header_including (Mobile IPv6")


def test_order_outranks_specificity_and_configuration_order(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = conf()
    plain = {d.selector: d.spec.priority for d in plan(cfg).policies}
    assert plain["narrow"] < plain["wide"]  # more specific first by default
    cfg, _ = conf(wide="order 1;", narrow="order 2;")
    ordered = {d.selector: d.spec.priority for d in plan(cfg).policies}
    assert ordered["wide"] < ordered["narrow"]
    assert check_config(cfg, "spmd") == []


def test_order_beyond_what_spmd_tells_apart_warns(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, path = conf(wide="order 9;", narrow="order 8;")
    got = lines(check_config(cfg, "spmd"))
    assert got == [f"{path}:6: order 9 ranks like 7: spmd tells orders 0 to 7 apart",
                   f"{path}:8: order 8 ranks like 7: spmd tells orders 0 to 7 apart"]
    prio = {d.selector: d.spec.priority for d in plan(cfg).policies}
    assert prio["narrow"] < prio["wide"]  # equal order: specificity decides again


def test_resolver_checks(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, path = conf(extra="resolver { resolver on; nameserver ns.example; "
                           "dns_query 127.0.0.1; };")
    with pytest.raises(ConfigError, match=rf"^{path}:13: found resolver on without a "
                                          "numeric nameserver"):
        check_config(cfg, "spmd")
    cfg, path = conf(extra="resolver { resolver on; nameserver { 192.0.2.53; ns.example; }; "
                           "dns_query MY_IP; };")
    got = lines(check_config(cfg, "spmd"))
    assert any("nameserver ns.example is not a numeric address, skipped" in w for w in got)
    assert any("dns_query MY_IP is not a numeric address" in w for w in got)
    assert any("the DNS proxy has nowhere to listen" in w for w in got)
    cfg, path = conf(extra="resolver { resolver on; nameserver 192.0.2.53; "
                           "dns_query { 127.0.0.1; 192.0.2.1; }; };")
    assert lines(check_config(cfg, "spmd")) == [
        f"{path}:13: dns_query 192.0.2.1 relays DNS for anyone who reaches it; prefer "
        "127.0.0.1 or ::1"]


def test_spmif_tcp_off_loopback_warns(conf) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = conf(tcp="127.0.0.1 port 9555;")
    assert check_config(cfg, "spmd") == []
    cfg, path = conf(tcp="192.0.2.1 port 9555;")
    [warning] = lines(check_config(cfg, "spmd"))
    assert warning.startswith(f"{path}:2: spmif over TCP on 192.0.2.1 is clear text")
