"""Fixtures for tests against this machine's kernel (netlink XFRM) in private namespaces."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from netns import Netns


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kernel/" in str(item.fspath):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh network namespace, deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("kernel tests need root to create network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("kernel tests need iproute2 (tests/harness/setup-host.sh installs it)")
    ns = Netns()
    try:
        yield ns
    finally:
        ns.close()
