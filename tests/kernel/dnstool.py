"""A tiny DNS responder and asker for spmd's proxy test (run inside the test's namespace).

    dnstool.py serve HOST PORT NAME=ADDR ...   answer A queries for NAME with ADDR (else NXDOMAIN)
    dnstool.py ask HOST PORT NAME ID            print the answer's id and first A address
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from dnswire import A, answer, query  # noqa: E402


def qname(packet: bytes) -> str:
    labels, pos = [], 12
    while packet[pos]:
        labels.append(packet[pos + 1:pos + 1 + packet[pos]].decode())
        pos += 1 + packet[pos]
    return ".".join(labels)


def serve(host: str, port: int, table: dict[str, str]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        ident = struct.unpack("!H", data[:2])[0]
        name = qname(data)
        if name in table:
            sock.sendto(answer(ident, name, [(name, A, table[name])]), peer)
        else:
            nx = bytearray(answer(ident, name, []))
            nx[3] |= 3  # RCODE NXDOMAIN
            sock.sendto(bytes(nx), peer)


def ask(host: str, port: int, name: str, ident: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.sendto(query(ident, name), (host, port))
    data = sock.recv(4096)
    got = struct.unpack("!H", data[:2])[0]
    print(got, ipaddress.ip_address(data[-4:]) if data[7] else "none")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), dict(a.split("=") for a in sys.argv[4:]))
    else:
        ask(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
