"""iked/xauth_check.py: the users files of a configuration are loaded when iked starts (one that
does not load stops it, naming FILE:LINE), and CheckPassword requests are answered from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from iked.events import CheckPassword
from iked.xauth_check import Checkers
from racoon2.config import loads
from racoon2.errors import ConfigError

TEXT = 'remote r {{ acceptable_kmp {{ ikev1; }}; ikev1 {{ xauth {{ users "{}"; }}; }}; }};'


def _users(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xauth.users"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_loaded_at_start_and_checked(tmp_path: Path) -> None:
    path = _users(tmp_path, "alice plain:right\n")
    checkers = Checkers(loads(TEXT.format(path)))
    assert checkers.check(CheckPassword("r", str(path), None, "alice", b"right"))
    assert not checkers.check(CheckPassword("r", str(path), None, "alice", b"wrong"))
    assert not checkers.check(CheckPassword("r", str(path), None, "mallory", b"right"))
    with pytest.raises(ConfigError, match="was not loaded"):
        checkers.check(CheckPassword("r", "/elsewhere", None, "alice", b"right"))


def test_a_bad_users_file_stops_the_start(tmp_path: Path) -> None:
    path = _users(tmp_path, "alice sha1:abcdef\n")
    with pytest.raises(ConfigError, match=r"xauth.users:1: user 'alice'"):
        Checkers(loads(TEXT.format(path)))
    path.chmod(0o644)
    with pytest.raises(ConfigError):
        Checkers(loads(TEXT.format(path)))
    with pytest.raises(ConfigError):
        Checkers(loads(TEXT.format(tmp_path / "missing")))
