"""Shared pieces of kinkd's unit tests: the transport sample's policy and SA pairs of it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest

from kinkd import sas
from kinkd.exchange import ChildSa
from kinkd.keymat import EspKeys
from kinkd.settings import PolicySettings, policy_settings
from racoon2.config import Config, loads
from racoon2.net import Endpoint

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "kink-transport.conf"
ip = ipaddress.ip_address


@pytest.fixture
def sample() -> Config:
    """samples/kink-transport.conf, host A's side."""
    return loads(SAMPLE.read_text(), str(SAMPLE))


@pytest.fixture
def policy(sample: Config) -> PolicySettings:
    """Its one policy, b_transport."""
    return policy_settings(sample, sample.policies[0])


PairMaker = Callable[..., sas.SaPair]


@pytest.fixture
def make_pair(policy: PolicySettings) -> PairMaker:
    """Makes pairs of b_transport between 192.0.2.1 (us) and 192.0.2.2."""

    def make(principal: str = "kink/host-b.example.com@EXAMPLE.COM", spi_in: int = 0x100,
             spi_out: int = 0x200, initiator: bool = True) -> sas.SaPair:
        child = ChildSa(policy.offers[0], spi_in, spi_out, EspKeys(b"i" * 16, b"I" * 20),
                        EspKeys(b"o" * 16, b"O" * 20), False, 1)
        return sas.SaPair(policy, principal, Endpoint(ip("192.0.2.2"), 910), ip("192.0.2.1"),
                          ip("192.0.2.2"), child, initiator, 0.0)

    return make
