"""spmd's SIGHUP with a file the loader refuses for a number beyond any C int (issue 15 §3).

Python's int() refuses more than 4,300 digits with ValueError; the loader bounds its numbers, so
such a file is a ConfigError like any other: one "reload refused: FILE:LINE: ..." log line and
the running policies stay, instead of "Task exception was never retrieved".
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from netns import Netns
from test_spmd import EXPECT_TRANSPORT, EXPECT_TUNNEL, TUNNEL, Daemon, fmt, index_of


@pytest.fixture
def spmd(netns: Netns, tmp_path: Path) -> Daemon:
    return Daemon(netns, tmp_path)


def test_sighup_with_a_5000_digit_number_is_refused_and_keeps_the_policies(
        spmd: Daemon) -> None:
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    before = index_of(spmd.ns)
    assert set(before) == EXPECT_TRANSPORT | EXPECT_TUNNEL
    text = spmd.conf.read_text()
    lines = text.count("\n")
    spmd.conf.write_text(text + f"selector huge {{ reqid {'9' * 5000}; }};\n")
    spmd.send(signal.SIGHUP)
    time.sleep(1.0)
    assert index_of(spmd.ns) == before
    assert spmd.proc is not None and spmd.proc.poll() is None
    log = spmd.log.read_text()
    assert "Task exception was never retrieved" not in log
    refused = [line for line in log.splitlines() if "reload refused: " in line]
    assert len(refused) == 1, log[-2000:]
    assert f"reload refused: {spmd.conf}:{lines + 1}: found 999999999999…(5000 digits), " \
        "expected a number that fits a C int" in refused[0]
    assert spmd.stop() == 0
