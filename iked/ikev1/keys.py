"""The keys of one ISAKMP SA and the CBC chains of its encrypted messages (pure).

RFC 2409 §5 and Appendix B: SKEYID (pre-shared key: prf(PSK, Ni_b | Nr_b); signatures:
prf(Ni_b | Nr_b, g^xy)), SKEYID_d/_a/_e, the cipher key from SKEYID_e.  The phase 1 IV
starts as hash(g^xi | g^xr); each encrypted message's last ciphertext block is the next
one's IV.  An exchange after phase 1 (Quick Mode, Informational) starts its own chain at
hash(last phase 1 block | M-ID), one per message ID.  A message that fails to decrypt leaves
the chains as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iked.ikev1.proposals import Phase1Algorithms
from racoon2.crypto import keymat
from racoon2.crypto.encr import Encr
from racoon2.errors import CryptoError, ParseError
from racoon2.ikev1 import message
from racoon2.ikev1.constants import FLAG_ENCRYPTION
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import Payload


@dataclass
class Phase1Keys:
    """SKEYID_* and the IV chains; ``p1_iv`` is the phase 1 chain's current IV."""

    algs: Phase1Algorithms
    skeyid: bytes = field(repr=False)
    d: bytes = field(repr=False)
    a: bytes = field(repr=False)
    e: bytes = field(repr=False)
    key: bytes = field(repr=False)
    p1_iv: bytes
    #: The IV each post-phase-1 exchange's chain is at, by message ID.
    ivs: dict[int, bytes] = field(default_factory=dict)

    @property
    def block(self) -> int:
        """The cipher's block size."""
        return self.algs.encr.block_size

    def prf(self, key: bytes, data: bytes) -> bytes:
        """The negotiated prf."""
        return self.algs.prf.compute(key, data)

    def _iv(self, mid: int) -> bytes:
        if mid == 0:
            return self.p1_iv
        if mid not in self.ivs:
            self.ivs[mid] = keymat.ikev1_phase2_iv(self.algs.prf, self.p1_iv,
                                                   mid.to_bytes(4, "big"), self.block)
        return self.ivs[mid]

    def _advance(self, mid: int, ciphertext: bytes) -> None:
        last = ciphertext[-self.block:]
        if mid == 0:
            self.p1_iv = last
        else:
            self.ivs[mid] = last

    def seal(self, msg: Message, payloads: tuple[Payload, ...]) -> bytes:
        """``msg``'s header with ``payloads`` encrypted (zero padding to the block, which
        RFC 2409 Appendix B leaves to the sender)."""
        first, chain = message.encode_chain(payloads)
        chain += bytes(-len(chain) % self.block)
        ct, _ = Encr(self.algs.encr).encrypt(self.key, self._iv(msg.message_id), chain)
        self._advance(msg.message_id, ct)
        out = Message(msg.cookie_i, msg.cookie_r, msg.exchange, msg.message_id, (),
                      msg.flags | FLAG_ENCRYPTION, msg.version, ct, first)
        return message.encode(out)

    def open(self, msg: Message) -> tuple[Payload, ...]:
        """The payloads of an encrypted ``msg``; ParseError when it does not decrypt to a
        valid chain (wrong keys, or garbage)."""
        assert msg.encrypted is not None
        ct = msg.encrypted
        if not ct or len(ct) % self.block:
            raise ParseError("encrypted ISAKMP body", 28,
                             f"{len(ct)} octets, not a multiple of the {self.block}-octet block")
        try:
            plain = Encr(self.algs.encr).decrypt(self.key, self._iv(msg.message_id), ct)
        except CryptoError as e:
            raise ParseError("encrypted ISAKMP body", 28, str(e)) from None
        payloads, _ = message.decode_plaintext(plain, msg.first_payload)
        self._advance(msg.message_id, ct)
        return payloads

    def forget(self, mid: int) -> None:
        """The exchange of ``mid`` is over: its chain goes."""
        self.ivs.pop(mid, None)


def derive(algs: Phase1Algorithms, psk: bytes | None, ni_b: bytes, nr_b: bytes, g_xy: bytes,
           g_xi: bytes, g_xr: bytes, cky_i: bytes, cky_r: bytes) -> Phase1Keys:
    """The keys of a phase 1 (RFC 2409 §5) and its first IV: SKEYID from the pre-shared key,
    or (``psk`` None, signatures) prf(Ni_b | Nr_b, g^xy)."""
    skeyid = keymat.skeyid_psk(algs.prf, psk, ni_b, nr_b) if psk is not None else \
        keymat.skeyid_sig(algs.prf, ni_b, nr_b, g_xy)
    k = keymat.ikev1_keys(algs.prf, skeyid, g_xy, cky_i, cky_r)
    key = keymat.ikev1_encryption_key(algs.prf, k.skeyid_e, algs.encr.key_size)
    iv = keymat.ikev1_phase1_iv(algs.prf, g_xi, g_xr, algs.encr.block_size)
    return Phase1Keys(algs, skeyid, k.skeyid_d, k.skeyid_a, k.skeyid_e, key, iv)
