"""Encryption transforms with one interface for IKE SK payloads and tests.

``keymat`` is the whole SK_e (or ESP) key: the cipher key followed by the salt/nonce where the
transform has one (RFC 3686/5930 nonce for AES-CTR, RFC 4106/5282 salt for GCM, RFC 4309/5282
salt for CCM, RFC 7634 salt for ChaCha20-Poly1305).  ``iv`` is the per-message IV carried in the
packet.  Non-AEAD ciphers return an empty ICV; the caller adds a separate integrity check.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, ChaCha20Poly1305

from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.errors import CryptoError
from racoon2.frozen import frozen

_GCM = {18, 19, 20}
_CCM = {14, 15, 16}


@frozen
class Encr:
    """A negotiated encryption transform."""

    transform: Transform

    @property
    def name(self) -> str:
        """IANA name, for messages."""
        return self.transform.name

    def _split(self, keymat: bytes, iv: bytes) -> tuple[bytes, bytes]:
        t = self.transform
        if len(keymat) != t.keymat_size:
            raise CryptoError(f"{t.name} needs {t.keymat_size} bytes of keying material "
                              f"({t.key_size} key + {t.salt_size} salt), got {len(keymat)}")
        if len(iv) != t.iv_size:
            raise CryptoError(f"{t.name} needs a {t.iv_size}-byte IV, got {len(iv)}")
        return keymat[: t.key_size], keymat[t.key_size :]

    def _check_blocks(self, data: bytes) -> None:
        if len(data) % self.transform.block_size:
            raise CryptoError(f"{self.name} input of {len(data)} bytes is not a multiple of "
                              f"the {self.transform.block_size}-byte block")

    def encrypt(self, keymat: bytes, iv: bytes, plaintext: bytes,
                aad: bytes = b"") -> tuple[bytes, bytes]:
        """Encrypt; return (ciphertext, ICV).  CBC input must already be padded."""
        key, salt = self._split(keymat, iv)
        ident, icv = self.transform.ident, self.transform.icv_size
        if ident in _GCM:
            enc = Cipher(algorithms.AES(key), modes.GCM(salt + iv)).encryptor()
            enc.authenticate_additional_data(aad)
            ct = enc.update(plaintext) + enc.finalize()
            return ct, enc.tag[:icv]
        if ident in _CCM:
            sealed = AESCCM(key, tag_length=icv).encrypt(salt + iv, plaintext, aad)
            return sealed[:-icv], sealed[-icv:]
        if ident == 28:
            sealed = ChaCha20Poly1305(key).encrypt(salt + iv, plaintext, aad)
            return sealed[:-16], sealed[-16:]
        self._check_blocks(plaintext)
        return self._context(key, salt, iv, True).update(plaintext), b""

    def decrypt(self, keymat: bytes, iv: bytes, ciphertext: bytes, icv: bytes = b"",
                aad: bytes = b"") -> bytes:
        """Decrypt; for AEAD transforms raise :class:`CryptoError` if the ICV does not verify."""
        key, salt = self._split(keymat, iv)
        ident = self.transform.ident
        if self.transform.aead and len(icv) != self.transform.icv_size:
            raise CryptoError(f"{self.name} needs a {self.transform.icv_size}-byte ICV, "
                              f"got {len(icv)}")
        try:
            if ident in _GCM:
                mode = modes.GCM(salt + iv, icv, min_tag_length=len(icv))
                dec = Cipher(algorithms.AES(key), mode).decryptor()
                dec.authenticate_additional_data(aad)
                return dec.update(ciphertext) + dec.finalize()
            if ident in _CCM:
                return AESCCM(key, tag_length=len(icv)).decrypt(salt + iv, ciphertext + icv, aad)
            if ident == 28:
                return ChaCha20Poly1305(key).decrypt(salt + iv, ciphertext + icv, aad)
        except InvalidTag:
            raise CryptoError(f"{self.name} ICV check failed",
                              hint="the peer's keys differ from ours or the packet was altered"
                              ) from None
        self._check_blocks(ciphertext)
        return self._context(key, salt, iv, False).update(ciphertext)

    def _context(self, key: bytes, salt: bytes, iv: bytes, encrypt: bool) -> CipherContext:
        ident = self.transform.ident
        if ident == 12:
            cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
        elif ident == 13:
            # RFC 3686 §4: counter block = nonce | IV | 32-bit block counter starting at 1.
            ctr = Cipher(algorithms.AES(key), modes.CTR(salt + iv + b"\x00\x00\x00\x01"))
            return ctr.encryptor() if encrypt else ctr.decryptor()
        elif ident == 3:
            cipher = Cipher(TripleDES(key), modes.CBC(iv))
        else:
            raise CryptoError(f"{self.name} cannot encrypt IKE or test data",
                              hint="negotiate a real cipher")
        return cipher.encryptor() if encrypt else cipher.decryptor()


def encr_for(ident: int, key_bits: int | None = None) -> Encr:
    """The encryption transform for an IKEv2 ENCR id and Key Length attribute (bits)."""
    return Encr(by_id(TransformType.ENCR, ident, key_bits))


def pad_ikev2(plaintext: bytes, block_size: int) -> bytes:
    """Append IKEv2 SK padding (RFC 7296 §3.14): zero pad bytes, then the Pad Length octet."""
    pad = (-(len(plaintext) + 1)) % block_size
    return plaintext + bytes(pad) + bytes([pad])


def unpad_ikev2(padded: bytes) -> bytes:
    """Strip IKEv2 SK padding; raise :class:`CryptoError` if the Pad Length is impossible."""
    if not padded or padded[-1] + 1 > len(padded):
        raise CryptoError("SK payload Pad Length exceeds the decrypted data",
                          hint="the keys probably differ between the peers")
    return padded[: -padded[-1] - 1]
