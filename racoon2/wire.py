"""Bounds-checked reading of one payload body, shared by the IKE codecs, pure."""

from __future__ import annotations

import functools
import struct

from racoon2.errors import ParseError


@functools.lru_cache(maxsize=64)
def _struct(fmt: str) -> struct.Struct:
    # The codecs use a handful of formats, each on every message.
    return struct.Struct(fmt)


class BodyReader:
    """Bounds-checked reads in one payload body; errors name the payload and absolute offset."""

    def __init__(self, data: bytes, what: str, base: int) -> None:
        self.data, self.what, self.base = data, what, base

    def fail(self, off: int, message: str) -> ParseError:
        """A ParseError at ``off`` in this body."""
        return ParseError(self.what, self.base + off, message)

    def unpack(self, fmt: str, off: int) -> tuple[int, ...]:
        """``struct.unpack_from(fmt)`` at ``off``, or ParseError when the body is too short."""
        packer = _struct(fmt)
        if off + packer.size > len(self.data):
            raise self.fail(off, f"needs {off + packer.size} octets, has {len(self.data)}")
        return packer.unpack_from(self.data, off)

    def take(self, off: int, n: int) -> bytes:
        """``n`` octets at ``off``, or ParseError when they run past the body."""
        if n < 0 or off + n > len(self.data):
            raise self.fail(off, f"{n} octets run past the payload's {len(self.data)}")
        return self.data[off:off + n]

    def zero(self, off: int, value: int, field: str) -> None:
        """ParseError unless a RESERVED field at ``off`` holds zero."""
        if value:
            raise self.fail(off, f"{field} is {value:#x}, must be zero")
