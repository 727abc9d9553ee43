"""iked as a configuration client (RFC 7296 §2.19, §3.15): the CFG_REQUEST ``request { }``
makes, the CFG_REPLY parsed, and what iked -n refuses (the exchange between two cores is in
tests/pair/test_config_request.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from iked.ikev2 import config_payload
from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.config.model import ConfigRequest
from racoon2.errors import ConfigError
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import CfgType
from racoon2.ikev2.payloads import CP

ip = ipaddress.ip_address
SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_request_items_become_empty_attributes() -> None:
    cp = config_payload.request(ConfigRequest.IP4 | ConfigRequest.IP6_DNS |
                                ConfigRequest.APPLICATION_VERSION)
    assert cp == CP(CfgType.CFG_REQUEST, ((A.INTERNAL_IP4_ADDRESS, b""),
                                          (A.INTERNAL_IP6_DNS, b""), (A.APPLICATION_VERSION, b"")))
    assert config_payload.request(ConfigRequest(0)) is None


def test_reply_is_parsed_and_bad_attributes_skipped() -> None:
    got = config_payload.parse_reply(CP(CfgType.CFG_REPLY, (
        (A.INTERNAL_IP4_ADDRESS, ip("198.51.100.10").packed), (A.INTERNAL_IP4_DNS, b"\x01"),
        (A.INTERNAL_IP4_DNS, ip("192.0.2.53").packed),
        (A.INTERNAL_IP6_ADDRESS, ip("2001:db8::7").packed + bytes([64])),
        (A.APPLICATION_VERSION, b"vpn 1"), (99, b"x"))))
    assert (got.addr4, got.dns4, got.addr6, got.application_version) == (
        ip("198.51.100.10"), (ip("192.0.2.53"),), ip("2001:db8::7"), "vpn 1")
    assert config_payload.leases(got) == (ip("198.51.100.10"), ip("2001:db8::7"))


def test_check_refuses_mip6_home_prefix(tmp_path: Path) -> None:
    text = (SAMPLES / "ikev2-transport.conf").read_text().replace(
        "kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\trequest { ip4; "
        "mip6_home_prefix; };")
    with pytest.raises(ConfigError) as e:
        check_config(loads(text, str(tmp_path / "racoon2.conf")), "iked")
    assert str(e.value).startswith(f"{tmp_path}/racoon2.conf:31: found mip6_home_prefix")
