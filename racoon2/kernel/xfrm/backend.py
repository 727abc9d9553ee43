"""The netlink XFRM backend: :class:`~racoon2.kernel.api.KernelBackend` on Linux.

    backend = await XfrmBackend.open()      # in the caller's network namespace
    ...
    await backend.close()

Two NETLINK_XFRM sockets: one for requests (replies matched by sequence number, read by one
event-loop reader), one subscribed to the ACQUIRE, EXPIRE, MIGRATE and MAPPING groups.  Batches
(:meth:`add_policies`, :meth:`flush_own`) put many messages in one ``send`` and wait for all
their acknowledgements.  The sockets are plain ``socket`` objects: the message layouts are this
project's (:mod:`.messages`), and a pyroute2 socket object would add a Python layer per message
on the 10,000-policy path.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.probe import probe_capabilities
from racoon2.kernel.xfrm import messages as m
from racoon2.net import Address

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
BUFFER = 8 << 20
RECV_SIZE = 1 << 18
BATCH_BYTES = 48 << 10
EVENT_QUEUE = 65536
XFRM_POLICY_MAX = 3
EVENT_GROUPS = (m.GRP_ACQUIRE, m.GRP_EXPIRE, m.GRP_MIGRATE, m.GRP_MAPPING)


@dataclass(slots=True)
class _Batch:
    """Requests sent without per-message ACKs: only failures answer, then one barrier ACK."""

    items: Sequence[tuple[int, int, bytes, str, object]]
    first_seq: int
    results: list[KernelError | None]


@dataclass(slots=True)
class _Pending:
    """A request waiting for its answer: an ACK/error, a reply message, or a dump."""

    future: asyncio.Future[list[m.Message]]
    op: str
    subject: str
    dump: bool = False
    parts: list[m.Message] = field(default_factory=list)


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                         m.NETLINK_XFRM)
    for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, BUFFER)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, fallback, BUFFER)
    sock.bind((0, 0))
    sock.setblocking(False)
    return sock


def _socket_policy(part: m.Message) -> bool:
    # A per-socket policy (setsockopt IP_XFRM_POLICY: iked's and kinkd's IPsec bypass) is in
    # the dump too, with direction XFRM_POLICY_MAX + its direction; it is in no one's SPD.
    if len(part.payload) < m.USERPOLICY_INFO.size:
        return False
    direction: int = m.INDEX_DIR.unpack_from(part.payload, m.INDEX_OFFSET)[1]
    return direction >= XFRM_POLICY_MAX


class XfrmBackend:
    """Linux netlink XFRM; see the module docstring."""

    #: Names the layout of :meth:`pack_policies`' payloads (api.PackedPolicies).
    packed_form = "xfrm-newpolicy-1"

    def __init__(self, requests: socket.socket, events: socket.socket) -> None:
        self._sock = requests
        self._events_sock = events
        self._loop = asyncio.get_running_loop()
        self._seq = itertools.count(int.from_bytes(os.urandom(2), "big") << 8 | 1)
        self._pending: dict[int, _Pending] = {}
        self._batches: dict[int, _Batch] = {}
        self._events: asyncio.Queue[api.KernelEvent] = asyncio.Queue(EVENT_QUEUE)
        self._capabilities: api.Capabilities | None = None
        self.dropped_events = 0
        self.bad_messages = 0
        self._closed = False
        self._loop.add_reader(requests.fileno(), self._on_replies)
        self._loop.add_reader(events.fileno(), self._on_events)

    @classmethod
    async def open(cls) -> XfrmBackend:
        """Open the sockets in the current network namespace."""
        try:
            requests = _socket()
            events = _socket()
            for group in EVENT_GROUPS:
                events.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)
        except OSError as e:
            raise KernelError("open", "netlink XFRM socket", e.strerror or str(e),
                              e.errno) from None
        return cls(requests, events)

    async def close(self) -> None:
        """Close both sockets; pending requests fail."""
        if self._closed:
            return
        self._closed = True
        for sock in (self._sock, self._events_sock):
            self._loop.remove_reader(sock.fileno())
            sock.close()
        for p in self._pending.values():
            if not p.future.done():
                p.future.set_exception(KernelError(p.op, p.subject, "backend closed"))
        self._pending.clear()

    # -- the socket side ------------------------------------------------------------------------

    def _on_replies(self) -> None:
        while True:
            try:
                data = self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # ENOBUFS: replies were lost; fail what waits for them
                self._fail_all(KernelError("recv", "netlink XFRM", e.strerror or str(e),
                                           e.errno))
                return
            try:
                for msg in m.split(data):
                    self._dispatch(msg)
            except KernelError:
                self.bad_messages += 1

    def _dispatch(self, msg: m.Message) -> None:
        pending = self._pending.get(msg.seq)
        if pending is None:
            batch = self._batches.get(msg.seq)
            if batch is not None and msg.type == m.NLMSG_ERROR:
                code = m.error_code(msg)
                i = (msg.seq - batch.first_seq) & 0xFFFFFFFF
                if code and i < len(batch.items):
                    _t, _f, _p, op, what = batch.items[i]
                    batch.results[i] = KernelError(op, _subject(what), os.strerror(code), code)
            return
        if msg.type == m.NLMSG_ERROR:
            code = m.error_code(msg)
            del self._pending[msg.seq]
            if code:
                pending.future.set_exception(KernelError(
                    pending.op, pending.subject, os.strerror(code), code))
            else:
                pending.future.set_result(pending.parts)
        elif msg.type == m.NLMSG_DONE:
            del self._pending[msg.seq]
            pending.future.set_result(pending.parts)
        else:
            pending.parts.append(msg)
            if not pending.dump and not msg.flags & m.F_MULTI:
                del self._pending[msg.seq]
                pending.future.set_result(pending.parts)

    def _fail_all(self, error: KernelError) -> None:
        for p in self._pending.values():
            if not p.future.done():
                p.future.set_exception(error)
        self._pending.clear()

    def _on_events(self) -> None:
        while True:
            try:
                data = self._events_sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ENOBUFS: events were lost
                self.dropped_events += 1
                continue
            try:
                for msg in m.split(data):
                    event = m.unpack_event(msg)
                    if event is None:
                        continue
                    try:
                        self._events.put_nowait(event)
                    except asyncio.QueueFull:
                        self.dropped_events += 1
            except KernelError:
                self.bad_messages += 1

    def _register(self, seq: int, op: str, subject: str, dump: bool = False
                  ) -> asyncio.Future[list[m.Message]]:
        future: asyncio.Future[list[m.Message]] = self._loop.create_future()
        self._pending[seq] = _Pending(future, op, subject, dump)
        return future

    def _send(self, data: bytes, failed: Sequence[int], op: str, subject: str) -> None:
        try:
            self._sock.send(data)
        except OSError as e:
            for seq in failed:
                p = self._pending.pop(seq, None)
                if p is not None and not p.future.done():
                    p.future.set_exception(KernelError(op, subject, e.strerror or str(e),
                                                       e.errno))

    async def _request(self, msg_type: int, flags: int, payload: bytes, op: str,
                       subject: str) -> list[m.Message]:
        if self._closed:
            raise KernelError(op, subject, "backend closed")
        seq = next(self._seq) & 0xFFFFFFFF
        future = self._register(seq, op, subject, dump=bool(flags & m.F_DUMP == m.F_DUMP))
        self._send(m.nlmsg(msg_type, m.F_REQUEST | flags, seq, payload), [seq], op, subject)
        return await future

    async def _batch(self, items: Sequence[tuple[int, int, bytes, str, object]]
                     ) -> list[KernelError | None]:
        """Many requests in few sends; one result per item (None: done).

        No request asks for an ACK, so the kernel answers only failures; a final NOOP with an
        ACK is the barrier: netlink handles a socket's messages in order, so once its ACK is
        back every failure has been reported.  The fifth element of an item is the policy, key or SA
an error names; it is only turned into text on failure.
        """
        if not items:
            return []
        first = next(self._seq) & 0xFFFFFFFF
        for _ in range(len(items) - 1):
            next(self._seq)
        batch = _Batch(items, first, [None] * len(items))
        seqs = [(first + i) & 0xFFFFFFFF for i in range(len(items))]
        for seq in seqs:
            self._batches[seq] = batch
        try:
            chunk: list[bytes] = []
            size = 0
            for seq, (msg_type, flags, payload, _op, _subject) in zip(seqs, items, strict=True):
                data = m.nlmsg(msg_type, m.F_REQUEST | flags, seq, payload)
                chunk.append(data)
                size += len(data)
                if size >= BATCH_BYTES:
                    self._send_batch(b"".join(chunk), batch)
                    chunk, size = [], 0
            if chunk:
                self._send_batch(b"".join(chunk), batch)
            await self._request(m.NLMSG_NOOP, m.F_ACK, b"", items[0][3], "batch barrier")
        finally:
            for seq in seqs:
                self._batches.pop(seq, None)
        return batch.results

    def _send_batch(self, data: bytes, batch: _Batch) -> None:
        try:
            self._sock.send(data)
        except OSError as e:
            _t, _f, _p, op, _subject = batch.items[0]
            raise KernelError(op, "batch", e.strerror or str(e), e.errno) from None

    # -- KernelBackend ----------------------------------------------------------------------------

    async def capabilities(self) -> api.Capabilities:
        """What this kernel can install (probed once)."""
        if self._capabilities is None:
            self._capabilities = probe_capabilities()
        return self._capabilities

    async def alloc_spi(self, proto: api.Proto, src: Address, dst: Address, reqid: int, *,
                        lo: int = 0x100, hi: int = 0xFFFFFFFF, seq: int = 0) -> int:
        """ALLOCSPI: a larval SA with a fresh SPI in ``lo``..``hi``."""
        subject = f"SA {proto.name} {src} -> {dst} reqid {reqid}"
        reply = await self._request(m.ALLOCSPI, 0, m.pack_alloc_spi(proto, src, dst, reqid, lo,
                                                                    hi, seq),
                                    "ALLOCSPI", subject)
        if not reply or reply[0].type != m.NEWSA:
            raise KernelError("ALLOCSPI", subject, "the kernel sent no SA back")
        return m.unpack_sa(reply[0].payload, "ALLOCSPI reply").spec.spi

    async def add_sa(self, sa: api.SaSpec) -> None:
        """NEWSA."""
        await self._request(m.NEWSA, m.F_ACK | m.F_CREATE | m.F_EXCL, m.pack_sa(sa), "NEWSA",
                            str(sa.key))

    async def update_sa(self, sa: api.SaSpec) -> None:
        """UPDSA (fills a larval SA from ALLOCSPI, or replaces one)."""
        await self._request(m.UPDSA, m.F_ACK, m.pack_sa(sa), "UPDSA", str(sa.key))

    async def del_sa(self, key: api.SaKey) -> None:
        """DELSA."""
        await self._request(m.DELSA, m.F_ACK, m.pack_sa_id(key), "DELSA", str(key))

    async def get_sa(self, key: api.SaKey) -> api.SaInfo:
        """GETSA: one SA with counters."""
        reply = await self._request(m.GETSA, 0, m.pack_sa_id(key), "GETSA", str(key))
        if not reply:
            raise KernelError("GETSA", str(key), "the kernel sent no SA back")
        return m.unpack_sa(reply[0].payload, "GETSA reply")

    async def dump_sas(self) -> list[api.SaInfo]:
        """Every SA."""
        parts = await self._request(m.GETSA, m.F_DUMP, b"", "GETSA dump", "all SAs")
        return [m.unpack_sa(p.payload, "SA dump") for p in parts if p.type == m.NEWSA]

    async def _lookup(self, sp: api.PolicySpec, op: str) -> api.PolicyKey:
        reply = await self._request(m.GETPOLICY, 0, m.pack_policy_id(sp.key), op, str(sp.key))
        if not reply:
            raise KernelError(op, str(sp.key), "the kernel sent no policy back")
        return m.unpack_policy(reply[0].payload, f"{op} reply").key

    async def add_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """NEWPOLICY; returns the key with the index the kernel chose."""
        await self._request(m.NEWPOLICY, m.F_ACK | m.F_CREATE | m.F_EXCL, m.pack_policy(sp),
                            "NEWPOLICY", str(sp.key))
        return await self._lookup(sp, "NEWPOLICY")

    async def add_policies(self, sps: Sequence[api.PolicySpec], *, indexes: bool = True
                           ) -> list[api.PolicyKey | KernelError]:
        """Many NEWPOLICY in few sends, then one dump for the indexes the kernel chose.

        With ``indexes=False`` the dump is skipped and the keys carry index 0.
        """
        results = await self._add_packed(self.pack_policies(sps), sps, indexes)
        return [r if isinstance(r, KernelError) else
                api.PolicyKey(sp.direction, sp.selector, sp.mark, sp.if_id, r)
                for sp, r in zip(sps, results, strict=True)]

    def pack_policies(self, sps: Sequence[api.PolicySpec]) -> list[bytes]:
        """The NEWPOLICY payloads of ``sps`` (:class:`~racoon2.kernel.api.PackedPolicies`)."""
        return [m.pack_policy(sp) for sp in sps]

    async def add_packed(self, payloads: Sequence[bytes]) -> list[int | KernelError]:
        """:meth:`add_policies` from payloads :meth:`pack_policies` made: each policy's kernel
        index, or the error; an error names the payload by its position."""
        return await self._add_packed(payloads, range(len(payloads)), True)

    async def _add_packed(self, payloads: Sequence[bytes], subjects: Sequence[object],
                          indexes: bool) -> list[int | KernelError]:
        if not payloads:
            return []
        errors = await self._batch([
            (m.NEWPOLICY, m.F_CREATE | m.F_EXCL, data, "NEWPOLICY", subject)
            for data, subject in zip(payloads, subjects, strict=True)])
        found = await self._indexes() if indexes else None
        out: list[int | KernelError] = []
        for data, subject, error in zip(payloads, subjects, errors, strict=True):
            # The payload's own (index 0, direction) field names its direction.
            number = m.INDEX_DIR.unpack_from(data, m.INDEX_OFFSET)[1]
            index = found.get((data[:m.SELECTOR.size], number)) if found else 0
            if error is not None:
                out.append(error)
            elif index is None:
                out.append(KernelError("NEWPOLICY", _subject(subject), "installed but not found"))
            else:
                out.append(index)
        return out

    async def _indexes(self) -> dict[tuple[bytes, int], int]:
        """(raw selector, direction) → kernel index, read from a dump without full decoding."""
        parts = await self._request(m.GETPOLICY, m.F_DUMP, b"", "GETPOLICY dump", "all policies")
        out: dict[tuple[bytes, int], int] = {}
        for part in parts:
            if part.type == m.NEWPOLICY and len(part.payload) >= m.USERPOLICY_INFO.size:
                index, direction = m.INDEX_DIR.unpack_from(part.payload, m.INDEX_OFFSET)
                out[(part.payload[:m.SELECTOR.size], direction)] = index
        return out

    async def update_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """UPDPOLICY: install or replace (the kernel keeps the index of a replaced policy)."""
        await self._request(m.UPDPOLICY, m.F_ACK, m.pack_policy(sp), "UPDPOLICY", str(sp.key))
        return await self._lookup(sp, "UPDPOLICY")

    async def del_policy(self, key: api.PolicyKey) -> None:
        """DELPOLICY by index or by selector and direction."""
        await self._request(m.DELPOLICY, m.F_ACK, m.pack_policy_id(key), "DELPOLICY", str(key))

    async def dump_policies(self, owner: api.Owner | None = None) -> list[api.PolicyInfo]:
        """Every policy, or only ``owner``'s."""
        parts = await self._request(m.GETPOLICY, m.F_DUMP, b"", "GETPOLICY dump", "all policies")
        infos = [m.unpack_policy(p.payload, "policy dump") for p in parts
                 if p.type == m.NEWPOLICY and not _socket_policy(p)]
        return infos if owner is None else [i for i in infos if i.owner is owner]

    async def flush_own(self, owner: api.Owner) -> None:
        """Delete ``owner``'s policies and the SAs their templates' reqids name."""
        mine = await self.dump_policies(owner)
        reqids = {t.reqid for i in mine for t in i.spec.templates if t.reqid}
        await self._batch([(m.DELPOLICY, 0, m.pack_policy_id(i.key), "DELPOLICY", i)
                           for i in mine])
        if reqids:
            sas = [s for s in await self.dump_sas() if s.spec.reqid in reqids]
            await self._batch([(m.DELSA, 0, m.pack_sa_id(s.key), "DELSA", s)
                               for s in sas])

    async def migrate(self, mig: api.Migration) -> None:
        """MIGRATE the SAs and templates of one policy."""
        subject = str(api.PolicyKey(mig.direction, mig.selector))
        await self._request(m.MIGRATE, m.F_ACK, m.pack_migrate(mig), "MIGRATE", subject)

    async def events(self) -> AsyncIterator[api.KernelEvent]:
        """ACQUIRE, EXPIRE, POLEXPIRE, MIGRATE and MAPPING events as they arrive."""
        while not self._closed:
            yield await self._events.get()


def _subject(thing: object) -> str:
    """How an error names a policy, key or SA."""
    return str(getattr(thing, "key", thing))
