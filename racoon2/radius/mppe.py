"""The MSK from an Access-Accept: RFC 2548 §2.4.2-3 MS-MPPE-Send-Key and MS-MPPE-Recv-Key,
pure.

The server hides each key with the shared secret S, the Access-Request's Request
Authenticator R and a 2-octet Salt A: b(1) = MD5(S + R + A), b(i) = MD5(S + c(i-1)),
c(i) = p(i) xor b(i), over the plaintext Key-Length | Key | padding.  The MSK is
Recv-Key | Send-Key (RFC 3748 §7.10, the order of RFC 5216 §2.3's MSK halves as the
authenticator receives them; strongSwan's eap-radius joins them the same way).
"""

from __future__ import annotations

import hashlib
import struct

from racoon2.errors import ProtocolError
from racoon2.radius.packet import Attr, Packet

VENDOR_MICROSOFT = 311
MS_MPPE_SEND_KEY = 16
MS_MPPE_RECV_KEY = 17


def vendor_attributes(packet: Packet, vendor: int) -> list[tuple[int, bytes]]:
    """The (Vendor-Type, value) pairs in ``packet``'s Vendor-Specific attributes of
    ``vendor`` (RFC 2865 §5.26, the suggested format RFC 2548 uses)."""
    found = []
    for value in packet.all(Attr.VENDOR_SPECIFIC):
        if len(value) < 4 or struct.unpack_from("!I", value)[0] != vendor:
            continue
        pos = 4
        while pos + 2 <= len(value) and value[pos + 1] >= 2:
            found.append((value[pos], value[pos + 2:pos + value[pos + 1]]))
            pos += value[pos + 1]
    return found


def decrypt_key(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """One MS-MPPE key attribute's value (Salt | String) decrypted (RFC 2548 §2.4.2)."""
    if len(value) < 18 or (len(value) - 2) % 16 or not value[0] & 0x80:
        raise ProtocolError(f"MS-MPPE key of {len(value)} octets: expected a salt with its "
                            "high bit set and a multiple of 16 octets")
    salt, cipher = value[:2], value[2:]
    plain = bytearray()
    chain = request_authenticator + salt
    for i in range(0, len(cipher), 16):
        block = hashlib.md5(secret + chain).digest()
        chunk = cipher[i:i + 16]
        plain += bytes(a ^ b for a, b in zip(chunk, block, strict=True))
        chain = chunk
    if plain[0] > len(plain) - 1:
        raise ProtocolError(f"MS-MPPE key length {plain[0]} in {len(plain) - 1} octets "
                            "(a wrong shared secret?)")
    return bytes(plain[1:1 + plain[0]])


def msk(packet: Packet, secret: bytes, request_authenticator: bytes) -> bytes | None:
    """The MSK of an Access-Accept (Recv-Key | Send-Key), None when it carries no keys."""
    keys = dict(vendor_attributes(packet, VENDOR_MICROSOFT))
    recv, send = keys.get(MS_MPPE_RECV_KEY), keys.get(MS_MPPE_SEND_KEY)
    if recv is None or send is None:
        return None
    return decrypt_key(recv, secret, request_authenticator) + \
        decrypt_key(send, secret, request_authenticator)
