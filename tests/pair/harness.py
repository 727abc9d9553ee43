"""Two IKEv2 cores wired together in memory: sides, delivery, and the messages in the clear.

Each :class:`Side` is one :class:`~iked.ikev2.core.IkeCore` with its in-memory kernel.  The
cores run with ``tracing`` on (iked -P's public interface), so every message a side seals is
also kept in the clear: :func:`decode` gives a datagram's exchange, flags and, for a protected
message, the payloads inside its SK payload, without the test holding any key.

Tests drive the pair either one datagram at a time (:func:`exchange`) or until both sides are
quiet (:func:`pump`); either way they draw each message in a comment before it is processed.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iked.events import Datagram, Event
from iked.ikev2.core import IkeCore
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.ikev2 import message
from racoon2.ikev2.constants import (
    FLAG_INITIATOR,
    FLAG_RESPONSE,
    ExchangeType,
    NotifyType,
    PayloadType,
)
from racoon2.ikev2.payloads import SK, SKF, Notify, Payload, payload_type
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.spmif.commands import Migrate, PolicyAdd, PolicyDelete

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
A, B = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
Edit = tuple[tuple[str, str], ...]

# -- the messages ------------------------------------------------------------------------------

#: How a header is told apart from every other message of the pair.
HeaderKey = tuple[bytes, bytes, int, int, int]


def _key(msg: message.Message) -> HeaderKey:
    return msg.spi_i, msg.spi_r, msg.exchange, msg.message_id, msg.flags


@dataclass(frozen=True)
class Msg:
    """One datagram as a test reads it: the header, and the payloads in the clear."""

    exchange: ExchangeType
    message_id: int
    flags: int
    #: For a protected message, the payloads inside SK or SKF (RFC 7296 §3.14), else the
    #: payloads.
    payloads: tuple[Payload, ...]
    protected: bool
    #: The datagram as it went on the wire.
    data: bytes
    #: An RFC 7383 fragment's (Fragment Number, Total Fragments); its payloads are the whole
    #: message's.
    fragment: tuple[int, int] | None = None

    @property
    def response(self) -> bool:
        """The R flag."""
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def initiator(self) -> bool:
        """The I flag: sent by the IKE SA's original initiator."""
        return bool(self.flags & FLAG_INITIATOR)

    @property
    def types(self) -> list[PayloadType]:
        """The payload types in order (inside SK for a protected message)."""
        return [PayloadType(payload_type(p)) for p in self.payloads]

    @property
    def notifies(self) -> list[NotifyType | int]:
        """The Notify types in order (a type this codebase has no name for stays a number)."""
        return [_notify_type(p.type) for p in self.payloads if isinstance(p, Notify)]

    def draw(self) -> str:
        """The message in this directory's comment notation (doc/testing.md)."""
        inner = ", ".join(f"N({getattr(_notify_type(p.type), 'name', p.type)})"
                          if isinstance(p, Notify) else PayloadType(payload_type(p)).name
                          for p in self.payloads)
        body = (f"SK {{ {inner} }}" if inner else "SK { }") if self.protected else inner
        arrow = "->" if self.initiator else "<-"
        return f"{self.exchange.name}  i {arrow} r  HDR" + (f", {body}" if body else "")


def _notify_type(value: int) -> NotifyType | int:
    try:
        return NotifyType(value)
    except ValueError:
        return value


def decode(data: bytes, sender: Side) -> Msg:
    """``data`` (sent by ``sender``) with its SK payload opened from the sender's clear copy."""
    outer = message.decode(data)
    last = outer.payloads[-1] if outer.payloads else None
    payloads, protected = outer.payloads, isinstance(last, SK | SKF)
    if protected:
        payloads = outer.payloads[:-1] + sender.clear[_key(outer)].payloads
    return Msg(ExchangeType(outer.exchange), outer.message_id, outer.flags, payloads, protected,
               data, (last.number, last.total) if isinstance(last, SKF) else None)


# -- the sides ---------------------------------------------------------------------------------


def side_config(sample: str, tmp: Path, me: str, peer: str, psk: bytes = b"secret-psk",
                edit: Edit = ()) -> str:
    """A project sample as host ``me`` sees it, with its key file in ``tmp``."""
    text = (SAMPLES / sample).read_text()
    text = text.replace('"/usr/local/etc/racoon2"', f'"{tmp}"')
    text = text.replace('"192.0.2.1"', '"@ME@"').replace('"192.0.2.2"', '"@PEER@"')
    text = text.replace("@ME@", me).replace("@PEER@", peer)
    for old, new in edit:
        text = text.replace(old, new)
    (tmp / "psk").mkdir(exist_ok=True)
    for name in ("peer.psk", "gw_a.psk", "gw_b.psk"):
        key = tmp / "psk" / name
        key.write_bytes(psk)
        key.chmod(0o600)
    return text


@dataclass
class Side:
    """One core, its in-memory kernel, and what came out of them so far."""

    core: IkeCore
    kernel: MemoryBackend
    events: list[Event] = field(default_factory=list)
    installed: list[api.SaSpec] = field(default_factory=list)
    #: What the core asked of spmd (IP_RW policies, MOBIKE's MIGRATE), in order.
    asked: list[PolicyAdd | PolicyDelete | Migrate] = field(default_factory=list)
    #: Datagrams taken from the core and not delivered yet, oldest first.
    outbox: collections.deque[Datagram] = field(default_factory=collections.deque)
    #: Every message this side sealed or opened, in the clear, by header.
    clear: dict[HeaderKey, message.Message] = field(default_factory=dict)

    def collect(self) -> None:
        """Move the core's datagrams, clear copies and events into this side."""
        for t in self.core.traces():
            msg = message.decode(t.data)
            self.clear.setdefault(_key(msg), msg)
        self.outbox.extend(self.core.datagrams_to_send())
        while (ev := self.core.next_event()) is not None:
            self.events.append(ev)

    def take(self) -> list[Datagram]:
        """Every datagram waiting to be delivered."""
        self.collect()
        out = list(self.outbox)
        self.outbox.clear()
        return out


def make_side(tmp: Path, me: str, peer: str, seed: bytes, sample: str = "ikev2-transport.conf",
              psk: bytes = b"secret-psk", edit: Edit = ()) -> Side:
    """A side made from a project sample, deterministic from ``seed``."""
    tmp.mkdir(exist_ok=True)
    cfg = loads(side_config(sample, tmp, me, peer, psk, edit), f"{tmp}/racoon2.conf")
    core = IkeCore(cfg, DeterministicRng(seed), read_secret, 0.0,
                   read_public=lambda p: Path(p).read_bytes())
    core.tracing = True
    return Side(core, MemoryBackend(seed=seed[0]))


def two_sides(tmp: Path, a_edit: Edit = (), b_edit: Edit = (), psk: bytes = b"secret-psk",
              sample: str = "ikev2-transport.conf", b_psk: bytes | None = None
              ) -> dict[str, Side]:
    """A (192.0.2.1, seed a) and B (192.0.2.2, seed b) from one sample, each with its edits."""
    return {"a": make_side(tmp / "a", "192.0.2.1", "192.0.2.2", b"a", sample, psk, a_edit),
            "b": make_side(tmp / "b", "192.0.2.2", "192.0.2.1", b"b", sample,
                           psk if b_psk is None else b_psk, b_edit)}


async def perform_requests(side: Side, now: float) -> bool:
    """Run a side's kernel requests on its in-memory kernel; False when there were none."""
    requests = side.core.requests()
    for req in requests:
        result: object
        if isinstance(req.op, PolicyAdd | PolicyDelete | Migrate):
            # spmd's part (iked's shell asks it over spmif): kept, and answered as spmd would.
            side.asked.append(req.op)
            result = {PolicyAdd: "Policy Added", PolicyDelete: "Policy Deleted",
                      Migrate: "Migrate"}[type(req.op)]
            side.core.reply(req.id, result, now)
            continue
        try:
            result = await api.perform(side.kernel, req.op)
        except api.KernelError as e:
            result = e
        if isinstance(req.op, api.AddSa | api.UpdateSa):
            side.installed.append(req.op.sa)
        side.core.reply(req.id, result, now)
    return bool(requests)


def settle(side: Side, now: float = 0.0) -> None:
    """Perform the side's kernel requests until it asks for none, then collect its output."""
    async def run() -> None:
        while await perform_requests(side, now):
            pass

    asyncio.run(run())
    side.collect()


def exchange(src: Side, dst: Side, now: float = 0.0) -> Msg:
    """Deliver ``src``'s oldest waiting datagram to ``dst``; the message it carried.

    Both sides are settled around the delivery: ``src``'s kernel requests before, ``dst``'s
    after, so that ``dst``'s answer (if any) waits in its outbox.
    """
    settle(src, now)
    d = src.outbox.popleft()
    msg = decode(d.data, src)
    dst.core.receive_datagram(d.data, d.remote, d.local, now)
    settle(dst, now)
    return msg


def pump(sides: dict[str, Side], now: float = 0.0, lose: int = 0,
         tamper: bool = False, record: list[Msg] | None = None) -> int:
    """Deliver datagrams and perform kernel requests until both sides are quiet.

    ``lose`` drops that many datagrams first; ``tamper`` flips a bit in every IKE_AUTH.
    ``record`` gets every delivered message.  Returns how many datagrams were delivered.
    """
    # Each side answers on its interface ike addresses.
    by_addr = {str(spec.address): side for side in sides.values()
               for spec in side.core.config.interface.ike}  # type: ignore[union-attr]
    delivered = 0

    async def run() -> None:
        nonlocal delivered, lose
        busy = True
        while busy:
            busy = False
            for side in sides.values():
                busy = await perform_requests(side, now) or busy
                for d in side.take():
                    busy = True
                    if lose:
                        lose -= 1
                        continue
                    msg = decode(d.data, side)
                    data = d.data
                    if tamper and msg.exchange is ExchangeType.IKE_AUTH:
                        data = data[:-1] + bytes([data[-1] ^ 1])
                    if record is not None:
                        record.append(msg)
                    by_addr[str(d.remote.addr)].core.receive_datagram(
                        data, d.remote, d.local, now)
                    delivered += 1
                side.collect()

    asyncio.run(run())
    return delivered


def exchanges(wire: Sequence[Msg]) -> list[tuple[ExchangeType, bool]]:
    """Each message's exchange and whether it is a response."""
    return [(m.exchange, m.response) for m in wire]


def of(side: Side, kind: type[Any]) -> list[Any]:
    """The side's events of one class, in order."""
    return [e for e in side.events if isinstance(e, kind)]


def ike_sas(side: Side) -> list[dict[str, Any]]:
    """The side's IKE SAs as ``status()`` reports them (name, state, initiator, children)."""
    sas = side.core.status()["ike_sas"]
    assert isinstance(sas, list)
    return sas


def spi_in(child: dict[str, Any]) -> int:
    """A CHILD_SA's inbound SPI from its ``status()`` entry."""
    return int(child["spi_in"], 16)
