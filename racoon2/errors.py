"""One exception type per layer, all under :class:`Racoon2Error`.

Every message says what was found and what was expected; ``hint`` says what an admin can do
about it.  Daemons catch these at their edges and turn them into log lines, replies or exit codes.
"""

from __future__ import annotations


class Racoon2Error(Exception):
    """Base of every error this project raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(Racoon2Error):
    """A racoon2.conf problem; ``where`` is ``file:line`` when one is known."""

    def __init__(self, message: str, where: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.where = where

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.where}: {text}" if self.where else text


class ParseError(Racoon2Error):
    """Malformed wire data: names the structure (payload, message) and the byte offset."""

    def __init__(self, what: str, offset: int, message: str) -> None:
        super().__init__(f"{what} at byte {offset}: {message}")
        self.what = what
        self.offset = offset


class CryptoError(Racoon2Error):
    """A cryptographic operation failed or was asked for something unsupported."""


class KernelError(Racoon2Error):
    """A kernel request failed: ``op`` is the request, ``subject`` the SA or policy, ``errno``."""

    def __init__(
        self, op: str, subject: str, message: str, errno: int | None = None
    ) -> None:
        super().__init__(f"{op} {subject}: {message}")
        self.op = op
        self.subject = subject
        self.errno = errno


class SpmifError(Racoon2Error):
    """An spmif exchange failed; ``code`` is the three-digit reply code when spmd sent one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class KrbError(Racoon2Error):
    """A Kerberos library call failed; ``code`` is the krb5_error_code."""

    def __init__(self, call: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{call}: {message}")
        self.call = call
        self.code = code


class ProtocolError(Racoon2Error):
    """A peer broke the protocol; ``notify`` is the Notify type to answer with, if any."""

    def __init__(self, message: str, notify: int | None = None) -> None:
        super().__init__(message)
        self.notify = notify
