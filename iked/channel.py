"""The channel between iked's coordinator and one of its workers (iked -j N).

A Unix stream socket pair carries length-prefixed pickled messages (both ends are this program,
started by the coordinator: nothing else can write to it), requests with their answers in both
directions: the coordinator asks a worker to serve an ikedctl command or to initiate for an
ACQUIRE, a worker asks the coordinator to pass a request to spmd.  A datagram socket pair
beside it carries the UDP sockets' descriptors (SCM_RIGHTS), sent before the message that
names their endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

from racoon2.errors import ControlError, Racoon2Error

log = logging.getLogger("iked")
_LEN = struct.Struct("!I")
MAX_FDS = 64  # descriptors in one message at most (one per endpoint)

#: Serves one message: (kind, payload, the descriptors it came with) -> the answer.
Handler = Callable[[str, object, list[socket.socket]], Awaitable[object]]


def pair() -> tuple[tuple[socket.socket, socket.socket], tuple[socket.socket, socket.socket]]:
    """(stream, descriptors) for the coordinator, and the same for the worker."""
    s1, s2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    return (s1, d1), (s2, d2)


def write_frame(sock: socket.socket, obj: object) -> None:
    """Send one message on a blocking stream socket (the worker's start, before the loop)."""
    data = pickle.dumps(obj)
    sock.sendall(_LEN.pack(len(data)) + data)


def read_frame(sock: socket.socket) -> object:
    """Read one message :func:`write_frame` sent (blocking)."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise Racoon2Error("the iked coordinator closed the channel at start")
            data += chunk
        return data
    return pickle.loads(exactly(_LEN.unpack(exactly(_LEN.size))[0]))


def _error(e: Racoon2Error) -> tuple[str, str, str | None]:
    return type(e).__name__, e.message, e.hint


def _raise(kind: str, message: str, hint: str | None) -> Racoon2Error:
    # The caller sees the kind of error it would have seen in one process: a refused
    # ikedctl command stays a ControlError.
    return ControlError(message, hint) if kind == "ControlError" else Racoon2Error(message, hint)


class Channel:
    """One end of a coordinator-worker channel."""

    def __init__(self, stream: socket.socket, fds: socket.socket, handler: Handler) -> None:
        self._stream, self._fds, self._handler = stream, fds, handler
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Set when the other end has gone (its process ended).
        self.closed = asyncio.Event()
        self._connected = asyncio.Event()

    async def serve(self) -> None:
        """Read and serve messages until the other end closes the channel."""
        reader, self._writer = await asyncio.open_unix_connection(sock=self._stream)
        self._connected.set()
        try:
            while True:
                head = await reader.readexactly(_LEN.size)
                message = pickle.loads(await reader.readexactly(_LEN.unpack(head)[0]))
                self._dispatch(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(Racoon2Error("the iked worker channel closed"))

    def _dispatch(self, message: tuple[object, ...]) -> None:
        match message:
            case ("reply", int(ident), ok, value):
                future = self._waiting.pop(ident, None)
                if future is not None and not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        assert isinstance(value, tuple)
                        future.set_exception(_raise(*value))
            case ("call", int(ident), str(kind), payload, int(nfds)):
                fds = self._take_fds(nfds)
                task = asyncio.get_running_loop().create_task(self._answer(ident, kind,
                                                                           payload, fds))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            case _:
                log.error("iked worker channel: unexpected message %.80r", message)

    def _take_fds(self, n: int) -> list[socket.socket]:
        if not n:
            return []
        # Sent before the message, so already queued: this does not block.
        _, fds, _, _ = socket.recv_fds(self._fds, 16, n)
        return [socket.socket(fileno=fd) for fd in fds]

    async def _answer(self, ident: int, kind: str, payload: object,
                      fds: list[socket.socket]) -> None:
        try:
            reply: tuple[object, ...] = ("reply", ident, True,
                                         await self._handler(kind, payload, fds))
        except Racoon2Error as e:
            reply = ("reply", ident, False, _error(e))
        self._write(reply)

    def _write(self, message: tuple[object, ...]) -> None:
        if self._writer is None or self._writer.is_closing():
            raise Racoon2Error("the iked worker channel is closed")
        data = pickle.dumps(message)
        self._writer.write(_LEN.pack(len(data)) + data)

    async def call(self, kind: str, payload: object = None,
                   fds: Sequence[socket.socket] = ()) -> object:
        """Ask the other end: its answer, or the Racoon2Error it raised."""
        await self._connected.wait()
        ident = next(self._ids)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        if fds:
            socket.send_fds(self._fds, [b"f"], [s.fileno() for s in fds])
        self._write(("call", ident, kind, payload, len(fds)))
        try:
            return await future
        finally:
            self._waiting.pop(ident, None)

    def close(self) -> None:
        """Close both sockets."""
        if self._writer is not None:
            self._writer.close()
        with contextlib.suppress(OSError):
            self._stream.close()
        self._fds.close()
