"""XAuth passwords checked by PAM (``xauth { pam SERVICE; }``), through python-pam (PyPI
``python-pam``, Debian ``python3-pampy``), an optional dependency: ``pip install
'racoon2[pam]'``.  Not pure: PAM reads /etc/pam.d and its modules may do anything, so the
engine calls :func:`checker`'s function off the event loop, as it does the users file's.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from racoon2.config.check_common import kmp_blocks
from racoon2.config.model import Config, ConfigWarning, Kmp
from racoon2.errors import ConfigError

PAM_DIR = "/etc/pam.d"
_MISSING = ("xauth pam needs the python-pam library, which is not installed",
            "pip install python-pam (Debian: apt install python3-pampy), or use xauth users")


def checker(service: str) -> Callable[[str, bytes], bool]:
    """``verify(user, password)`` against PAM service ``service`` (authentication and
    account checks: an expired or locked account is refused)."""
    try:
        import pam
    except ImportError:
        raise ConfigError(*_MISSING) from None

    def verify(user: str, password: bytes) -> bool:
        if "\0" in user or b"\0" in password:
            return False
        # a fresh authenticator per call: one instance is not safe across threads
        return bool(pam.pam().authenticate(user, password, service=service))
    return verify


def check_pam(config: Config, warnings: list[ConfigWarning]) -> None:
    """``iked -n``: python-pam is there for every ``xauth { pam SERVICE; }``; a service
    without its /etc/pam.d file warns (PAM then applies ``other``)."""
    for _, kmp, block in kmp_blocks(config):
        spec = block.xauth if kmp is Kmp.IKEV1 else None
        if spec is None or spec.pam is None:
            continue
        where = spec.where_of("pam") or spec.where
        try:
            import pam  # noqa: F401
        except ImportError:
            raise ConfigError(_MISSING[0], where, _MISSING[1]) from None
        if "/" in spec.pam or not os.path.exists(os.path.join(PAM_DIR, spec.pam)):
            warnings.append(ConfigWarning(where, f"PAM service {spec.pam!r} has no file in "
                                          f"{PAM_DIR}: PAM applies its 'other' service"))
