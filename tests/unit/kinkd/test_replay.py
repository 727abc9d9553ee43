"""kinkd's replay cache: replays refused, skew enforced, persistence across restarts."""

from __future__ import annotations

import stat
from pathlib import Path

from kinkd.replay import Authenticator, ReplayCache


def auth(ctime: int = 1000, blob: bytes = b"ap-req") -> Authenticator:
    return Authenticator.of("kink/a.example.com@EXAMPLE.COM", ctime, 7, blob)


def test_replay_and_skew() -> None:
    cache = ReplayCache(skew=300)
    assert cache.check_and_store(auth(), now=1000)
    assert not cache.check_and_store(auth(), now=1001)
    assert cache.check_and_store(auth(blob=b"other"), now=1001)
    assert not cache.check_and_store(auth(ctime=500), now=1001)  # outside the skew
    cache.expire(1000 + 601)
    assert len(cache) == 0


def test_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "kinkd.rc"
    cache = ReplayCache(str(path))
    assert cache.check_and_store(auth(), now=1000)
    cache.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ReplayCache(str(path))
    assert not again.check_and_store(auth(), now=1010)


def test_damaged_file_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "kinkd.rc"
    path.write_text("{not json")
    assert len(ReplayCache(str(path))) == 0
