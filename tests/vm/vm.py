"""Running a command in the project's VM (tests/harness/vm/racoon2-vm.sh; doc/vm.md), for the
tests that need a kernel with ESP."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VM = ROOT / "tests" / "harness" / "vm" / "racoon2-vm.sh"


def run_in_vm(command: str, timeout: float = 1200,
              init: str = "bash") -> subprocess.CompletedProcess[str]:
    """Boot the VM and run ``command`` as root in the checkout; its output and status.
    ``init`` "systemd" boots the host's systemd as PID 1, which runs the command as a unit.

    Skips without root (qemu and the namespaces inside need it); fails when qemu is missing,
    which tests/harness/setup-host.sh installs.  The whole output, with the boot's duration,
    stays in .ci-artifacts/vm/ under the command's first script's name: a passing test shows
    none of it, and a CI run's timeline is read there."""
    if os.geteuid() != 0:
        pytest.skip("the VM tests need root (qemu, namespaces inside the VM)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86 is missing: tests/harness/setup-host.sh installs it")
    setup = subprocess.run(["bash", str(VM), "setup"], capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    env = {**os.environ, "R2VM_TIMEOUT": str(int(timeout) - 60), "R2VM_INIT": init}
    start = time.monotonic()
    done = subprocess.run(["bash", str(VM), "run", command], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)
    scripts = re.findall(r"([\w-]+)\.(?:sh|py)\b", command)
    log = ROOT / ".ci-artifacts" / "vm" / f"{scripts[0] if scripts else 'run'}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {command}\n{done.stdout}{done.stderr}\n"
                   f"== boot took {time.monotonic() - start:.0f} s, rc {done.returncode}\n")
    return done
