"""benchmarks/ike_responder.py as a smoke test: a few SAs, no timing asserted.

Benchmarks are not timed tests (doc/performance.md has the figures): this only keeps the
benchmark runnable, both responders answering and every SA counted (about 10 s each).  A
clean machine builds the load-tester first (benchmarks/build-strongswan-lt.sh, about 75 s on
2 idle cores, cached in /var/cache/racoon2-strongswan-lt): the interop group's other worker
goes on meanwhile, its tests mostly waiting on their peers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import loadtester  # noqa: E402

COUNT = 8  # a multiple of the load-tester's 4 initiator threads


def _run(*args: str, rows: tuple[str, ...] = ("iked", "strongSwan")) -> str:
    if os.geteuid() != 0:
        pytest.skip("the benchmark needs root for its network namespaces")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ike_responder.py"),
                          "--counts", str(COUNT), *args], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT).stdout
    for name in rows:
        # up, then CPU ms/SA (whole clock ticks: 0 is possible for so few SAs)
        row = re.search(rf"^\s+{COUNT}\s+{name}\s+(\d+)\s+[\d.]+\s", out, re.M)
        assert row is not None, out
        assert int(row.group(1)) == COUNT, out
    assert re.search(r"^\s+\d+\s+ratio", out, re.M), out
    return out


def test_python_driver() -> None:
    """This project's initiator against spmd + iked and charon (kernel-netlink)."""
    _run("--driver", "python")


def test_loadtester_driver() -> None:
    """strongSwan's load-tester against iked -D 0x8 and charon with fake_kernel, without
    and with cookies (``--charon-cookies``)."""
    if os.geteuid() != 0:
        pytest.skip("the load-tester's build installs packages and writes /var/cache: root only")
    loadtester.build()
    _run("--driver", "loadtester", "--charon-cookies",
         rows=("iked", "strongSwan", "ss cookies"))
