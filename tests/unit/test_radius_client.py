"""iked.radius_client on loopback against a RADIUS server written here: retransmission of
the same octets, failover to the next server and back, a clean error when none answers,
and a forged answer ignored."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket

import pytest

from iked.radius_client import Client
from racoon2.errors import Racoon2Error
from racoon2.radius.access import Radius, Server
from racoon2.radius.packet import Attr, Code

SECRET = b"unit-secret"


def _reply(request: bytes, secret: bytes, code: int = Code.ACCESS_CHALLENGE) -> bytes:
    """An answer with EAP-Message and Message-Authenticator (RFC 3579 §3.2, by hand)."""
    attrs = bytes((Attr.EAP_MESSAGE, 6)) + bytes((1, 9, 0, 4)) + bytes((80, 18)) + bytes(16)
    head = bytes((code, request[1])) + (20 + len(attrs)).to_bytes(2, "big")
    mac = hmac.new(secret, head + request[4:20] + attrs, "md5").digest()
    attrs = attrs[:-16] + mac
    return head + hashlib.md5(head + request[4:20] + attrs + secret).digest() + attrs


class _Server(asyncio.DatagramProtocol):
    """Answers after ignoring the first ``drop`` requests; keeps what it received."""

    def __init__(self, drop: int = 0, secret: bytes = SECRET) -> None:
        self.drop, self.secret = drop, secret
        self.got: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)
        if len(self.got) > self.drop and self.transport is not None:
            self.transport.sendto(_reply(data, self.secret), addr)


async def _serve(proto: _Server) -> int:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: proto,
                                                       local_addr=("127.0.0.1", 0))
    return int(transport.get_extra_info("sockname")[1])


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_retransmits_the_same_octets_then_fails_over() -> None:
    async def run() -> None:
        slow, fine = _Server(drop=1), _Server()
        radius = Radius((Server("127.0.0.1", await _serve(slow), SECRET),
                         Server("127.0.0.1", await _serve(fine), SECRET)), "t")
        client = Client(timeout=0.05, tries=2)
        answer = await client.access(radius, [(Attr.USER_NAME, b"alice")])
        assert answer.code is Code.ACCESS_CHALLENGE and answer.eap == bytes((1, 9, 0, 4))
        assert len(slow.got) == 2 and slow.got[0] == slow.got[1]  # RFC 2865 §2.5
        assert not fine.got
        dead = Radius((Server("127.0.0.1", _unused_port(), SECRET),
                       Server("127.0.0.1", await _serve(fine), SECRET)), "t")
        await client.access(dead, [(Attr.USER_NAME, b"alice")])
        assert len(fine.got) == 1
        await client.access(dead, [(Attr.USER_NAME, b"alice")])  # the one that answered
        assert len(fine.got) == 2
    asyncio.run(run())


def test_no_answer_and_a_wrong_secret_fail_cleanly() -> None:
    async def run() -> None:
        wrong = _Server(secret=b"not-ours")
        radius = Radius((Server("127.0.0.1", await _serve(wrong), SECRET),
                         Server("127.0.0.1", _unused_port(), SECRET)), "t")
        with pytest.raises(Racoon2Error, match="no RADIUS server answered"):
            await Client(timeout=0.02, tries=2).access(radius, [(Attr.USER_NAME, b"a")])
        assert len(wrong.got) == 2  # its forged-looking answers were dropped
    asyncio.run(run())
