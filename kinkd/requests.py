"""kinkd's requests in flight: XIDs, retransmission, and the REPLY each one waits for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kinkd.exchange import KinkError
from kinkd.settings import PeerSettings
from racoon2.crypto.rng import Rng
from racoon2.net import Address, Endpoint

log = logging.getLogger("kinkd")


class Requests:
    """The requests kinkd sent and waits for a REPLY to, by XID."""

    def __init__(self, send: Callable[[bytes, Endpoint | None, Endpoint], None],
                 rng: Rng) -> None:
        self._send = send
        self.rng = rng
        self.pending: dict[int, tuple[Endpoint, asyncio.Future[bytes]]] = {}

    def waiting(self, xid: int) -> Address | None:
        """Where the request ``xid`` went, while it still waits for its REPLY."""
        dest, waiter = self.pending.get(xid, (None, None))
        return None if waiter is None or waiter.done() or dest is None else dest.addr

    def wake(self, xid: int, reply: bytes) -> None:
        """The REPLY to ``xid`` came (:meth:`waiting` said it is awaited)."""
        self.pending[xid][1].set_result(reply)

    def xid(self) -> int:
        """A new XID: random, non-zero, not one an exchange waits for."""
        while True:
            xid = int.from_bytes(self.rng.random_bytes(4), "big")
            if xid and xid not in self.pending:
                return xid

    async def transact(self, data: bytes, xid: int, src: Endpoint, dest: Endpoint,
                        peer: PeerSettings) -> bytes:
        """Send a request and wait for its REPLY, retransmitting as the remote says."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[xid] = (dest, waiter)
        try:
            for attempt in range(peer.max_retry + 1):
                self._send(data, src, dest)
                try:
                    # Doubling, unlike the original's fixed interval: a responder busy with
                    # its KDC or kernel is not flooded, and 5 retries still end within 32 s.
                    return await asyncio.wait_for(asyncio.shield(waiter),
                                                  peer.interval * 2 ** attempt)
                except TimeoutError:
                    log.debug("%s: no REPLY to XID %d (try %d)", dest, xid, attempt + 1)
            raise KinkError(f"no REPLY from {dest} after {peer.max_retry + 1} tries")
        finally:
            del self.pending[xid]
            waiter.cancel()
