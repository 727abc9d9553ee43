"""The README's demo: two racoon2 gateways bring up an IKEv2 tunnel, ping through ESP, rekey
the CHILD_SA on the kernel's soft EXPIRE and ping through the new SAs.

Runs tests/harness/demo-tunnel.sh where the kernel has ESP: here if this kernel has it, else in
the project's VM (Debian 12's kernel).  The script itself checks that the ping is answered and
that both ESP SAs counted packets; this test checks its verdict and the log lines that show
each step.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from racoon2.kernel import api
from racoon2.kernel.probe import probe_capabilities

sys.path.insert(0, str(Path(__file__).parent))
from vm import ROOT, run_in_vm  # noqa: E402

pytestmark = pytest.mark.vm


def test_demo_tunnel_carries_esp() -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo needs root (namespaces, qemu)")
    script = "bash tests/harness/demo-tunnel.sh"
    if api.Proto.ESP in probe_capabilities().protos:
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=1200)
    else:
        done = run_in_vm(script)
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
