"""Which of this host's addresses an initiator speaks from when ``interface ike`` says MY_IP."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from iked.ikev2.core import IkeCore
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.config.model import AddrSpec
from racoon2.crypto.rng import DeterministicRng
from racoon2.net import Address

from .harness import side_config

ip = ipaddress.ip_address


@pytest.mark.parametrize(("peer", "expected"), [
    ("192.0.2.2", "192.0.2.1"),      # a global peer: not 127.0.0.1, although it comes first
    ("127.0.0.2", "127.0.0.1"),      # a loopback peer: loopback
])
def test_my_ip_speaks_from_the_peers_scope(tmp_path: Path, peer: str, expected: str) -> None:
    # RFC 6724 §5 rule 2: the kernel lists lo first, and MY_IP expands to every address.
    text = side_config("ikev2-transport.conf", tmp_path, "192.0.2.1", peer, edit=[
        ('ike { "${MY_IP4}" port 500; "${MY_IP4}" port 4500; };', "ike { MY_IPV4 port 500; };")])

    def addresses(spec: AddrSpec) -> list[Address]:
        return [ip("127.0.0.1"), ip("192.0.2.1")]

    core = IkeCore(loads(text, f"{tmp_path}/racoon2.conf"), DeterministicRng(b"s"),
                   read_secret, 0.0, local_addresses=addresses)
    assert core.initiate("peer_out", 0.0) is not None
    [datagram] = core.datagrams_to_send()
    assert (str(datagram.local.addr), str(datagram.remote.addr)) == (expected, peer)
