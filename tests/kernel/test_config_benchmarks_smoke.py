"""benchmarks/config_parse.py and benchmarks/spmd_start.py as smoke tests: a small count, no
timing asserted (the figures are doc/performance.md's), only that every phase ran: the cold
and warm cache, the SIGHUP that changes one selector."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, check=False, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_config_parse_runs_every_phase() -> None:
    out = bench("config_parse.py", "--count", "300", "--repeat", "1")
    for phase in ("no cache:", "cold cache:", "warm cache:", "1 remote:"):
        assert f"iked -n, {'' if phase == '1 remote:' else '300 remotes, '}{phase}" in out, out


def test_spmd_start_runs_every_phase() -> None:
    if os.geteuid() != 0:
        pytest.skip("spmd_start needs root to create network namespaces")
    out = bench("spmd_start.py", "--count", "300", "--repeat", "1")
    for phase in ("no cache yet", "from the cache", "SIGHUP changing one selector",
                  "ip -batch"):
        assert phase in out, out
