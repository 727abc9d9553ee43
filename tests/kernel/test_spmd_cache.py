"""spmd with a configuration big enough to be cached (racoon2.confcache), in the real kernel.

A restart with the file unchanged starts from the cache and installs the same policies; a
SIGHUP that changes one selector of 1,000 updates exactly that policy: every other keeps its
kernel index (nothing deleted and added again).  That SIGHUP plans only that selector again
(racoon2.config.incremental); a broken selector is refused with the message ``spmd -n``
gives, and a changed policy is a full reload of every selector.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from netns import Netns
from test_spmd import BIN, Daemon

from racoon2 import confcache
from spmd.shell import START_PAYLOADS

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


def test_sighup_plans_only_the_changed_selector_and_refuses_a_broken_one(spmd: Daemon
                                                                         ) -> None:
    head = HEAD.format(sock=spmd.sock, pwd=spmd.pwd)
    spmd.conf.write_text(head + "".join(selector(i) for i in range(COUNT)))
    spmd.start()
    wait_until(lambda: len(indexes(spmd.ns)) == COUNT)
    before = indexes(spmd.ns)
    moved = "192.0.2.1/32 203.0.113.0/24"
    spmd.conf.write_text(head + "".join(selector(i, "203.0.113.0/24" if i == 500 else None)
                                        for i in range(COUNT)))
    spmd.send(signal.SIGHUP)
    wait_until(lambda: moved in indexes(spmd.ns))
    after = indexes(spmd.ns)
    assert set(before) - set(after) == {"192.0.2.1/32 198.51.101.244/32"}
    assert {k: v for k, v in after.items() if k != moved} == \
        {k: v for k, v in before.items() if k in after}
    wait_until(lambda: "selectors planned again" in spmd.log.read_text())
    assert "1 to add, 0 to update, 1 to delete (only 1 of 1000 selectors planned again)" in \
        spmd.log.read_text()

    # A value error in the changed selector: refused with spmd -n's message, nothing moves.
    spmd.conf.write_text(head + "".join(selector(i, "203.0.113.0/33" if i == 500 else None)
                                        for i in range(COUNT)))
    check = subprocess.run([str(BIN / "spmd"), "-n", "-f", str(spmd.conf)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 1 and check.stderr.startswith(f"{spmd.conf}:")
    spmd.send(signal.SIGHUP)
    wait_until(lambda: "reload refused" in spmd.log.read_text())
    assert f"reload refused: {check.stderr.strip()}; still running" in spmd.log.read_text()
    assert indexes(spmd.ns) == after

    # The shared policy changes: every selector is planned again, every policy updated.
    spmd.conf.write_text(head.replace("ipsec_level require", "ipsec_level use") +
                         "".join(selector(i) for i in range(COUNT)))
    spmd.send(signal.SIGHUP)
    # (selector 500 goes back to its dst: one to add, one to delete, the others updated)
    wait_until(lambda: f"1 to add, {COUNT - 1} to update, 1 to delete\n" in
               spmd.log.read_text())
    assert "level use" in spmd.ns.ip("xfrm", "policy")
    assert spmd.stop() == 0


def policies(ns: Netns) -> str:
    """``ip xfrm policy`` without the kernel's indexes (which differ from start to start)."""
    return re.sub(r" index \d+", "", ns.ip("xfrm", "policy"))


def test_a_start_installs_the_payloads_the_cache_kept_and_repairs_wrong_ones(
        spmd: Daemon) -> None:
    """The first start keeps its policies' payloads in the cache entry; the second installs
    them before planning and ends with the same policies, the table answering spmif as
    before; payloads that are not the plan's (altered here) are reconciled away, and the
    cache gets the right ones.  A selector with a MY_* macro keeps none."""
    head = HEAD.format(sock=spmd.sock, pwd=spmd.pwd)
    spmd.conf.write_text(head + "".join(selector(i) for i in range(COUNT)))
    spmd.start()
    wait_until(lambda: len(indexes(spmd.ns)) == COUNT)
    first = policies(spmd.ns)
    assert spmd.stop() == 0
    cache = confcache.Cache(str(spmd.tmp / "cache"), str(spmd.conf))
    wait_until(lambda: os.path.exists(cache.file))
    entry = cache.read()
    assert entry is not None
    key, payloads = entry.derived[START_PAYLOADS]
    assert len(payloads) == COUNT

    spmd.start()
    wait_until(lambda: len(indexes(spmd.ns)) == COUNT)
    assert policies(spmd.ns) == first
    shown = json.loads(spmd.ctl("--json", "p", "s").stdout)
    assert {e["selector"] for e in shown} == {f"s{i}" for i in range(COUNT)}
    assert spmd.stop() == 0

    wrong = bytearray(payloads[-1])
    wrong[:4] = bytes([203, 0, 113, 77])  # the destination of another policy
    entry.derived[START_PAYLOADS] = (key, [*payloads[:-1], bytes(wrong)])
    cache.write(entry)
    spmd.start()
    wait_until(lambda: "not its plan: reconciling again" in spmd.log.read_text())
    wait_until(lambda: policies(spmd.ns) == first)
    assert spmd.stop() == 0
    wait_until(lambda: (e := cache.read()) is not None and
               e.derived[START_PAYLOADS] == (key, payloads))

    spmd.conf.write_text(head + "".join(selector(i) for i in range(COUNT)) +
                         "selector m { direction outbound; src MY_IP; dst 192.0.2.99;"
                         " upper_layer_protocol any; policy_index p; };\n")
    spmd.start()
    wait_until(lambda: len(indexes(spmd.ns)) >= COUNT)
    assert spmd.stop() == 0
    wait_until(lambda: (e := cache.read()) is not None and
               e.derived[START_PAYLOADS] == (key, None))
