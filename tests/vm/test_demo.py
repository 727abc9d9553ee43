"""The README's demo: two racoon2 gateways bring up an IKEv2 tunnel, ping through ESP, rekey
the CHILD_SA on the kernel's soft EXPIRE and ping through the new SAs.

Runs tests/harness/demo-tunnel.sh where the kernel has ESP: here if this kernel has it, else in
the project's VM (Debian 12's kernel).  The script itself checks that the ping is answered and
that both ESP SAs counted packets; this test checks its verdict and the log lines that show
each step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from racoon2.kernel import api
from racoon2.kernel.probe import probe_capabilities

ROOT = Path(__file__).resolve().parents[2]
VM = ROOT / "tests" / "harness" / "vm" / "racoon2-vm.sh"

pytestmark = pytest.mark.vm


def test_demo_tunnel_carries_esp() -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo needs root (namespaces, qemu)")
    script = "bash tests/harness/demo-tunnel.sh"
    if api.Proto.ESP in probe_capabilities().protos:
        argv = ["bash", "-c", script]
    else:
        if shutil.which("qemu-system-x86_64") is None:
            pytest.fail("qemu-system-x86 is missing: tests/harness/setup-host.sh installs it")
        setup = subprocess.run(["bash", str(VM), "setup"], capture_output=True, text=True)
        assert setup.returncode == 0, setup.stderr
        argv = ["bash", str(VM), "run", script]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "DEMO OK" in out
    assert "ACQUIRE for 192.0.2.1/32" in out
    assert out.count("established with") == 2
    assert "3 packets transmitted, 3 received" in out
    assert "deleted by the peer" in out
    assert "reached its soft lifetime: rekeying the CHILD_SA" in out
    assert "CHILD_SA of policy gw_b_tunnel rekeyed:" in out
    assert "2 packets transmitted, 2 received" in out  # through the rekeyed SAs
