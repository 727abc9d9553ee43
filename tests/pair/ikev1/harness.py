"""Two IKEv1 cores wired together in memory, each with its in-memory kernel (pure-core tests).

Messages are drawn in the tests' comments in RFC 2409's notation; ``HDR*`` is encrypted.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from iked.events import Datagram, Event
from iked.ikev1.core import Ikev1Core
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.ikev1 import message
from racoon2.ikev1.constants import ExchangeType
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Endpoint

from .conf import ikev1_conf

A, B = "192.0.2.1", "192.0.2.2"
#: (sender's name, from, to) -> (from, to) as the receiver sees them.
Route = Callable[[str, Endpoint, Endpoint], tuple[Endpoint, Endpoint]]


@dataclass
class Side:
    """One core, its kernel, and what came out of them."""

    core: Ikev1Core
    kernel: MemoryBackend
    events: list[Event] = field(default_factory=list)
    installed: list[api.SaSpec] = field(default_factory=list)
    outbox: collections.deque[Datagram] = field(default_factory=collections.deque)

    def collect(self) -> None:
        """Move the core's datagrams and events here."""
        self.outbox.extend(self.core.datagrams_to_send())
        while (ev := self.core.next_event()) is not None:
            self.events.append(ev)

    def of(self, kind: type) -> list[Event]:
        """The events of one class."""
        return [e for e in self.events if isinstance(e, kind)]


def side(tmp: Path, me: str, peer: str, seed: bytes, **options: object) -> Side:
    """A core for ``me`` talking to ``peer`` (options: :func:`conf.ikev1_conf`'s)."""
    text = ikev1_conf(tmp, me, peer, **options)  # type: ignore[arg-type]
    core = Ikev1Core(loads(text, f"{tmp}/racoon2.conf"), DeterministicRng(seed), read_secret,
                     0.0, read_public=lambda p: Path(p).read_bytes())
    return Side(core, MemoryBackend(seed=seed[0]))


def pair(tmp: Path, a: dict[str, object] | None = None, b: dict[str, object] | None = None,
         **both: object) -> tuple[Side, Side]:
    """A (192.0.2.1) and B (192.0.2.2) with ``both``'s options and each its own."""
    return (side(tmp / "a", A, B, b"a", **{**both, **(a or {})}),
            side(tmp / "b", B, A, b"b", **{**both, **(b or {})}))


async def _perform(s: Side, now: float) -> bool:
    requests = s.core.requests()
    for req in requests:
        result: object
        try:
            assert not isinstance(req.op, str)
            result = await api.perform(s.kernel, req.op)  # type: ignore[arg-type]
        except api.KernelError as e:
            result = e
        if isinstance(req.op, api.AddSa | api.UpdateSa):
            s.installed.append(req.op.sa)
        s.core.reply(req.id, result, now)
    return bool(requests)


def flush(s: Side, now: float) -> None:
    """As the shell does before it sends: ``s``'s kernel requests, and those their results
    bring, until none is left; then its datagrams and events are collected."""
    async def run() -> None:
        while await _perform(s, now):
            pass
    asyncio.run(run())
    s.collect()


def pump(a: Side, b: Side, now: float = 0.0, lose: int = 0, tamper: int = 0,
         wire: list[tuple[str, int, bool]] | None = None, route: Route | None = None) -> int:
    """Deliver until both are quiet; ``lose`` drops the first datagrams, ``tamper`` flips
    the last octet of the first ones.  ``wire`` gets (sender, exchange, encrypted) of each
    delivered message (a NAT keepalive octet: exchange 0).  ``route`` rewrites (from, to)
    on the way, as a NAT does.  The number delivered."""
    peers = {id(a): b, id(b): a}
    names = {id(a): "a", id(b): "b"}
    delivered = 0

    async def run() -> None:
        nonlocal delivered, lose, tamper
        busy = True
        while busy:
            busy = False
            for s in (a, b):
                busy = await _perform(s, now) or busy
                s.collect()
                while s.outbox:
                    d = s.outbox.popleft()
                    busy = True
                    if lose:
                        lose -= 1
                        continue
                    data = d.data
                    if tamper:
                        tamper -= 1
                        data = data[:-1] + bytes([data[-1] ^ 1])
                    src, dst = route(names[id(s)], d.local, d.remote) if route else (
                        d.local, d.remote)
                    h = message.decode_header(data) if len(data) > 1 else None
                    if wire is not None:
                        wire.append((names[id(s)], h.exchange if h else 0,
                                     h.encrypted if h else False))
                    if h is not None:  # the shell takes the keepalive octet away
                        peers[id(s)].core.receive_datagram(data, dst, src, now)
                    delivered += 1
                s.collect()

    asyncio.run(run())
    return delivered


def established(tmp: Path) -> tuple[Side, Side, list[bytes]]:
    """A fresh pair with its ISAKMP SA and IPsec SAs up (A initiated), and every datagram B
    received meanwhile (the fuzzers' material)."""
    a, b = pair(tmp)
    seen: list[bytes] = []
    receive = b.core.receive_datagram

    def record(data: bytes, local: Endpoint, remote: Endpoint, now: float) -> None:
        seen.append(data)
        receive(data, local, remote, now)

    b.core.receive_datagram = record  # type: ignore[method-assign]
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    b.core.receive_datagram = receive  # type: ignore[method-assign]
    return a, b, seen


def timer(s: Side, now: float) -> None:
    """Run ``s``'s timer at ``now``."""
    s.core.handle_timer(now)
    s.collect()


MM, AM, QM, INFO = (ExchangeType.MAIN_MODE, ExchangeType.AGGRESSIVE, ExchangeType.QUICK_MODE,
                    ExchangeType.INFORMATIONAL)
