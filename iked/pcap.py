"""iked -P: IKE messages as they are before encryption and after decryption, in a pcap file.

Each message is written as an IPv4 or IPv6 + UDP packet (LINKTYPE_RAW) between the IKE SA's
endpoints, its SK payload replaced by the payloads it carries, so Wireshark shows the whole
exchange.  A leading ``+`` in the file name appends, as in the original.
"""

from __future__ import annotations

import struct
import time
from typing import BinaryIO

from racoon2.net import Endpoint

LINKTYPE_RAW = 101
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def packet(data: bytes, src: Endpoint, dst: Endpoint) -> bytes:
    """``data`` in a UDP datagram from ``src`` to ``dst`` with its IP header."""
    udp_len = 8 + len(data)
    if src.addr.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                         src.addr.packed, dst.addr.packed)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        pseudo = src.addr.packed + dst.addr.packed + struct.pack("!BBH", 0, 17, udp_len)
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, src.addr.packed,
                         dst.addr.packed)
        pseudo = src.addr.packed + dst.addr.packed + struct.pack("!II", udp_len, 17)
    udp = struct.pack("!HHHH", src.port, dst.port, udp_len, 0) + data
    check = _checksum(pseudo + udp) or 0xFFFF
    return ip + udp[:6] + struct.pack("!H", check) + udp[8:]


class PcapWriter:
    """Appends packets to a pcap file (created with its header when new or truncated)."""

    def __init__(self, spec: str) -> None:
        append = spec.startswith("+")
        path = spec[1:] if append else spec
        self._file: BinaryIO = open(path, "ab" if append else "wb")  # noqa: SIM115
        if self._file.tell() == 0:
            self._file.write(_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))

    def write(self, data: bytes, src: Endpoint, dst: Endpoint) -> None:
        """One IKE message from ``src`` to ``dst``."""
        raw = packet(data, src, dst)
        now = time.time()
        self._file.write(_RECORD.pack(int(now), int(now % 1 * 1e6), len(raw), len(raw)) + raw)
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()
