"""What iked serves with does not import the subsystems a configuration may never use
(doc/performance.md, "Daemon start-up"): they are imported where they are first needed."""

from __future__ import annotations

import subprocess
import sys

#: Imported only by a configuration that uses them (or at their first use).
DEFERRED = ("iked.ikev1", "racoon2.ikev1", "cryptography.x509", "racoon2.crypto.x509",
            "iked.ikev2.eap", "iked.ikev2.eap_radius", "racoon2.eap", "racoon2.radius",
            "iked.radius_client", "iked.users", "tempfile")


def test_iked_serves_without_importing_the_optional_subsystems() -> None:
    code = "import sys, iked.cli, iked.launch; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    below = tuple(f"{d}." for d in DEFERRED)
    assert [m for m in out if m in DEFERRED or m.startswith(below)] == []
