"""A network namespace made for one test, with documentation addresses, removed afterwards.

Used through the ``netns`` fixture in conftest.py.  Processes started inside are tracked by PID
and only those are stopped.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


class Netns:
    """``ip netns`` wrapper: run commands inside, read its XFRM policies."""

    def __init__(self) -> None:
        self.name = f"r2t-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str, check: bool = True) -> str:
        """``ip -n NS ARGS``; returns stdout."""
        done = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True,
                              check=False)
        if check and done.returncode:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def run(self, argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
        """Run argv inside the namespace and wait."""
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, check=False, **kw)  # type: ignore[call-overload]

    def spawn(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start argv inside the namespace in the background, output to ``log``."""
        out = open(log, "ab")  # the child keeps its own descriptor
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], stdout=out,
                                stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
             timeout: float = 10.0) -> int:
        """Signal a process we started and wait for it; returns its exit status."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def policies(self) -> list[str]:
        """``ip xfrm policy`` as one normalised line per policy (priority kept)."""
        blocks: list[str] = []
        for line in self.ip("xfrm", "policy").splitlines():
            if line.startswith("src "):
                blocks.append(line.strip())
            elif blocks:
                blocks[-1] += " " + line.strip()
        return sorted(re.sub(r"\s+", " ", b) for b in blocks)

    def close(self) -> None:
        """Stop what we started, delete the namespace (and with it its XFRM state)."""
        for proc in self.procs:
            self.stop(proc, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def wait_for(path: str | Path, timeout: float = 15.0) -> None:
    """Wait until ``path`` exists (a daemon's socket)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)
