"""EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02, method 26), the server side, over the
MS-CHAPv2 computations of RFC 2759 §8 and the MPPE master keys of RFC 3079 §3.4.

The MSK is MasterReceiveKey | MasterSendKey | 32 zero octets, as Windows' RAS, strongSwan
and FreeRADIUS make it (draft-kamath §2.4 names the keys; RFC 3079's "receive" key is the
server's, made with Magic2).  DES for the challenge response is ``cryptography``'s TripleDES
with an 8-octet key, which is single DES (K1 = K2 = K3).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import ClassVar

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from racoon2.eap.md4 import md4
from racoon2.eap.packet import Type
from racoon2.eap.server import Failed, Reply, Secrets, Succeeded
from racoon2.errors import ParseError

# MS-CHAPv2 OpCodes (RFC 2759 §4, draft-kamath §2).
CHALLENGE, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
#: The Name of our Challenge (RFC 2759 §4: the authenticator's name).
SERVER_NAME = b"racoon2"

# RFC 2759 §8.7 and RFC 3079 §3.4's constants.
_AUTH_MAGIC1 = b"Magic server to client signing constant"
_AUTH_MAGIC2 = b"Pad to make it do more than one iteration"
_MPPE_MAGIC1 = b"This is the MPPE Master Key"
_MPPE_MAGIC2 = (b"On the client side, this is the send key; "
                b"on the server side, it is the receive key.")
_MPPE_MAGIC3 = (b"On the client side, this is the receive key; "
                b"on the server side, it is the send key.")
_SHS_PAD1 = bytes(40)
_SHS_PAD2 = b"\xf2" * 40


def nt_password_hash(password: str) -> bytes:
    """RFC 2759 §8.3: MD4 of the password in UTF-16LE."""
    return md4(password.encode("utf-16-le"))


def challenge_hash(peer_challenge: bytes, auth_challenge: bytes, user: bytes) -> bytes:
    """RFC 2759 §8.2: the first 8 octets of SHA1(peer | authenticator | user name); the name
    without a ``DOMAIN\\`` prefix."""
    name = user.rsplit(b"\\", 1)[-1]
    return hashlib.sha1(peer_challenge + auth_challenge + name).digest()[:8]


def _des_key(seven: bytes) -> bytes:
    # RFC 2759 §8.6: seven octets spread over eight, the low (parity) bit of each unused.
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """RFC 2759 §8.5: three DES encryptions of the 8-octet ``challenge``."""
    padded = password_hash.ljust(21, b"\0")
    out = b""
    for i in range(3):
        key = _des_key(padded[7 * i:7 * i + 7])
        enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
        out += enc.update(challenge) + enc.finalize()
    return out


def nt_response(auth_challenge: bytes, peer_challenge: bytes, user: bytes,
                password_hash: bytes) -> bytes:
    """RFC 2759 §8.1 GenerateNTResponse, from the NT hash."""
    return challenge_response(challenge_hash(peer_challenge, auth_challenge, user),
                              password_hash)


def authenticator_response(password_hash: bytes, response: bytes, peer_challenge: bytes,
                           auth_challenge: bytes, user: bytes) -> bytes:
    """RFC 2759 §8.7: ``S=`` and 40 upper-case hex digits."""
    digest = hashlib.sha1(md4(password_hash) + response + _AUTH_MAGIC1).digest()
    digest = hashlib.sha1(digest + challenge_hash(peer_challenge, auth_challenge, user)
                          + _AUTH_MAGIC2).digest()
    return b"S=" + digest.hex().upper().encode()


def master_key(password_hash: bytes, response: bytes) -> bytes:
    """RFC 3079 §3.4 GetMasterKey (from PasswordHashHash and the NT-Response)."""
    return hashlib.sha1(md4(password_hash) + response + _MPPE_MAGIC1).digest()[:16]


def asymmetric_start_key(master: bytes, send: bool, server: bool) -> bytes:
    """RFC 3079 §3.4 GetAsymmetricStartKey, 16 octets."""
    magic = _MPPE_MAGIC3 if send == server else _MPPE_MAGIC2
    return hashlib.sha1(master + _SHS_PAD1 + magic + _SHS_PAD2).digest()[:16]


def msk(password_hash: bytes, response: bytes) -> bytes:
    """The 64-octet MSK: the server's receive and send keys, then 32 zeros (module doc)."""
    master = master_key(password_hash, response)
    return (asymmetric_start_key(master, send=False, server=True)
            + asymmetric_start_key(master, send=True, server=True) + bytes(32))


def _header(opcode: int, ms_id: int, body: bytes) -> bytes:
    # draft-kamath §2: OpCode, MS-CHAPv2-ID, MS-Length (OpCode to the end).
    return struct.pack("!BBH", opcode, ms_id, 4 + len(body)) + body


@dataclass
class MsChapV2:
    """One EAP-MSCHAPv2 authentication of ``user`` (the EAP identity) as the server."""

    user: str
    secrets: Secrets
    challenge: bytes          # 16 random octets from the caller
    ms_id: int = 0
    _expected: bytes = b""    # the Success packet's authenticator response, once verified
    _msk: bytes = b""

    type: ClassVar[int] = Type.MSCHAPV2
    mutual: ClassVar[bool] = False  # RFC 5998 §4: only the MSK proves the server

    def start(self, identifier: int) -> bytes:
        """The Challenge (draft-kamath §2.1)."""
        self.ms_id = identifier
        return _header(CHALLENGE, self.ms_id,
                       bytes([len(self.challenge)]) + self.challenge + SERVER_NAME)

    def receive(self, identifier: int, data: bytes) -> Reply:
        """The peer's Response (then our Success request) or its Success acknowledgement."""
        if not data:
            raise ParseError("EAP-MSCHAPv2", 0, "no OpCode")
        if data[0] == SUCCESS and self._msk:
            return Succeeded(self.user, self._msk)
        if data[0] != RESPONSE or self._msk:
            return Failed(self.user, f"EAP-MSCHAPv2 OpCode {data[0]} where a Response "
                          "or Success was due")
        # OpCode, MS-CHAPv2-ID, MS-Length, Value-Size (49), the value, Name.
        if len(data) < 54 or data[4] != 49:
            raise ParseError("EAP-MSCHAPv2 Response", 4, "expected Value-Size 49")
        peer_challenge, response, name = data[5:21], data[29:53], data[54:]
        password_hash = self.secrets.nt_hash(self.user)
        if password_hash is None:
            return Failed(self.user, "no such user, or its secret cannot do MSCHAPv2")
        want = nt_response(self.challenge, peer_challenge, name, password_hash)
        if not hmac.compare_digest(want, response):
            return Failed(self.user, "wrong password (the MSCHAPv2 NT-Response differs)")
        self._msk = msk(password_hash, response)
        message = authenticator_response(password_hash, response, peer_challenge,
                                         self.challenge, name) + b" M=welcome"
        return _header(SUCCESS, self.ms_id, message)
