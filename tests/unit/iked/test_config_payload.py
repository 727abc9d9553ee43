"""CFG_REPLY (RFC 7296 §3.15, RFC 8598): what a client's CFG_REQUEST gets, byte for byte."""

from __future__ import annotations

import ipaddress

from iked.ikev2.config_payload import Provide, reply, split_subnets, wanted_versions
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import CfgType
from racoon2.ikev2.payloads import CP, encode_body

ip = ipaddress.ip_address
net = ipaddress.ip_network


def ask(*kinds: int) -> CP:
    return CP(CfgType.CFG_REQUEST, tuple((k, b"") for k in kinds))


def test_rfc7296_2_19_example() -> None:
    """RFC 7296 §2.19: CP(CFG_REQUEST)=INTERNAL_ADDRESS() gets CP(CFG_REPLY)=
    INTERNAL_ADDRESS(192.0.2.202) INTERNAL_NETMASK(...) INTERNAL_SUBNET(192.0.2.0/255.255.255.0);
    our netmask is the host's (the address is reached through the tunnel only)."""
    got = reply(ask(A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP4_NETMASK), [ip("192.0.2.202")],
                Provide(("p",)), [net("192.0.2.0/24")])
    assert got.attributes == (
        (A.INTERNAL_IP4_ADDRESS, bytes([192, 0, 2, 202])),
        (A.INTERNAL_IP4_NETMASK, bytes([255, 255, 255, 255])),
        (A.INTERNAL_IP4_SUBNET, bytes([192, 0, 2, 0, 255, 255, 255, 0])))
    # The payload body: CFG Type, 3 reserved octets, then each attribute as
    # R(1 bit)|Type(15) Length(16) Value (RFC 7296 §3.15, §3.15.1).
    assert encode_body(got) == bytes.fromhex(
        "02000000" "00010004c00002ca" "00020004ffffffff" "000d0008c0000200ffffff00")


def test_rfc8598_example_and_both_families() -> None:
    """RFC 8598 §3.1's example: INTERNAL_IP4_ADDRESS(198.51.100.234) INTERNAL_IP4_DNS
    (198.51.100.2) INTERNAL_DNS_DOMAIN(example.com) INTERNAL_DNS_DOMAIN(city.other.com); plus
    an IPv6 address with its prefix length and IPv6 DNS, a v6 split subnet."""
    request = ask(A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP4_DNS, A.INTERNAL_IP6_ADDRESS,
                  A.INTERNAL_IP6_DNS, A.INTERNAL_DNS_DOMAIN)
    assert wanted_versions(request) == (4, 6)
    provide = Provide(("p",), (ip("198.51.100.2"), ip("2001:db8::53")),
                      domains=("example.com", "city.other.com."))
    got = reply(request, [ip("198.51.100.234"), ip("2001:db8:1::7")], provide,
                [net("2001:db8:5::/48")])
    assert got.attributes == (
        (A.INTERNAL_IP4_ADDRESS, ip("198.51.100.234").packed),
        (A.INTERNAL_IP6_ADDRESS, ip("2001:db8:1::7").packed + bytes([128])),
        (A.INTERNAL_IP4_DNS, ip("198.51.100.2").packed),
        (A.INTERNAL_IP6_DNS, ip("2001:db8::53").packed),
        (A.INTERNAL_IP6_SUBNET, ip("2001:db8:5::").packed + bytes([48])),
        (A.INTERNAL_DNS_DOMAIN, b"example.com"), (A.INTERNAL_DNS_DOMAIN, b"city.other.com"))
    assert encode_body(got).endswith(bytes.fromhex("0019000b") + b"example.com" +
                                     bytes.fromhex("0019000e") + b"city.other.com")


def test_unasked_things_stay_out() -> None:
    """No DNS_DOMAIN without the client's INTERNAL_DNS_DOMAIN (RFC 8598 §3.1), no DNS of a
    family not asked, no subnet of a family the client got no address of, no netmask."""
    provide = Provide(("p",), (ip("192.0.2.53"), ip("2001:db8::53")), "r2",
                      domains=("corp.example",))
    got = reply(ask(A.INTERNAL_IP4_ADDRESS, A.INTERNAL_IP6_DNS), [ip("198.51.100.10")], provide,
                [net("198.51.100.16/28"), net("2001:db8:5::/48")])
    assert got.attributes == (
        (A.INTERNAL_IP4_ADDRESS, ip("198.51.100.10").packed),
        (A.INTERNAL_IP6_DNS, ip("2001:db8::53").packed),
        (A.INTERNAL_IP4_SUBNET, ip("198.51.100.16").packed + ip("255.255.255.240").packed))


def test_split_subnets_from_the_policies_unless_a_full_tunnel() -> None:
    policies = [net("0.0.0.0/0"), net("198.51.100.16/28"), net("198.51.100.16/28"),
                net("::/0")]
    assert split_subnets(Provide(("p",)), policies) == (net("198.51.100.16/28"),)
    written = Provide(("p",), subnets=(net("203.0.113.0/24"),))
    assert split_subnets(written, policies) == (net("203.0.113.0/24"),)
    assert split_subnets(Provide(("p",), subnets=()), policies) == ()
