"""The Encrypted payload (RFC 7296 §3.14, RFC 5282 for AEAD ciphers), pure.

:class:`SkCipher` seals a message's inner payloads into one SK payload, or into RFC 7383
fragments (SKF payloads), and opens a received one, with the keys of one direction of an IKE
SA.  The ICV covers the whole message (non-AEAD, RFC 7296) or authenticates everything before
the IV as associated data (AEAD, RFC 5282 §5.1); each fragment has its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from racoon2.crypto.encr import Encr, pad_ikev2, unpad_ikev2
from racoon2.crypto.integ import integ_for
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import Transform
from racoon2.errors import CryptoError, ParseError
from racoon2.frozen import frozen
from racoon2.ikev2.message import Message, decode_chain, encode, encode_chain
from racoon2.ikev2.payloads import SK, SKF, Payload


@frozen
class SkKeys:
    """One direction's keys: SK_e (with salt) and SK_a (empty for AEAD)."""

    encr: bytes
    integ: bytes


@frozen
class SkCipher:
    """The negotiated ENCR (and INTEG, None for AEAD) of an IKE SA."""

    encr: Transform
    integ: Transform | None

    @property
    def _icv_size(self) -> int:
        return self.encr.icv_size if self.encr.aead else (
            self.integ.icv_size if self.integ else 0)

    def overhead(self) -> int:
        """Bytes an SK payload adds beyond its padded plaintext (header, IV, ICV)."""
        return 4 + self.encr.iv_size + self._icv_size

    def seal(self, msg: Message, inner: tuple[Payload, ...], keys: SkKeys, rng: Rng) -> bytes:
        """``msg`` (its clear payloads) followed by an SK payload holding ``inner``, as bytes."""
        first, plain = encode_chain(inner)
        return self._seal(msg, lambda body: SK(first, body), plain, keys, rng)

    def seal_fragments(self, msg: Message, inner: tuple[Payload, ...], keys: SkKeys, rng: Rng,
                       size: int) -> tuple[bytes, ...]:
        """``msg`` with ``inner`` as RFC 7383 §2.5 fragments of at most ``size`` octets each:
        the inner payloads' octets cut in order, each piece padded, encrypted and
        integrity-protected on its own in an SKF payload (Fragment Number, Total Fragments);
        the clear payloads and the first inner payload's type go in fragment 1 only."""
        first, plain = encode_chain(inner)
        head = len(encode(msg)) + 8  # header and clear payloads, SKF generic header and numbers
        room = size - head - self.encr.iv_size - self._icv_size
        block = max(self.encr.block_size, 1)
        # the most octets whose padding (at least the Pad Length octet) still fits the room
        piece = room // block * block - 1
        if piece <= 0:
            raise ValueError(f"fragment size {size} leaves no room for data")
        pieces = [plain[i:i + piece] for i in range(0, len(plain), piece)] or [b""]
        total = len(pieces)
        if total > 0xFFFF:
            raise ValueError(f"{len(plain)} octets need {total} fragments of {size}")
        out = []
        for number, data in enumerate(pieces, 1):
            clear = msg if number == 1 else replace(msg, payloads=())
            nxt = first if number == 1 else 0

            def payload(body: bytes, nxt: int = nxt, number: int = number) -> SKF:
                return SKF(nxt, number, total, body)
            out.append(self._seal(clear, payload, data, keys, rng))
        return tuple(out)

    def _seal(self, msg: Message, payload: Callable[[bytes], SK | SKF], plain: bytes,
              keys: SkKeys, rng: Rng) -> bytes:
        padded = pad_ikev2(plain, self.encr.block_size)
        iv = rng.random_bytes(self.encr.iv_size)
        icv_size = self._icv_size
        # Build the message once with a placeholder body so the header lengths are final; the
        # AAD (AEAD) or the MAC input (otherwise) is then a prefix of these bytes.
        blank = payload(iv + bytes(len(padded) + icv_size))
        draft = encode(Message(msg.spi_i, msg.spi_r, msg.exchange, msg.message_id,
                               msg.payloads + (blank,), msg.flags, msg.version))
        head = draft[: len(draft) - len(blank.data)]
        cipher = Encr(self.encr)
        if self.encr.aead:
            ct, icv = cipher.encrypt(keys.encr, iv, padded, head)
            return head + iv + ct + icv
        ct, _ = cipher.encrypt(keys.encr, iv, padded)
        body = head + iv + ct
        if self.integ is None:
            raise CryptoError(f"{self.encr.name} needs an integrity algorithm")
        return body + integ_for(self.integ.ident).compute(keys.integ, body)

    def open(self, data: bytes, msg: Message, keys: SkKeys) -> tuple[Payload, ...]:
        """The inner payloads of ``msg`` (decoded from ``data``), integrity checked.

        Raises :class:`CryptoError` when the ICV fails and :class:`ParseError` when the
        decrypted chain is malformed.
        """
        return self.open_plain(data, msg, keys)[0]

    def open_plain(self, data: bytes, msg: Message, keys: SkKeys
                   ) -> tuple[tuple[Payload, ...], bytes]:
        """:meth:`open`, with the inner payloads' octets as received (no IV, padding or
        ICV): RFC 9242 §3.3.2's IntAuth covers them as they came."""
        sk = msg.payloads[-1] if msg.payloads else None
        if not isinstance(sk, SK):
            raise ParseError("SK", 28, "the message has no Encrypted payload")
        inner = self._open(data, sk.data, "SK", keys)
        return decode_chain(inner, sk.first_inner,
                            len(data) - len(sk.data) + self.encr.iv_size), inner

    def open_fragment(self, data: bytes, msg: Message, keys: SkKeys) -> bytes:
        """The octets one RFC 7383 fragment (``msg``, decoded from ``data``, ending in an
        SKF payload) carries of the whole message's inner payloads, its ICV checked
        (§2.6: before it is kept); raises as :meth:`open`."""
        skf = msg.payloads[-1] if msg.payloads else None
        if not isinstance(skf, SKF):
            raise ParseError("SKF", 28, "the message has no Encrypted Fragment payload")
        return self._open(data, skf.data, "SKF", keys)

    def _open(self, data: bytes, body: bytes, name: str, keys: SkKeys) -> bytes:
        iv_size, icv_size = self.encr.iv_size, self._icv_size
        if len(body) < iv_size + icv_size:
            raise ParseError(name, len(data) - len(body),
                             f"{len(body)} octets cannot hold IV and ICV")
        head = data[: len(data) - len(body)]
        iv = body[:iv_size]
        ct = body[iv_size: len(body) - icv_size]
        icv = body[len(body) - icv_size:]
        cipher = Encr(self.encr)
        if self.encr.aead:
            plain = cipher.decrypt(keys.encr, iv, ct, icv, head)
        else:
            if self.integ is None:
                raise CryptoError(f"{self.encr.name} needs an integrity algorithm")
            integ_for(self.integ.ident).verify(keys.integ, data[: len(data) - icv_size], icv)
            if len(ct) % self.encr.block_size:
                raise ParseError(name, len(head) + iv_size,
                                 f"ciphertext of {len(ct)} octets is not whole blocks")
            plain = cipher.decrypt(keys.encr, iv, ct)
        return unpad_ikev2(plain)
