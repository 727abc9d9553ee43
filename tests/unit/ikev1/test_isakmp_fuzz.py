"""ISAKMP codec under hostile input: whatever the bytes, a message or one ParseError, and
whatever decodes re-encodes byte for byte (RESERVED fields are refused unless zero).

Examples per property come from the profile in tests/conftest.py (10,000 under CI).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from isakmp_captures import IKEV1, all_messages, decrypt_all

from racoon2.errors import ParseError
from racoon2.ikev1.constants import PayloadType
from racoon2.ikev1.message import (
    Message,
    decode,
    decode_plaintext,
    encode,
    encode_chain,
)
from racoon2.ikev1.payloads import (
    KE,
    SA,
    Attribute,
    Cert,
    CertReq,
    Delete,
    Fragment,
    Hash,
    Identification,
    ModeCfg,
    NatD,
    NatOA,
    Nonce,
    Notification,
    Payload,
    Proposal,
    Signature,
    Transform,
    Unknown,
    VendorId,
)

CAPTURED = all_messages()
PLAINTEXTS = [(o.first, o.plaintext) for d in IKEV1 for o in decrypt_all(d)]
KNOWN = [int(t) for t in PayloadType if t]


def _survives(data: bytes) -> None:
    try:
        msg = decode(data)
    except ParseError:
        return
    assert encode(msg) == data


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    """Half the inputs as they are (the header's checks), half behind a header that passes
    them, its Next Payload a known type (the payloads' checks)."""
    if len(data) < 4 or data[0] & 1:
        _survives(data)
        return
    first, exchange, flags, body = KNOWN[data[1] % len(KNOWN)], data[2], data[3], data[4:]
    header = bytes(16) + bytes([first, 0x10, exchange, flags]) + bytes(4)
    _survives(header + (28 + len(body)).to_bytes(4, "big") + body)


def _mutate(data: bytes, script: bytes) -> bytes:
    """Apply a mutation script: 4 octets per edit (operation, position, value), one cheap
    draw for hypothesis that still shrinks well."""
    out = bytearray(data)
    for i in range(0, len(script) - 3, 4):
        op, hi, lo, value = script[i:i + 4]
        at = (hi << 8 | lo) % (len(out) + 1)
        match op % 4:
            case 0 if at < len(out):
                out[at] = value
            case 1:
                out[at:at] = bytes([value])
            case 2:
                del out[at:at + value % 8 + 1]
            case 3:
                del out[at:]
    return bytes(out)


_script = st.binary(min_size=4, max_size=16)


@given(st.sampled_from(CAPTURED), _script)
def test_mutated_captures(raw: bytes, script: bytes) -> None:
    _survives(_mutate(raw, script))


@given(st.sampled_from(PLAINTEXTS), _script)
def test_mutated_decrypted_bodies(case: tuple[int, bytes], script: bytes) -> None:
    first, data = case[0], _mutate(case[1], script)
    try:
        payloads, padding = decode_plaintext(data, first)
    except ParseError:
        return
    assert encode_chain(payloads) == (first, data[:len(data) - len(padding)])


class _Entropy:
    """Reads integers and strings off one hypothesis-drawn string (zeros once it runs out):
    a single draw per example keeps 10,000 structured examples fast, and shrinking the
    string still shrinks the message."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def int(self, octets: int) -> int:
        chunk = self.data[self.at:self.at + octets]
        self.at += octets
        return int.from_bytes(chunk.ljust(octets, b"\0"), "big")

    def below(self, n: int) -> int:
        return self.int(1) % n

    def bytes(self, limit: int = 12) -> bytes:
        n = self.below(limit + 1)
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk.ljust(n, b"\0")

    def attributes(self) -> tuple[Attribute, ...]:
        return tuple(Attribute(self.int(2) & 0x7FFF,
                               self.int(2) if self.below(2) else self.bytes())
                     for _ in range(self.below(4)))

    def proposal(self) -> Proposal:
        return Proposal(self.int(1), self.int(1), self.bytes(16), tuple(
            Transform(self.int(1), self.int(1), self.attributes())
            for _ in range(1 + self.below(2))))

    def payload(self) -> Payload:
        match self.below(17):
            case 0:
                return SA(self.int(4), self.below(2),
                          tuple(self.proposal() for _ in range(1 + self.below(2))))
            case 1:
                return KE(self.bytes())
            case 2:
                return Hash(self.bytes())
            case 3:
                return Signature(self.bytes())
            case 4:
                return Nonce(self.bytes())
            case 5:
                return VendorId(self.bytes())
            case 6:
                return NatD(self.bytes(), bool(self.below(2)))
            case 7:
                return Identification(self.int(1), self.bytes(), self.int(1), self.int(2))
            case 8:
                return Cert(self.int(1), self.bytes())
            case 9:
                return CertReq(self.int(1), self.bytes())
            case 10:
                return Notification(self.int(4), self.int(1), self.int(2), self.bytes(16),
                                    self.bytes())
            case 11:
                size = self.below(17)
                return Delete(self.int(4), self.int(1), size,
                              tuple(bytes(self.int(1) for _ in range(size))
                                    for _ in range(self.below(3))))
            case 12:
                v6 = bool(self.below(2))
                return NatOA(5 if v6 else 1, bytes(self.int(1) for _ in range(16 if v6 else 4)),
                             bool(self.below(2)))
            case 13:
                return ModeCfg(self.int(1), self.int(2), self.attributes())
            case 14:
                return Fragment(self.int(2), 1 + self.below(255), self.bytes(), self.int(1))
            case 15:
                return Unknown(22 + self.below(108), self.bytes())
        return Unknown(133 + self.below(123), self.bytes())


@given(st.binary(max_size=200))
def test_generated_messages_round_trip(entropy: bytes) -> None:
    e = _Entropy(entropy)
    msg = Message(e.int(8).to_bytes(8, "big"), e.int(8).to_bytes(8, "big"), e.int(1), e.int(4),
                  tuple(e.payload() for _ in range(e.below(4))), e.int(1) & ~1)
    raw = encode(msg)
    assert decode(raw) == msg and encode(decode(raw)) == raw
