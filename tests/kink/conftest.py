"""The ``kink_pair`` fixture: two KINK hosts in namespaces and their realm (tests/kink/pair.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .pair import KinkPair, missing_tool


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees every collected item, not only this directory's.
    for item in items:
        if "tests/kink/" in str(item.fspath):
            item.add_marker(pytest.mark.kink)
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def kink_pair() -> Iterator[KinkPair]:
    """Namespaces A (192.0.2.1, and the KDC on 203.0.113.88) and B (192.0.2.2), realm
    KINK.TEST; daemons, KDC, namespaces and files are removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("KINK tests need root to create network namespaces")
    tool = missing_tool()
    if tool is not None:
        pytest.skip(f"KINK tests need {tool} (tests/harness/setup-host.sh installs iproute2, "
                    "krb5-kdc, krb5-admin-server and krb5-user)")
    pair = KinkPair()
    try:
        yield pair
    finally:
        pair.close()
