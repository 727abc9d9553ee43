"""The pair fixture: A (192.0.2.1) and B (192.0.2.2) from samples/ikev2-transport.conf."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Side, two_sides


@pytest.fixture
def pair(tmp_path: Path) -> dict[str, Side]:
    """Two cores that have not spoken yet; A initiates in most tests."""
    return two_sides(tmp_path)
