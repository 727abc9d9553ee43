"""XAuth password checkers of a configuration, loaded when iked starts and on SIGHUP: each
``xauth { users FILE; }`` file read (:func:`iked.users.load`), each ``xauth { pam
SERVICE; }`` bound to python-pam (:func:`iked.xauth_pam.checker`).  A file that does not load
stops iked at start (and keeps the old configuration on SIGHUP), as ``iked -n`` reports it.
"""

from __future__ import annotations

from collections.abc import Callable

from iked.events import CheckPassword
from iked.xauth_pam import checker
from racoon2.config.check_common import kmp_blocks
from racoon2.config.model import Config, Kmp
from racoon2.errors import ConfigError, Racoon2Error

Verify = Callable[[str, bytes], bool]


class Checkers:
    """``verify(user, password)`` per (users file, PAM service) of the configuration."""

    def __init__(self, config: Config) -> None:
        self._by_spec: dict[tuple[str | None, str | None], Verify] = {}
        for _, kmp, block in kmp_blocks(config):
            spec = block.xauth if kmp is Kmp.IKEV1 else None
            if spec is None or (spec.users, spec.pam) in self._by_spec:
                continue
            where = spec.where_of("users" if spec.users else "pam") or spec.where
            if spec.users is not None:
                # Imported here: only XAuth users files need it (with MSCHAPv2 and the KDFs).
                from iked import users

                self._by_spec[(spec.users, spec.pam)] = users.load(spec.users, where).verify
            elif spec.pam is not None:
                self._by_spec[(spec.users, spec.pam)] = checker(spec.pam)
            else:
                raise ConfigError("xauth { } names neither users nor pam", where,
                                  "write users FILE; or pam SERVICE;")

    def check(self, op: CheckPassword) -> bool:
        """The check of ``op`` (blocking: run it in a worker thread)."""
        verify = self._by_spec.get((op.users, op.pam))
        if verify is None:
            raise ConfigError(f"remote {op.remote_name}: its xauth {{ }} was not loaded",
                              hint="send iked SIGHUP after changing racoon2.conf")
        try:
            return verify(op.user, op.password)
        except Exception as e:  # a PAM module's failure must not stop iked: a refusal
            raise Racoon2Error(f"remote {op.remote_name}: XAuth check of {op.user!r} failed: "
                               f"{e}") from None
