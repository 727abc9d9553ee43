"""iked as a configuration client (RFC 7296 §2.19, §3.15): ``request { }`` becomes a CFG_REQUEST
in IKE_AUTH, the CFG_REPLY of iked's own responder (``provide { addresspool }``) becomes the
source of the CHILD_SA's traffic selector and the hooks' INTERNAL_* variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from test_ikev2_pair import make_side, pump

from iked.events import AddressLeased, ChildSaUp, IkeSaDown, NegotiationFailed
from iked.hooks import phase2_env
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
POOL = "addresspool pool { 198.51.100.10 - 198.51.100.20; };\n"
#: A: a client whose side of the policy is any address until the responder leases one.
CLIENT = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\trequest { ip4; dns; "
           "application_version; };"),
          ('src "${MY_IP4}";', 'src "0.0.0.0/0";'), ('dst "${MY_IP4}";', 'dst "0.0.0.0/0";'))
#: B: a responder leasing from a pool; the client's side of its policy is IP_RW.
SERVER = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\tprovide { addresspool "
           "pool; dns { 192.0.2.53; 2001:db8::53; }; application_version \"r2 test\"; };"),
          ('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),
          ('dst "${PEER_IP4}"', "dst IP_RW"), ('src "${PEER_IP4}"', "src IP_RW"),
          ("ipsec esp_sha256 {", POOL + "ipsec esp_sha256 {"))


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


def test_client_gets_an_address_from_ikeds_pool(tmp_path: Path) -> None:
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=CLIENT)
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=SERVER)
    pair = {"a": a, "b": b}
    assert a.core.initiate("peer_out", 0.0) is not None
    pump(pair)
    (leased,) = [e for e in a.events if isinstance(e, AddressLeased)]
    assert leased.addresses == (ip("198.51.100.10"),) and leased.remote == ip("192.0.2.2")
    (up,) = [e for e in a.events if isinstance(e, ChildSaUp)]
    # The CHILD_SA's source is the leased address, not the 0.0.0.0/0 of the policy.
    assert up.local_ts == "198.51.100.10/32"
    env = dict(phase2_env(up.hook))
    assert (env["INTERNAL_ADDR4"], env["INTERNAL_DNS4"], env["INTERNAL_DNS6"],
            env["APPLICATION_VERSION"], env["INTERNAL_ADDR6"]) == (
        "198.51.100.10", "192.0.2.53", "2001:db8::53", "r2 test", "")
    assert env["LOCAL_NET_ADDR"] == "198.51.100.10" and env["LOCAL_NET_PREFIXLEN"] == "32"
    (b_up,) = [e for e in b.events if isinstance(e, ChildSaUp)]
    b_env = dict(phase2_env(b_up.hook))
    assert b_env["INTERNAL4_ADDR"] == b_env["INTERNAL_ADDR"] == "198.51.100.10"
    # A rekey of the CHILD_SA keeps the leased source.
    (sa,) = a.core.sas.values()
    (child,) = sa.children
    assert [str(t) for t in child.settings.local_ts] == ["198.51.100.10/32"]
    sa.delete(1.0)
    pump(pair, 1.0)
    assert any(isinstance(e, IkeSaDown) for e in a.events)


def test_responder_without_a_pool_is_reported(tmp_path: Path) -> None:
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=CLIENT)
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")
    pump_pair = {"a": a, "b": b}
    a.core.initiate("peer_out", 0.0)
    pump(pump_pair)
    failed = [e for e in a.events if isinstance(e, NegotiationFailed)]
    assert any("leased us no address" in e.reason for e in failed)
    assert not any(isinstance(e, AddressLeased) for e in a.events)


def test_check_refuses_mip6_home_prefix(tmp_path: Path) -> None:
    text = (SAMPLES / "ikev2-transport.conf").read_text().replace(
        "kmp_auth_method { psk; };", "kmp_auth_method { psk; };\n\t\trequest { ip4; "
        "mip6_home_prefix; };")
    with pytest.raises(ConfigError) as e:
        check_config(loads(text, str(tmp_path / "racoon2.conf")), "iked")
    assert str(e.value).startswith(f"{tmp_path}/racoon2.conf:31: found mip6_home_prefix")
