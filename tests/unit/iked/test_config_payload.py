"""Address pools and CFG_REPLY (RFC 7296 §3.15)."""

from __future__ import annotations

import ipaddress

from iked.ikev2.config_payload import Pool, Provide, reply, wanted_version
from racoon2.ikev2.constants import CfgAttribute as A
from racoon2.ikev2.constants import CfgType
from racoon2.ikev2.payloads import CP

ip = ipaddress.ip_address


def test_pool_leases_lowest_free_and_takes_back() -> None:
    pool = Pool([(ip("198.51.100.10"), ip("198.51.100.11")), (ip("2001:db8::1"),
                                                             ip("2001:db8::1"))])
    assert [pool.lease(4), pool.lease(4), pool.lease(4)] == [ip("198.51.100.10"),
                                                             ip("198.51.100.11"), None]
    pool.release(ip("198.51.100.10"))
    assert pool.lease(4) == ip("198.51.100.10")
    assert pool.lease(6) == ip("2001:db8::1") and pool.lease(6) is None


def test_reply_carries_what_was_asked() -> None:
    request = CP(CfgType.CFG_REQUEST, ((A.INTERNAL_IP4_ADDRESS, b""), (A.INTERNAL_IP4_DNS, b""),
                                       (A.APPLICATION_VERSION, b"")))
    assert wanted_version(request) == 4
    provide = Provide("p", (ip("192.0.2.53"), ip("2001:db8::53")), "racoon2-python")
    assert reply(request, ip("198.51.100.10"), provide) == CP(CfgType.CFG_REPLY, (
        (A.INTERNAL_IP4_ADDRESS, ip("198.51.100.10").packed),
        (A.INTERNAL_IP4_DNS, ip("192.0.2.53").packed),
        (A.APPLICATION_VERSION, b"racoon2-python")))
    v6 = CP(CfgType.CFG_REQUEST, ((A.INTERNAL_IP6_ADDRESS, b""),))
    assert wanted_version(v6) == 6
    assert reply(v6, ip("2001:db8::7"), provide).attributes == (
        (A.INTERNAL_IP6_ADDRESS, ip("2001:db8::7").packed + bytes([128])),)
