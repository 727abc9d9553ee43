"""Property tests: arbitrary bytes never crash the decoder; what decodes re-encodes exactly."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from racoon2.errors import ParseError
from racoon2.kernel.pfkey import codec as c
from racoon2.kernel.pfkey.constants import ExtType


def _framed(body: bytes, ext_type: int) -> bytes:
    body += bytes(-(len(body) + 4) % 8)
    ext = struct.pack("=HH", (len(body) + 4) // 8, ext_type) + body
    return struct.pack("=BBBBHHII", 2, 3, 0, 3, (16 + len(ext)) // 8, 0, 1, 2) + ext


@given(st.binary(max_size=300))
def test_random_bytes_only_parse_error(data: bytes) -> None:
    try:
        msg = c.decode(data)
    except ParseError as e:
        assert e.what
        return
    assert c.decode(msg.encode()) == msg


@given(st.sampled_from(list(ExtType)), st.binary(max_size=120))
def test_random_extension_bodies(ext_type: int, body: bytes) -> None:
    data = _framed(body, ext_type)
    try:
        msg = c.decode(data)
    except ParseError as e:
        assert e.what.startswith("SADB_ADD")
        return
    again = c.decode(msg.encode())
    assert again == msg
