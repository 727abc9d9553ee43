"""Plain values of :mod:`kinkd.krb5`: libkrb5's error, its codes, and what is copied out of it.

None of these own libkrb5 memory, so they need no freeing and may cross threads and contexts.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

from kinkd.krb5 import _lib as c
from racoon2.errors import KerberosError

# RFC 4430 §4.2.5 (KINK_ENCRYPT) and §3.6 (the message checksum).
KEY_USAGE_KINK_ENCRYPT = 39
KEY_USAGE_KINK_CHECKSUM = 40

# com_err codes of the krb5 table (krb5.h); a KRB-ERROR's error number is code - base.
ERROR_TABLE_BASE_KRB5 = -1765328384
KRB5KRB_AP_ERR_BAD_INTEGRITY = -1765328353
KRB5KRB_AP_ERR_TKT_EXPIRED = -1765328352
KRB5KRB_AP_ERR_SKEW = -1765328347
KRB5KRB_AP_ERR_MODIFIED = -1765328343
KRB5KRB_ERR_GENERIC = -1765328324
KRB5_KDC_UNREACH = -1765328228


class Krb5Error(KerberosError):
    """A libkrb5 call failed: ``code`` is its com_err code, ``message`` libkrb5's own text."""

    @property
    def krb_error(self) -> int:
        """The RFC 4120 error number to put in a KRB-ERROR (KRB_ERR_GENERIC outside the table)."""
        number = self.code - ERROR_TABLE_BASE_KRB5
        return number if 0 <= number < 128 else KRB5KRB_ERR_GENERIC - ERROR_TABLE_BASE_KRB5


@dataclass(frozen=True)
class Keyblock:
    """A Kerberos key: its enctype and key bytes (never shown in ``repr``)."""

    enctype: int
    contents: bytes = field(repr=False)

    @classmethod
    def _copy(cls, kb: c.Keyblock) -> Keyblock:
        return cls(kb.enctype, ctypes.string_at(kb.contents, kb.length) if kb.length else b"")

    def _struct(self) -> tuple[c.Keyblock, ctypes.Array[ctypes.c_char]]:
        buf = ctypes.create_string_buffer(self.contents, len(self.contents))
        kb = c.Keyblock(0, self.enctype, len(self.contents), ctypes.cast(buf, ctypes.c_void_p))
        return kb, buf


@dataclass(frozen=True)
class Checksum:
    """A keyed checksum: its RFC 3961 type and value."""

    cksumtype: int
    contents: bytes


@dataclass(frozen=True)
class TicketTimes:
    """A ticket's times, seconds since the epoch (starttime is authtime when absent)."""

    authtime: int
    starttime: int
    endtime: int
    renew_till: int

    @classmethod
    def _copy(cls, t: c.TicketTimes) -> TicketTimes:
        # krb5_timestamp is signed 32-bit; krb5.h says to read it as unsigned (post-2038).
        def u(v: int) -> int:
            return v & 0xFFFFFFFF

        return cls(u(t.authtime), u(t.starttime or t.authtime), u(t.endtime), u(t.renew_till))


@dataclass(frozen=True)
class TicketInfo:
    """What the server learns from a verified AP-REQ's ticket."""

    server: str
    client: str
    times: TicketTimes
    session_key: Keyblock
    flags: int


@dataclass(frozen=True)
class KrbError:
    """A decoded KRB-ERROR (RFC 4120 §5.9.1); ``error`` is its error number."""

    error: int
    stime: int
    susec: int
    server: str
    client: str | None = None
    ctime: int | None = None
    cusec: int | None = None
    text: str = ""
    e_data: bytes = b""
