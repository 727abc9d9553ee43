"""XAuth passwords from PAM (iked/xauth_pam.py) through the real libpam: two PAM services
made for the test in /etc/pam.d (pam_permit.so and pam_deny.so, so no account is needed)
and removed after; a service without a file falls to Debian's ``other`` (pam_unix: refused)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iked import xauth_pam
from racoon2.config import Config, loads
from racoon2.config.model import ConfigWarning
from racoon2.errors import ConfigError

pam = pytest.importorskip("pam", reason="python-pam is not installed (pip install python-pam)")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir(xauth_pam.PAM_DIR),
                                reason="needs root to add PAM services to /etc/pam.d")

SERVICES = {"r2xauth-permit": "pam_permit.so", "r2xauth-deny": "pam_deny.so"}


@pytest.fixture(scope="module")
def services() -> Iterator[None]:
    made = []
    try:
        for name, module in SERVICES.items():
            path = Path(xauth_pam.PAM_DIR) / name
            path.write_text(f"auth required {module}\naccount required pam_permit.so\n")
            made.append(path)
        yield
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def test_pam_decides(services: None) -> None:
    assert xauth_pam.checker("r2xauth-permit")("alice", b"anything")
    assert not xauth_pam.checker("r2xauth-deny")("alice", b"anything")
    assert not xauth_pam.checker("r2xauth-permit")("al\0ice", b"x")   # no NUL reaches PAM
    assert not xauth_pam.checker("r2xauth-none")("r2xauth-nobody", b"x")


def _check(cfg: Config) -> list[str]:
    warnings: list[ConfigWarning] = []
    xauth_pam.check_pam(cfg, warnings)
    return [w.message for w in warnings]


def test_dash_n(services: None) -> None:
    text = 'remote r {{ ikev1 {{ xauth {{ pam "{}"; }}; }}; }};'
    assert _check(loads(text.format("r2xauth-permit"))) == []
    assert _check(loads(text.format("r2xauth-none"))) == [
        "PAM service 'r2xauth-none' has no file in /etc/pam.d: PAM applies its 'other' service"]


def test_without_python_pam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pam", None)  # import pam now fails
    with pytest.raises(ConfigError, match="pip install python-pam"):
        xauth_pam.checker("login")
    with pytest.raises(ConfigError, match="needs the python-pam library") as e:
        xauth_pam.check_pam(loads('remote r { ikev1 { xauth { pam "login"; }; }; };'), [])
    assert e.value.where is not None and e.value.where.endswith(":1")
