"""KINK with ESP: the tests/kink suite and the KINK demo in the project's VM.

This machine's kernel refuses ESP SAs, so tests/kink checks the refusal here; in the VM
(Debian 12's kernel) the same tests see both kernels' SAs and ping through them, and
R2_REQUIRE_ESP makes them fail rather than fall back should the VM lack ESP.  One boot runs
tests/harness/kink/demo-kink.sh, then the suite's tests marked ``esp``, those whose assertions
grow with ESP (SAs in both kernels, pings through them, rekeys): the others assert the same
here and in the VM, and the host's kink group runs them (each costs the VM about 45 s).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from vm import run_in_vm  # noqa: E402

pytestmark = pytest.mark.vm


def test_kink_suite_and_demo_with_esp() -> None:
    done = run_in_vm("bash tests/harness/kink/demo-kink.sh && R2_REQUIRE_ESP=1 "
                     f"{sys.executable} -m pytest -q -p no:cacheprovider -o addopts= -m esp "
                     "tests/kink", timeout=2400)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "KINK DEMO OK" in out
    # pytest's summary line, not the demo's "ip -s xfrm state" ("replay 0 failed 0").
    summary = re.findall(r"^=* ?(\d+ passed.*) in [\d.]+s", out, re.MULTILINE)
    assert summary and re.fullmatch(r"\d+ passed, \d+ deselected", summary[-1]), out[-3000:]
