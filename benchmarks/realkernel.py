"""``--kernel real`` and ``--vm`` of benchmarks/ike_responder.py's load-tester driver.

With a kernel that has ESP (the project's VM, tests/harness/vm/racoon2-vm.sh; doc/vm.md) both
responders install what they negotiate: iked without ``-D 0x8`` beside spmd (spmd puts in the
transport policy pair at its start, iked every CHILD_SA's two SAs through netlink XFRM), and
charon with ``fake_kernel = no`` (kernel-netlink, SAs and policies).  The load-tester initiator
keeps its fake kernel, so only the responder's kernel work is measured.  Namespace B's SAD is
counted just before the initiator stops (its Deletes would empty it): about 2 states per
CHILD_SA, and a run whose installs failed shows it in the table.

``--vm`` builds (or finds) the load-tester on this host, sets the VM up and runs the same
command line, without ``--vm``, as root inside it; the VM sees this host's / (the venv, the
load-tester build, the checkout) over 9p.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import loadtester

ROOT = Path(__file__).resolve().parents[1]
VM = ROOT / "tests" / "harness" / "vm" / "racoon2-vm.sh"
_SAD = re.compile(r"SAD count (\d+)")


def xfrm_states(ns: str) -> int:
    """How many SAs the kernel of namespace ``ns`` holds (``ip xfrm state count``)."""
    out = subprocess.run(["ip", "-n", ns, "xfrm", "state", "count"], capture_output=True,
                         text=True, check=True).stdout
    m = _SAD.search(out)
    return int(m.group(1)) if m else 0


def flush(ns: str) -> None:
    """Empty namespace ``ns``'s SAD and SPD: one responder's leftovers are not the next's."""
    for table in ("state", "policy"):
        subprocess.run(["ip", "-n", ns, "xfrm", table, "flush"], check=True)


def check(name: str, states: int | None, up: int) -> None:
    """Say on stderr when the responder ``name`` left fewer than 2 SAs per CHILD_SA."""
    if (states or 0) < 2 * up:
        print(f"ike_responder: {name}: {states} SAs in the kernel for {up} CHILD_SAs, not 2 "
              "each: installs failed", file=sys.stderr)


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each of ``procs`` in turn, SIGKILL after 60 s."""
    for p in procs:
        p.terminate()
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def spmd_conf_lines(d: Path) -> str:
    """racoon2.conf's interface lines that put iked beside spmd (its socket and password in
    ``d``)."""
    return f'spmd {{ unix "{d}/spmif"; }}; spmd_password "{d}/spmd.pwd";'


def start_spmd(ns: str, d: Path, bin_dir: Path) -> subprocess.Popen[bytes]:
    """spmd -F on ``d``/racoon2.conf in ``ns`` (password in ``d``/spmd.pwd, which the caller
    writes); returns once its socket for iked is there."""
    with open(d / "spmd.log", "wb") as out:
        spmd = subprocess.Popen(["ip", "netns", "exec", ns, str(bin_dir / "spmd"), "-F", "-f",
                                 str(d / "racoon2.conf")], stdout=out, stderr=subprocess.STDOUT)
    # Python's start over 9p under TCG takes tens of seconds.
    deadline = time.monotonic() + 150
    while not (d / "spmif").exists():
        if time.monotonic() > deadline or spmd.poll() is not None:
            spmd.kill()
            spmd.wait()
            raise RuntimeError(f"spmd in {ns} did not start: see {d}/spmd.log")
        time.sleep(0.05)
    return spmd


def in_vm(argv: Sequence[str]) -> NoReturn:
    """Run ike_responder.py with ``argv`` (without ``--vm``) in the VM: exits with its
    status.  ``R2VM_TIMEOUT`` defaults to 3600 s here, ``R2VM_MEM`` stays the VM's 2G."""
    loadtester.build()  # on this host: the VM's writes outside the checkout vanish
    subprocess.run(["bash", str(VM), "setup"], check=True)
    command = shlex.join([sys.executable, str(ROOT / "benchmarks" / "ike_responder.py"),
                          *(a for a in argv if a != "--vm")])
    env = {**os.environ, "R2VM_TIMEOUT": os.environ.get("R2VM_TIMEOUT", "3600")}
    sys.exit(subprocess.run(["bash", str(VM), "run", command], cwd=ROOT, env=env).returncode)
