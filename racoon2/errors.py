"""The project's one exception hierarchy, all under :class:`Racoon2Error`.

::

    Racoon2Error                 anything this project raises on purpose
    ├── ConfigError              racoon2.conf does not load (``where`` is file:line)
    │   ├── FixError             (racoon2.config.values) found only when a block is converted
    │   └── RacoonConfError      (racoon2.convert) a racoon.conf or setkey input racoon2-convert
    │                            cannot read
    ├── SettingsError            the loaded configuration cannot drive a negotiation
    ├── ParseError               malformed wire data (payload or message, byte offset)
    │   └── Malformed            (spmd.dns) a DNS answer that does not parse
    ├── CryptoError              a bad key, signature, ICV or KE value; an unsupported algorithm
    ├── KernelError              a kernel (XFRM, PF_KEY) request failed
    ├── SpmifError               an spmif exchange with spmd failed
    ├── KerberosError            a Kerberos library call failed
    │   └── Krb5Error            (kinkd.krb5.values) libkrb5's com_err code and text
    ├── ProtocolError            an exchange with a peer failed
    │   └── KinkError            (kinkd.exchange) a KINK exchange failed
    │       └── PeerKrbError     the KINK peer answered with a KRB_ERROR
    └── PidFileError             (racoon2.daemon) the pid file is locked or unwritable

Every message says what was found and what was expected; ``hint`` says what an admin can do
about it.  Daemons catch these at their edges and turn them into log lines, replies or exit
codes.  Exceptions of the libraries underneath (``cryptography``'s ValueError, InvalidTag,
InvalidSignature, UnsupportedAlgorithm; ``ipaddress``'s ValueError on text or octets from a
peer or a file) are converted where the library is called, so a caller catches one of these
and nothing else.  A ValueError or TypeError that escapes is a bug of ours (an encoder handed
values that contradict each other), not a condition to handle.
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


class RacoonConfError(ConfigError):
    """racoon2-convert's input (racoon.conf, setkey.conf, ``setkey -DP``) does not parse;
    ``where`` is the input's ``file:line``."""


class SettingsError(Racoon2Error):
    """The configuration loaded but cannot drive a negotiation (iked's and kinkd's settings:
    a remote no policy can reach, a policy without an ESP sa); the message names the
    directive."""


class ParseError(Racoon2Error):
    """Malformed wire data: names the structure (payload, message) and the byte offset."""

    def __init__(self, what: str, offset: int, message: str) -> None:
        super().__init__(f"{what} at byte {offset}: {message}")
        self.what = what
        self.offset = offset


class CryptoError(Racoon2Error):
    """A cryptographic operation failed (bad key, signature, ICV or KE value) or was asked
    for an algorithm this installation does not have."""


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


class KerberosError(Racoon2Error):
    """A Kerberos library call failed; ``code`` is the library's error code.  (Not "KrbError":
    kinkd uses that name for the RFC 4120 KRB-ERROR message it decodes.)"""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} (krb5 error {self.code})"


class ProtocolError(Racoon2Error):
    """An exchange with a peer failed: the peer broke the protocol, refused, or did not
    answer; the message names the check, payload or answer that failed."""


class StateError(Racoon2Error):
    """iked's saved state (``--keep-sas``) cannot be used: damaged, of another version or
    configuration file, or unsafe to read (its mode)."""


class ControlError(Racoon2Error):
    """A control-socket request that cannot be served (unknown command, bad argument, no such
    SA), or an ikedctl/kinkdctl that cannot reach its daemon; the message goes to the admin
    as the answer's ``error``."""
