"""asyncio side of spmd's DNS proxy (the decisions are in spmd.dns).

UDP sockets on every ``dns_query`` address receive the applications' queries; one unconnected
socket per address family talks to the name servers.  A send error to the current server makes
the next one current and the query is sent there (query.c query_send).  Answers about
registered FQDNs update the FQDN cache and ``on_change`` is called so spmd installs the
policies of selectors that name them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Hashable
from typing import Any, cast

from racoon2.net import Address
from spmd.dns import Malformed, Proxy, Resolver, Send, answer_addresses
from spmd.fqdn import FqdnCache

log = logging.getLogger("spmd.dns")
SWEEP = 1.0  # seconds between expiry sweeps of the outstanding queries


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, Any], None]) -> None:
        self._on_packet = on_packet

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._on_packet(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS socket error: %s", exc)


class DnsProxy:
    """A running proxy; :meth:`start` binds, :meth:`close` stops."""

    def __init__(self, resolver: Resolver, fqdn: FqdnCache, on_change: Callable[[], None],
                 *, timeout: float = 10.0, max_pending: int = 1024) -> None:
        self.core = Proxy(resolver, timeout=timeout, max_pending=max_pending)
        self._fqdn = fqdn
        self._on_change = on_change
        self._listeners: list[asyncio.DatagramTransport] = []
        self._upstream: dict[int, asyncio.DatagramTransport] = {}
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where the proxy listens (host, port), in configuration order."""
        return [t.get_extra_info("sockname")[:2] for t in self._listeners]

    async def start(self, listen: list[tuple[Address, int]]) -> None:
        """Bind every ``dns_query`` address; one that cannot be bound is logged and skipped."""
        loop = asyncio.get_running_loop()
        for addr, port in listen:
            index = len(self._listeners)
            try:
                handler = functools.partial(self._query, listener=index)
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Endpoint, handler), local_addr=(str(addr), port))
            except OSError as e:
                log.error("DNS proxy cannot listen on %s port %d: %s", addr, port, e.strerror)
                continue
            self._listeners.append(transport)
            log.info("DNS proxy listening on %s port %d", addr, port)
        for family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Endpoint(self._response), family=family)
                self._upstream[family] = transport
        self._sweeper = asyncio.create_task(self._sweep())

    def close(self) -> None:
        """Close every socket; outstanding queries are forgotten."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for transport in (*self._listeners, *self._upstream.values()):
            transport.close()
        self._listeners, self._upstream = [], {}
        if self.core.resolver.dropped:
            log.info("DNS proxy dropped %d packets", self.core.resolver.dropped)

    def _query(self, data: bytes, client: Hashable, listener: int) -> None:
        out = self.core.query(data, client, listener, asyncio.get_running_loop().time(),
                              lambda: secrets.randbits(16))
        if out is None:
            log.debug("DNS query from %s dropped (%d so far)", client,
                      self.core.resolver.dropped)
            return
        self._send_upstream(out)

    def _send_upstream(self, out: Send) -> None:
        resolver = self.core.resolver
        for _ in range(max(1, len(resolver.servers))):
            server = resolver.current()
            if server is None:
                return
            addr, port = server
            transport = self._upstream.get(socket.AF_INET6 if addr.version == 6
                                           else socket.AF_INET)
            try:
                if transport is None:
                    raise OSError(f"no IPv{addr.version} socket")
                transport.sendto(out.data, (str(addr), port))
            except OSError as e:
                log.warning("cannot send to name server %s: %s; trying the next", addr, e)
                resolver.rotate()
                continue
            self.core.sent()
            return

    def _response(self, data: bytes, source: Any) -> None:
        try:
            server = (_address(source[0]), int(source[1]))
        except ValueError:
            return
        found = self.core.response(data, server)
        if found is None:
            log.debug("DNS answer from %s dropped (%d so far)", source,
                      self.core.resolver.dropped)
            return
        out, packet = found
        try:
            changed = self._fqdn.learn(answer_addresses(packet))
        except Malformed as e:
            log.debug("DNS answer from %s not snooped: %s", source, e)
            changed = []
        if 0 <= out.listener < len(self._listeners):
            self._listeners[out.listener].sendto(out.data, cast(tuple[Any, ...], out.client))
            self.core.relayed()
        if changed:
            log.info("DNS answer resolved %s", ", ".join(changed))
            self._on_change()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP)
            if self.core.expire(loop.time()):
                log.debug("DNS queries expired without an answer")


def _address(text: str) -> Address:
    return ipaddress.ip_address(text.split("%", 1)[0])
