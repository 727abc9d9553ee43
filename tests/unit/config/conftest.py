"""Helpers for configuration tests: write a racoon2.conf into tmp_path and load it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from racoon2.config import Config, load_config

Write = Callable[..., str]
Load = Callable[..., Config]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """write(text, name="racoon2.conf", mode=0o644) -> path of the written file."""

    def _write(text: str, name: str = "racoon2.conf", mode: int = 0o644) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)
        return str(path)

    return _write


@pytest.fixture
def load(write: Write) -> Load:
    """load(text, environ=None) -> Config, from a file written into tmp_path."""

    def _load(text: str, environ: dict[str, str] | None = None) -> Config:
        return load_config(write(text), environ=environ or {})

    return _load


@pytest.fixture
def secret(tmp_path: Path) -> Callable[..., str]:
    """secret(name, data=b"key", mode=0o600) -> path of a secret file in tmp_path."""

    def _secret(name: str, data: bytes = b"key", mode: int = 0o600) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.write(fd, data)
        os.close(fd)
        os.chmod(path, mode)
        return str(path)

    return _secret
