"""The Encrypted payload (RFC 7296 §3.14, RFC 5282 for AEAD ciphers), pure.

:class:`SkCipher` seals a message's inner payloads into one SK payload and opens a received
one, with the keys of one direction of an IKE SA.  The ICV covers the whole message (non-AEAD,
RFC 7296) or authenticates everything before the IV as associated data (AEAD, RFC 5282 §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from racoon2.crypto.encr import Encr, pad_ikev2, unpad_ikev2
from racoon2.crypto.integ import integ_for
from racoon2.crypto.rng import Rng
from racoon2.crypto.transforms import Transform
from racoon2.errors import CryptoError, ParseError
from racoon2.ikev2.message import Message, decode_chain, encode, encode_chain
from racoon2.ikev2.payloads import SK, Payload


@dataclass(frozen=True)
class SkKeys:
    """One direction's keys: SK_e (with salt) and SK_a (empty for AEAD)."""

    encr: bytes
    integ: bytes


@dataclass(frozen=True)
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
        padded = pad_ikev2(plain, self.encr.block_size)
        iv = rng.random_bytes(self.encr.iv_size)
        icv_size = self._icv_size
        # Build the message once with a placeholder body so the header lengths are final; the
        # AAD (AEAD) or the MAC input (otherwise) is then a prefix of these bytes.
        blank = SK(first, iv + bytes(len(padded) + icv_size))
        draft = encode(replace(msg, payloads=msg.payloads + (blank,)))
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
        sk = msg.payloads[-1] if msg.payloads else None
        if not isinstance(sk, SK):
            raise ParseError("SK", 28, "the message has no Encrypted payload")
        iv_size, icv_size = self.encr.iv_size, self._icv_size
        if len(sk.data) < iv_size + icv_size:
            raise ParseError("SK", len(data) - len(sk.data),
                             f"{len(sk.data)} octets cannot hold IV and ICV")
        head = data[: len(data) - len(sk.data)]
        iv = sk.data[:iv_size]
        ct = sk.data[iv_size: len(sk.data) - icv_size]
        icv = sk.data[len(sk.data) - icv_size:]
        cipher = Encr(self.encr)
        if self.encr.aead:
            plain = cipher.decrypt(keys.encr, iv, ct, icv, head)
        else:
            if self.integ is None:
                raise CryptoError(f"{self.encr.name} needs an integrity algorithm")
            integ_for(self.integ.ident).verify(keys.integ, data[: len(data) - icv_size], icv)
            if len(ct) % self.encr.block_size:
                raise ParseError("SK", len(head) + iv_size,
                                 f"ciphertext of {len(ct)} octets is not whole blocks")
            plain = cipher.decrypt(keys.encr, iv, ct)
        return decode_chain(unpad_ikev2(plain), sk.first_inner, len(head) + iv_size)
