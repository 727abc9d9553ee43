"""iked's RADIUS client (RFC 2865, 2866, 3579), the asyncio side of ``eap { method radius;
}``: the core asks (:class:`iked.events.RadiusAccess`, :class:`iked.events.RadiusAccounting`),
this sends, retransmits and fails over, and the core gets the :class:`Answer` or the error.

Each request has a socket of its own (so its Identifier space is its own); a retransmission
repeats the same octets, Identifier and Request Authenticator (RFC 2865 §2.5), after 2, 4,
8 seconds (RFC 5080 §2.2.1's doubling), then the next server is tried.  The server that
answered last is tried first next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from racoon2.errors import ParseError, ProtocolError, Racoon2Error
from racoon2.radius import packet as wire
from racoon2.radius.access import Answer, Radius, Server, answer

log = logging.getLogger("iked.radius")


class _Endpoint(asyncio.DatagramProtocol):
    """One request's socket: every datagram goes to ``take``."""

    def __init__(self, take: Callable[[bytes], None]) -> None:
        self._take = take

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._take(data)

    def error_received(self, exc: Exception) -> None:
        log.debug("RADIUS socket: %s", exc)  # ICMP unreachable: the retransmission goes on


class Client:
    """Sends Access- and Accounting-Requests to a configuration's servers."""

    def __init__(self, timeout: float = 2.0, tries: int = 3) -> None:
        self._timeout = timeout
        self._tries = tries
        self._preferred: dict[tuple[Server, ...], Server] = {}

    def _order(self, radius: Radius) -> list[Server]:
        first = self._preferred.get(radius.servers)
        return ([first] if first else []) + [s for s in radius.servers if s != first]

    async def _exchange(self, server: Server, port: int, raw: bytes, authenticator: bytes
                        ) -> wire.Packet | None:
        """Send ``raw`` until a verified answer comes, or None after the tries."""
        loop = asyncio.get_running_loop()
        got: asyncio.Queue[bytes] = asyncio.Queue()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(got.put_nowait), remote_addr=(server.address, port))
        try:
            wait = self._timeout
            for _ in range(self._tries):
                transport.sendto(raw)
                deadline = loop.time() + wait
                while (left := deadline - loop.time()) > 0:
                    try:
                        data = await asyncio.wait_for(got.get(), left)
                    except TimeoutError:
                        break
                    if len(data) < 2 or data[1] != raw[1]:
                        continue
                    try:
                        return wire.verify_reply(data, authenticator, server.secret)
                    except (ParseError, ProtocolError) as e:
                        # RFC 2865 §3: silently discarded; logged, as a wrong secret shows so
                        log.warning("RADIUS %s:%d: %s", server.address, port, e)
                wait *= 2
            return None
        finally:
            transport.close()

    async def access(self, radius: Radius, attributes: list[wire.Attribute]) -> Answer:
        """An Access-Request's answer from the first server that gives one (raises
        Racoon2Error when none does)."""
        for server in self._order(radius):
            authenticator = os.urandom(wire.AUTH_LEN)  # RFC 2865 §3: unpredictable
            raw = wire.access_request(os.urandom(1)[0], authenticator, attributes,
                                      server.secret)
            reply = await self._exchange(server, server.port, raw, authenticator)
            if reply is None:
                log.warning("RADIUS server %s:%d does not answer", server.address,
                            server.port)
                continue
            if reply.code not in (wire.Code.ACCESS_ACCEPT, wire.Code.ACCESS_REJECT,
                                  wire.Code.ACCESS_CHALLENGE):
                raise Racoon2Error(f"RADIUS server {server.address} answered an "
                                   f"Access-Request with code {reply.code}")
            self._preferred[radius.servers] = server
            return answer(reply, server.secret, authenticator)
        tried = ", ".join(f"{s.address}:{s.port}" for s in radius.servers)
        raise Racoon2Error(f"no RADIUS server answered ({tried})",
                           hint="check the servers are up, reach this host, and share its secret")

    async def account(self, radius: Radius, attributes: list[wire.Attribute]) -> None:
        """An Accounting-Request, sent until a server acknowledges it (RFC 2866 §2)."""
        for server in self._order(radius):
            raw = wire.accounting_request(os.urandom(1)[0], attributes, server.secret)
            with contextlib.suppress(OSError):
                reply = await self._exchange(server, server.port + 1, raw, raw[4:20])
                if reply is not None and reply.code == wire.Code.ACCOUNTING_RESPONSE:
                    return
        raise Racoon2Error("no RADIUS server acknowledged the accounting record")
