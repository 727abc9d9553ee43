"""Fixtures for interoperability tests on this machine's kernel (network namespaces)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import Namespaces, NatNamespaces


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/interop/" in str(item.fspath):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def pair() -> Iterator[Namespaces]:
    """Two namespaces joined by a veth, deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("interop tests need root to create network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("interop tests need iproute2 (tests/harness/setup-host.sh installs it)")
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def nat() -> Iterator[NatNamespaces]:
    """A behind a masquerading router, B outside; all three namespaces deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("interop tests need root to create network namespaces")
    if shutil.which("nft") is None:
        pytest.fail("nft is missing: tests/harness/setup-host.sh installs nftables")
    ns = NatNamespaces()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def eap_pair() -> Iterator[Namespaces]:
    """A pair of namespaces for the EAP tests, with strongSwan's charon required."""
    if not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    ns = Namespaces("eap")
    try:
        yield ns
    finally:
        ns.close()
