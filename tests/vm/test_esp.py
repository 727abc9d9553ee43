"""ESP traffic through both kernel backends in a VM running Debian 12's kernel.

The VM boots once per session (tests/harness/vm/racoon2-vm.sh; about 2 minutes for the whole
matrix under TCG) and runs tests/vm/esp_matrix.py; each case here asserts one result: the ping
went through and both SAs counted packets, or the backend refused what PF_KEY cannot express.

What Linux's PF_KEY cannot do (so these cases must be refused cleanly, not installed wrong):
``hmac(sha256)`` with the 128-bit ICV of RFC 4868 (PF_KEY installs it with 96 bits), AEADs
(GCM, CCM: "Function not implemented"; ChaCha20-Poly1305 has no PF_KEY id at all).
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from esp_matrix import cases  # noqa: E402
from vm import ROOT, run_in_vm  # noqa: E402

PFKEY_REFUSED = {"aes-cbc+sha256-128": errno.EPROTONOSUPPORT, "aes-gcm-16": errno.ENOSYS,
                 "chacha20-poly1305": errno.EPROTONOSUPPORT}

pytestmark = pytest.mark.vm


@pytest.fixture(scope="session")
def results() -> dict[str, Any]:
    out_dir = ROOT / ".vm"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / "esp-results.json"
    out.unlink(missing_ok=True)
    rel = out.relative_to(ROOT)
    done = run_in_vm(f"{sys.executable} tests/vm/esp_matrix.py {rel}")
    assert done.returncode == 0 and out.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_esp_case(results: dict[str, Any], case: Any) -> None:
    got = results[case.name]
    refused = PFKEY_REFUSED.get(case.alg) if case.backend == "pfkey" else None
    if refused is not None:
        assert not got["ok"] and got["errno"] == refused, got
        assert got["error"].startswith("SADB_ADD SA ESP spi"), got
        return
    assert got.get("ok"), got
    assert got["packets_out"] >= 3 and got["packets_in"] >= 3, got
    if case.alg.endswith("+ipcomp"):
        assert got["comp_out"] >= 3, got  # the large pings went through the IPComp SA
