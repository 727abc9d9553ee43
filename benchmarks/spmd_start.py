"""spmd starting with 10,000 selectors until every policy is in the kernel, beside ``ip -batch``.

Both run in private network namespaces (root needed).  spmd gets a configuration with N
outbound transport selectors (each its own /24, one shared policy); the clock runs from
starting the process until ``ip xfrm policy count``-style polling sees all N policies.  The
same N policies are then installed with ``ip -batch``.  Target: spmd within 1.5x of ip.

    python benchmarks/spmd_start.py [--count 10000]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def config(count: int, tmp: Path) -> str:
    """A configuration with ``count`` selectors sharing one policy."""
    pwd = tmp / "spmd.pwd"
    fd = os.open(pwd, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"benchmark-password")
    os.close(fd)
    run = tmp / "run"
    run.mkdir(mode=0o700)
    head = (f'interface {{ spmd {{ unix "{run}/spmif"; }}; spmd_password "{pwd}"; }};\n'
            "policy p { action auto_ipsec; ipsec_mode transport; ipsec_level require;"
            " ipsec_index i; };\nipsec i { sa_index e; };\nsa e { sa_protocol esp; };\n")
    return head + "".join(
        f"selector s{i} {{ direction outbound; src 192.0.2.1; "
        f"dst 10.{i >> 8 & 255}.{i & 255}.0/24; upper_layer_protocol any; policy_index p; }};\n"
        for i in range(count))


def policy_count(ns: str) -> int:
    """How many policies the namespace holds ("SPD IN 0 OUT n FWD 0" from the kernel)."""
    words = subprocess.run(["ip", "-n", ns, "xfrm", "policy", "count"], capture_output=True,
                           text=True, check=False).stdout.split()
    return sum(int(w) for prev, w in zip(words, words[1:], strict=False)
               if prev in ("IN", "OUT", "FWD") and w.isdigit())


def time_spmd(count: int) -> float:
    """Seconds from exec to all ``count`` policies installed."""
    ns = f"r2bench-spmd-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "racoon2.conf"
            conf.write_text(config(count, Path(tmp)))
            start = time.perf_counter()
            proc = subprocess.Popen(["ip", "netns", "exec", ns, str(BIN / "spmd"), "-F", "-f",
                                     str(conf)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                while policy_count(ns) < count:
                    if proc.poll() is not None:
                        raise SystemExit(f"spmd exited with status {proc.returncode}")
                    time.sleep(0.005)
                return time.perf_counter() - start
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def time_ip(count: int) -> float:
    """Seconds for ``ip -batch`` to install the same policies."""
    ns = f"r2bench-ip-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".batch") as f:
            f.write("".join(
                f"xfrm policy add src 192.0.2.1/32 dst 10.{i >> 8 & 255}.{i & 255}.0/24 dir out "
                "tmpl proto esp mode transport\n" for i in range(count)))
            f.flush()
            start = time.perf_counter()
            subprocess.run(["ip", "-n", ns, "-batch", f.name], check=True)
            return time.perf_counter() - start
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def main() -> None:
    """Run both, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    spmd = min(time_spmd(opts.count) for _ in range(opts.repeat))
    ip = min(time_ip(opts.count) for _ in range(opts.repeat))
    print(f"spmd_start: {opts.count} selectors, best of {opts.repeat}")
    print(f"spmd_start: spmd (exec to last policy in the kernel) {spmd:.3f} s")
    print(f"spmd_start: ip -batch                                {ip:.3f} s")
    print(f"spmd_start: spmd / ip = {spmd / ip:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
