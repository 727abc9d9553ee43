"""Configuration queries of iked and kinkd: remote by address and by ID, selectors of a remote."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from racoon2.config import loads
from racoon2.config.lookup import (
    acquire_selector,
    initiator_target,
    remote_for_address,
    remote_for_id,
    selectors_of,
)
from racoon2.config.model import IdType
from racoon2.ipsec import Direction

ip = ipaddress.ip_address
SAMPLES = Path(__file__).resolve().parents[3] / "samples"
CONF = """
default { remote { acceptable_kmp ikev2; ikev2 { my_id fqdn "gw.example.net"; }; }; };
remote net { ikev2 { peers_ipaddr 203.0.113.0/24; peers_id fqdn "B.example.net."; }; };
remote host { ikev2 { peers_ipaddr { 203.0.113.7 port 4500; 2001:db8::7; };
                      peers_id ipaddr 2001:db8::7; }; };
remote rw { ikev2 { peers_ipaddr IP_RW; peers_id email "alice@example.net"; }; };
remote v1 { acceptable_kmp ikev1; ikev1 { peers_ipaddr 198.51.100.1; }; };
selector o { direction outbound; src 192.0.2.0/24; dst 203.0.113.7; policy_index p; };
selector i { direction inbound; src 203.0.113.7; dst 192.0.2.0/24; policy_index p; };
policy p { action auto_ipsec; remote_index host; };
"""


def test_remote_by_address_prefers_exact_then_wildcards_then_default() -> None:
    cfg = loads(CONF)
    assert remote_for_address(cfg, ip("203.0.113.9")).name == "net"  # type: ignore[union-attr]
    assert remote_for_address(cfg, ip("2001:db8::7")).name == "host"  # type: ignore[union-attr]
    assert remote_for_address(cfg, ip("198.51.100.99")).name == "rw"  # type: ignore[union-attr]
    no_rw = loads(CONF.replace("peers_ipaddr IP_RW;", ""))
    assert remote_for_address(no_rw, ip("198.51.100.1")) is no_rw.default_remote


def test_remote_by_id() -> None:
    cfg = loads(CONF)
    assert remote_for_id(cfg, IdType.FQDN, "b.example.net").name == "net"  # type: ignore
    assert remote_for_id(cfg, IdType.IPADDR, "2001:DB8:0::7").name == "host"  # type: ignore
    assert remote_for_id(cfg, IdType.EMAIL, "ALICE@example.net").name == "rw"  # type: ignore
    assert remote_for_id(cfg, IdType.KEYID, "x") is None


def test_selectors_and_targets() -> None:
    cfg = loads(CONF)
    host = cfg.remote("host")
    assert host is not None
    assert [s.name for s in selectors_of(cfg, host)] == ["o", "i"]
    assert [s.name for s in selectors_of(cfg, host, Direction.OUTBOUND)] == ["o"]
    assert acquire_selector(cfg, "i") is cfg.selectors[1]
    target = initiator_target(cfg, host)
    assert target is not None and str(target.address) == "203.0.113.7" and target.port == 4500


def test_acquire_selector_by_name_then_by_addresses() -> None:
    """spmd's name wins and is not second-guessed; the addresses decide only without one."""
    cfg = loads(CONF)
    o, i = cfg.selectors[0], cfg.selectors[1]
    src, dst = o.src[0].address, o.dst[0].address
    assert src is not None and dst is not None
    assert acquire_selector(cfg, "i", src, dst) is i
    assert acquire_selector(cfg, "nope", src, dst) is None
    assert acquire_selector(cfg, None, src, dst) is o
    assert acquire_selector(cfg, None) is None  # kinkd: no name, no guess
    assert acquire_selector(cfg, None, src, ip("198.51.100.9")) is None


def test_samples() -> None:
    cfg = loads((SAMPLES / "ikev2-tunnel.conf").read_text())
    gw = remote_for_address(cfg, ip("203.0.113.1"))
    assert gw is not None and gw.name == "gw_b"
    assert remote_for_id(cfg, IdType.FQDN, "gw-b.example.net") is gw
