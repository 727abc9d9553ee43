"""iked negotiates AH and ESP+IPComp tunnels between two racoon2 gateways, and traffic flows
through the SAs and spmd's templates, in the project's VM (Debian 12's kernel): one boot for
both bundles (tests/vm/iked_bundles.sh)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from vm import run_in_vm  # noqa: E402

pytestmark = pytest.mark.vm


def test_ah_and_esp_ipcomp_tunnels_carry_traffic() -> None:
    done = run_in_vm("bash tests/vm/iked_bundles.sh ah && bash tests/vm/iked_bundles.sh "
                     "esp+ipcomp")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "BUNDLE OK: ah" in out and "BUNDLE OK: esp+ipcomp" in out, out[-4000:]
    assert "(AH AUTH_HMAC_SHA2_256_128)" in out
    assert "+ IPComp deflate)" in out
    assert out.count("3 packets transmitted, 3 received") == 4, out[-4000:]
