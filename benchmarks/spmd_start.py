"""spmd starting with 10,000 selectors until every policy is in the kernel, beside ``ip -batch``;
then a SIGHUP that changes one selector.

Both run in private network namespaces (root needed).  spmd gets a configuration with N
outbound transport selectors (each its own /24, one shared policy); the clock runs from
starting the process until ``ip xfrm policy count``-style polling sees all N policies.  The
first start has no configuration cache yet (racoon2.confcache, in a directory of the run's
own), the later ones find it.  Last, one selector's dst is changed in the file and spmd gets a
SIGHUP: the clock runs until the kernel holds the new policy and no longer the old one.  The
same N policies are then installed with ``ip -batch``.  Targets (issue 22): start <= 0.3 s,
the SIGHUP < 50 ms.

    python benchmarks/spmd_start.py [--count 10000] [--repeat 3]
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


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used (proc(5), /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def has_policy(ns: str, dst: str) -> bool:
    """Whether the outbound policy of selector dst ``dst`` is in the namespace's kernel."""
    return subprocess.run(["ip", "-n", ns, "xfrm", "policy", "get", "src", "192.0.2.1/32",
                           "dst", dst, "dir", "out"], capture_output=True,
                          check=False).returncode == 0


def time_spmd(count: int, tmp: Path, sighup: bool = False) -> tuple[float, float]:
    """Wall and CPU seconds from exec to all ``count`` policies installed (``tmp`` holds the
    files and the cache); with ``sighup``, those a SIGHUP changing one selector takes instead
    (``ip netns exec`` execs spmd: the pid is spmd's)."""
    ns = f"r2bench-spmd-{os.getpid()}"
    conf = tmp / "racoon2.conf"
    env = dict(os.environ, RACOON2_CACHE_DIR=str(tmp / "cache"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(["ip", "netns", "exec", ns, str(BIN / "spmd"), "-F", "-f",
                                 str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        try:
            while policy_count(ns) < count:
                if proc.poll() is not None:
                    raise SystemExit(f"spmd exited with status {proc.returncode}")
                time.sleep(0.005)
            took, cpu = time.perf_counter() - start, cpu_of(proc.pid)
            if sighup:
                while not (tmp / "run" / "spmif").exists():
                    time.sleep(0.005)
                time.sleep(0.3)  # spmd handles SIGHUP once it serves spmif, just after
                old, new = "10.0.0.0/24", "10.200.0.0/24"
                conf.write_text(conf.read_text().replace(f"dst {old};", f"dst {new};", 1))
                start, before = time.perf_counter(), cpu_of(proc.pid)
                proc.send_signal(signal.SIGHUP)
                while not has_policy(ns, new) or has_policy(ns, old):
                    if proc.poll() is not None:
                        raise SystemExit(f"spmd exited with status {proc.returncode}")
                    time.sleep(0.002)
                took, cpu = time.perf_counter() - start, cpu_of(proc.pid) - before
                assert policy_count(ns) == count
            return took, cpu
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
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "cache").mkdir(mode=0o700)
        (tmp / "racoon2.conf").write_text(config(opts.count, tmp))
        cold = time_spmd(opts.count, tmp)
        spmd = min(time_spmd(opts.count, tmp) for _ in range(opts.repeat))
        hup = time_spmd(opts.count, tmp, sighup=True)
    ip = min(time_ip(opts.count) for _ in range(opts.repeat))
    print(f"spmd_start: {opts.count} selectors, best of {opts.repeat}")
    for label, (took, cpu), target in (
            ("spmd, no cache yet (exec to last policy in the kernel)", cold, ""),
            ("spmd, from the cache", spmd, " (target <= 0.3 s)"),
            ("SIGHUP changing one selector, to the kernel", hup, " (target < 0.050 s)")):
        print(f"spmd_start: {label}: {took:.3f} s, CPU {cpu:.3f} s{target}")
    print(f"spmd_start: ip -batch: {ip:.3f} s")
    print(f"spmd_start: spmd / ip = {spmd[0] / ip:.2f}")


if __name__ == "__main__":
    main()
