"""KINK with ESP: the tests/kink suite and the KINK demo in the project's VM.

This machine's kernel refuses ESP SAs, so tests/kink checks the refusal here; in the VM
(Debian 12's kernel) the same tests see both kernels' SAs and ping through them, and
R2_REQUIRE_ESP makes them fail rather than fall back should the VM lack ESP.  One boot runs
tests/harness/kink/demo-kink.sh, then the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VM = ROOT / "tests" / "harness" / "vm" / "racoon2-vm.sh"

pytestmark = pytest.mark.vm


def test_kink_suite_and_demo_with_esp() -> None:
    if os.geteuid() != 0:
        pytest.skip("the VM tests need root (qemu, namespaces inside the VM)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86 is missing: tests/harness/setup-host.sh installs it")
    setup = subprocess.run(["bash", str(VM), "setup"], capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    script = ("bash tests/harness/kink/demo-kink.sh && R2_REQUIRE_ESP=1 "
              f"{sys.executable} -m pytest -q -p no:cacheprovider -o addopts= tests/kink")
    done = subprocess.run(["bash", str(VM), "run", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=2400,
                          env={**os.environ, "R2VM_TIMEOUT": "2100"})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "KINK DEMO OK" in out
    assert " passed" in out and "failed" not in out and "skipped" not in out, out[-3000:]
