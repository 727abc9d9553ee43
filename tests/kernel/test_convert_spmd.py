"""Proof of meaning for racoon2-convert: a converted racoon.conf (ipsec-tools' own sample) with
the SPD racoon relied on (a setkey.conf) loads and starts — spmd and iked in a namespace — and
the policies spmd puts in the kernel are the setkey file's (doc/convert.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from netns import Netns, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CORPUS = ROOT / "tests" / "convert" / "corpus"

#: tunnel-gateway.setkey's entries as the kernel shows them: out, in and the fwd twin spmd
#: adds for the inbound tunnel selector (setkey's own fwd entry is left to it), and the
#: bypass for ICMP between the gateways.
EXPECTED = {
    "src 192.0.2.0/25 dst 192.0.2.128/25 dir out",
    "src 192.0.2.128/25 dst 192.0.2.0/25 dir in",
    "src 192.0.2.128/25 dst 192.0.2.0/25 dir fwd",
    "src 198.51.100.1/32 dst 203.0.113.1/32 proto icmp dir out",
}


def test_converted_sample_starts_spmd_and_iked_with_the_setkey_policies(netns: Netns,
                                                                       tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    sock, pwd, conf = run_dir / "spmif", tmp_path / "spmd.pwd", tmp_path / "racoon2.conf"
    fd = os.open(pwd, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"convert-test-password-0123")
    os.close(fd)
    done = subprocess.run(
        [str(BIN / "racoon2-convert"), str(CORPUS / "ipsec-tools-racoon.conf.sample"),
         "-s", str(CORPUS / "tunnel-gateway.setkey"), "-o", str(conf),
         "-r", str(tmp_path / "report"), "--spmd-socket", str(sock), "--spmd-password",
         str(pwd), "--psk-dir", str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    netns.ip("link", "set", "lo", "up")
    spmd = netns.spawn([str(BIN / "spmd"), "-F", "-f", str(conf)], tmp_path / "spmd.log")
    iked = None
    try:
        wait_for(sock)
        deadline = time.monotonic() + 10
        while {p.split(" priority ")[0] for p in netns.policies()} != EXPECTED and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert {p.split(" priority ")[0] for p in netns.policies()} == EXPECTED
        assert all("tmpl src 198.51.100.1 dst 203.0.113.1" in p or "tmpl src 203.0.113.1 dst "
                   "198.51.100.1" in p or "proto icmp" in p for p in netns.policies())
        iked = netns.spawn([str(BIN / "iked"), "-j", "1", "-F", "-f", str(conf)],
                           tmp_path / "iked.log")
        deadline = time.monotonic() + 10
        while "listening on" not in (tmp_path / "iked.log").read_text() and \
                time.monotonic() < deadline and iked.poll() is None:
            time.sleep(0.1)
        log = (tmp_path / "iked.log").read_text()
        assert iked.poll() is None and "listening on" in log, log
    finally:
        if iked is not None:
            netns.stop(iked)
        netns.stop(spmd)
