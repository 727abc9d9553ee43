"""Fixtures for the daemons started from the original samples (the ``startup`` marker)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernel"))
from host import Host  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/daemons/" in str(item.fspath):
            item.add_marker(pytest.mark.startup)
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    """A namespace whose eth0 is up with 192.0.2.1/24, 2001:db8::1/64 and its link-local
    address (no DAD), the original samples installed under ``tmp_path``."""
    if os.geteuid() != 0:
        pytest.skip("daemon start-up tests need root to create network namespaces")
    if shutil.which("ip") is None or shutil.which("ss") is None:
        pytest.skip("daemon start-up tests need iproute2 (tests/harness/setup-host.sh)")
    h = Host(tmp_path)
    try:
        yield h
    finally:
        h.close()
