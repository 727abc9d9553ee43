"""spmd with a configuration big enough to be cached (racoon2.confcache), in the real kernel.

A restart with the file unchanged starts from the cache and installs the same policies; a
SIGHUP that changes one selector of 1,000 updates exactly that policy: every other keeps its
kernel index (nothing deleted and added again).
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from netns import Netns
from test_spmd import Daemon

COUNT = 1000
HEAD = """interface {{ spmd {{ unix "{sock}"; }}; spmd_password "{pwd}"; }};
policy p {{ action auto_ipsec; ipsec_mode transport; ipsec_level require; ipsec_index i; }};
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha2_256; }};
"""


def selector(i: int, dst: str | None = None) -> str:
    return (f"selector s{i} {{ direction outbound; src 192.0.2.1; "
            f"dst {dst or f'198.51.{100 + i // 256}.{i % 256}'}; upper_layer_protocol any; "
            "policy_index p; };\n")


def indexes(ns: Netns) -> dict[str, int]:
    """Each policy's "src … dst …" and its kernel index (``ip -s xfrm policy``)."""
    found = re.findall(r"^src (\S+) dst (\S+).*?\n\s+dir \S+ action \S+ index (\d+)",
                       ns.ip("-s", "xfrm", "policy"), re.M)
    return {f"{src} {dst}": int(index) for src, dst, index in found}


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def spmd(netns: Netns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("RACOON2_CACHE_DIR", str(cache))
    return Daemon(netns, tmp_path)


def test_restart_from_the_cache_and_sighup_updates_exactly_one_policy(spmd: Daemon) -> None:
    head = HEAD.format(sock=spmd.sock, pwd=spmd.pwd)
    spmd.conf.write_text(head + "".join(selector(i) for i in range(COUNT)))
    spmd.start()
    wait_until(lambda: len(indexes(spmd.ns)) == COUNT)
    assert spmd.stop() == 0
    wait_until(lambda: len(list((spmd.tmp / "cache").glob("*.cache"))) == 1)  # written aside
    (cache,) = (spmd.tmp / "cache").glob("*.cache")
    written = cache.stat().st_mtime_ns
    spmd.start()  # the second start reads the cache and leaves it as it is
    wait_until(lambda: len(indexes(spmd.ns)) == COUNT)
    assert cache.stat().st_mtime_ns == written
    before = indexes(spmd.ns)
    spmd.conf.write_text(head + "".join(selector(i, "203.0.113.0/24" if i == 7 else None)
                                        for i in range(COUNT)))
    spmd.send(signal.SIGHUP)
    wait_until(lambda: "192.0.2.1/32 203.0.113.0/24" in indexes(spmd.ns))
    after = indexes(spmd.ns)
    gone = "192.0.2.1/32 198.51.100.7/32"
    assert set(before) - set(after) == {gone}
    assert set(after) - set(before) == {"192.0.2.1/32 203.0.113.0/24"}
    assert {k: v for k, v in after.items() if k in before} == \
        {k: v for k, v in before.items() if k != gone}
    log = spmd.log.read_text()
    assert "1 to add, 0 to update, 1 to delete" in log, log[-2000:]
    assert spmd.stop() == 0
