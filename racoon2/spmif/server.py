"""asyncio glue for spmd's spmif server: the Unix socket, one task per client.

The protocol object decides every reply; this module only moves bytes, applies time limits and
calls the handler, a plain function ``(command, session) -> Reply`` (or a coroutine function, for
handlers that must wait for the kernel).  A client that sends garbage, stops mid-line, never reads
its replies, never logs in or falls silent loses only its own connection, and its descriptor and
buffers are freed at once.

Room for a new login is always kept (the C spmd had no client limit and no idle timeout, only
SO_KEEPALIVE).  Connections that have not logged in yet have their own small table
(``max_unauthenticated``) and a short login timeout; when it is full, a newcomer pushes out the
oldest of them, so a flood of silent connections delays a real client by at most one login round
trip instead of locking it out.  Logged-in clients have a table of ``max_clients``; when it is
full, a connection that has just logged in takes the place of the client that has been silent
longest (a stuck or forgotten one, since a client in use is never silent for long), and any
logged-in client silent for ``idle_timeout`` is dropped.  iked and kinkd stay for days with
nothing to ask, so their client sends a keep-alive STAT (see
:meth:`racoon2.spmif.client.SpmifClient.keep_alive`) well within the idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import socket
import stat
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from racoon2.errors import SpmifError
from racoon2.spmif import replies
from racoon2.spmif.commands import Command
from racoon2.spmif.protocol import (
    NEED_DATA,
    ConnectionClosed,
    ProtocolViolation,
    ServerConnection,
    make_challenge,
)
from racoon2.spmif.replies import Reply

log = logging.getLogger("racoon2.spmif")

SUN_PATH_MAX = 108
BACKLOG = 64  # the C server's 5 refuses bursts of clients connecting together
READ_SIZE = 4096
SEED_LEN = 256  # bytes of /dev/urandom hashed into each challenge, as spmd did


@dataclass(frozen=True, slots=True)
class Session:
    """Who is on a connection: a serial number and the peer's credentials (SO_PEERCRED)."""

    id: int
    pid: int | None = None
    uid: int | None = None

    def __str__(self) -> str:
        who = f" pid={self.pid} uid={self.uid}" if self.pid is not None else ""
        return f"spmif#{self.id}{who}"


@dataclass(frozen=True, slots=True)
class Limits:
    """Time and size limits per connection (seconds; ``None`` means no limit)."""

    login_timeout: float | None = 10.0  # from accept to a successful LOGIN
    line_timeout: float | None = 10.0  # to finish a request line once started
    write_timeout: float | None = 10.0  # for the client to take a reply off the socket
    # Logged in and silent; iked and kinkd send a keep-alive every KEEPALIVE_INTERVAL (60 s).
    idle_timeout: float | None = 300.0
    max_clients: int = 256  # logged-in connections
    max_unauthenticated: int = BACKLOG  # yet to log in: a burst as large as the listen queue


@dataclass(eq=False, slots=True)
class _Client:
    """One connection's bookkeeping: what the admission and eviction rules look at."""

    session: Session
    writer: asyncio.StreamWriter
    task: asyncio.Task[None]
    last_request: float  # loop time of accept or of the last complete request line
    authenticated: bool = False


Handler = Callable[[Command, Session], Reply | Awaitable[Reply]]


def check_socket_dir(directory: str) -> None:
    """Refuse a socket directory others could tamper with: it must be ours and mode 0700."""
    try:
        st = os.lstat(directory)
    except OSError as err:
        raise SpmifError(f"{directory}: spmif socket directory: {err.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SpmifError(f"{directory}: spmif socket directory is not a directory")
    if st.st_uid != os.geteuid():
        raise SpmifError(
            f"{directory}: spmif socket directory is owned by uid {st.st_uid}, "
            f"not {os.geteuid()}; chown it"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SpmifError(
            f"{directory}: spmif socket directory has mode {mode:04o}; chmod 700 it"
        )


def bind_unix(path: str | os.PathLike[str]) -> socket.socket:
    """A listening Unix socket at ``path`` (mode 0600) after the directory check."""
    name = os.path.abspath(os.fsdecode(path))
    if len(os.fsencode(name)) >= SUN_PATH_MAX:
        raise SpmifError(f"{name}: socket path longer than {SUN_PATH_MAX - 1} bytes")
    check_socket_dir(os.path.dirname(name))
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(name).st_mode):
            raise SpmifError(f"{name}: a directory is in the way of the spmif socket")
        os.unlink(name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(name)
        # The directory is private, so the short window before chmod exposes nothing.
        os.chmod(name, 0o600)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise SpmifError(f"{name}: cannot listen: {err.strerror}") from None
    return sock


def _peer(writer: asyncio.StreamWriter) -> tuple[int | None, int | None]:
    sock = writer.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None, None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None, None
    pid, uid, _gid = struct.unpack("3i", raw)
    return pid, uid


class SpmifServer:
    """A running spmif listener; use :func:`serve` to make one."""

    def __init__(self, path: str, password: bytes, handler: Handler, limits: Limits) -> None:
        self.path = path
        self._password = password
        self._handler = handler
        self._limits = limits
        self._server: asyncio.AbstractServer | None = None
        self._clients: dict[asyncio.Task[None], _Client] = {}
        self._ids = itertools.count(1)
        self._inode: int | None = None

    @property
    def clients(self) -> int:
        """Number of connections being served."""
        return len(self._clients)

    async def start(self) -> None:
        """Bind the socket and start accepting."""
        sock = bind_unix(self.path)
        self._inode = os.stat(self.path).st_ino
        self._server = await asyncio.start_unix_server(self._accept, sock=sock)
        log.info("spmif listening on %s", self.path)

    def close(self) -> None:
        """Stop accepting, drop every connection and remove the socket file."""
        if self._server is not None:
            self._server.close()
        for task in self._clients:
            task.cancel()
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        self._inode = None

    async def wait_closed(self) -> None:
        """Wait until the listener and every connection task have finished."""
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> SpmifServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        pid, uid = _peer(writer)
        session = Session(next(self._ids), pid, uid)
        client = _Client(session, writer, task, asyncio.get_running_loop().time())
        waiting = [c for c in self._clients.values() if not c.authenticated]
        if len(waiting) >= self._limits.max_unauthenticated:
            self._evict(min(waiting, key=lambda c: c.last_request), f"{session} wants to log in")
        self._clients[task] = client
        clean = False
        try:
            await self._serve_one(reader, client)
            clean = True
        except asyncio.CancelledError:
            # close() is shutting down; ending quietly spares the error Python 3.11's stream
            # callback logs for every cancelled connection task.
            log.debug("%s: server closing", session)
        except (ConnectionError, TimeoutError) as err:
            log.info("%s: dropped: %s", session, err or type(err).__name__)
        except Exception:
            # A bug must cost this one connection only, never the listener or other clients.
            log.exception("%s: internal error; connection closed", session)
        finally:
            try:
                if clean:
                    await self._close_gracefully(writer)
            finally:
                self._clients.pop(task, None)
                # Dropped, or the last reply never left: abort frees the descriptor and the
                # write buffer now (close() would keep both until the peer reads or leaves).
                writer.transport.abort()
                log.debug("%s: closed", session)

    def _evict(self, victim: _Client, why: str) -> None:
        log.warning("%s: dropped to make room: %s", victim.session, why)
        self._clients.pop(victim.task, None)
        # Its task sees the connection lost at its next read or write and ends by itself.
        victim.writer.transport.abort()

    def _logged_in(self, client: _Client) -> None:
        client.authenticated = True
        others = [c for c in self._clients.values() if c.authenticated and c is not client]
        if len(others) >= self._limits.max_clients:
            self._evict(min(others, key=lambda c: c.last_request),
                        f"{len(others)} clients logged in, {client.session} is new")

    async def _close_gracefully(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._limits.write_timeout):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        limits = self._limits
        writer, session = client.writer, client.session
        conn = ServerConnection(make_challenge(os.urandom(SEED_LEN)), self._password)
        login_deadline = (
            None if limits.login_timeout is None else loop.time() + limits.login_timeout
        )
        log.debug("%s: connected", session)
        await self._write(writer, conn.greeting())
        while not conn.closed:
            event = conn.next_event()
            if event is NEED_DATA:
                if conn.partial:
                    timeout, why = limits.line_timeout, "request line left unfinished"
                elif not conn.authenticated and login_deadline is not None:
                    timeout, why = max(0.0, login_deadline - loop.time()), "no LOGIN in time"
                else:
                    timeout, why = limits.idle_timeout, "idle too long"
                try:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    log.info("%s: %s; closing", session, why)
                    return
                conn.receive_data(data)
                continue
            if isinstance(event, ConnectionClosed):
                if event.partial:
                    log.info("%s: client left in the middle of a request", session)
                return
            client.last_request = loop.time()
            if isinstance(event, ProtocolViolation):
                log.info("%s: %s: %s", session, event.reason, event.reply)
                reply = event.reply
            else:
                reply = conn.builtin_reply(event) or await self._handle(event, session)
                log.debug("%s: %s -> %d", session, type(event).__name__, reply.code)
                if conn.authenticated and not client.authenticated:
                    self._logged_in(client)
            await self._write(writer, conn.send(reply))

    async def _handle(self, command: Command, session: Session) -> Reply:
        try:
            result = self._handler(command, session)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("%s: internal error handling %s", session, type(command).__name__)
            return replies.internal_error()
        if not isinstance(result, Reply):
            log.error("%s: handler returned %r, not a Reply", session, result)
            return replies.internal_error()
        return result

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        try:
            async with asyncio.timeout(self._limits.write_timeout):
                await writer.drain()
        except TimeoutError:
            raise TimeoutError("client does not read its replies") from None


class TcpSpmifServer(SpmifServer):
    """spmif on a TCP address: the original's debug transport (doc/spmif.md §1).

    Same login and commands as the Unix socket; only the password protects it, and the
    traffic is in clear, so it belongs on loopback.
    """

    def __init__(self, host: str, port: int, password: bytes, handler: Handler,
                 limits: Limits) -> None:
        super().__init__(f"{host} port {port}", password, handler, limits)
        self.host = host
        self.port = port

    async def start(self) -> None:
        """Bind (SO_REUSEADDR; IPv6 sockets IPV6_V6ONLY, as spmd did) and start accepting."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((self.host, self.port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError as err:
            sock.close()
            raise SpmifError(f"{self.path}: cannot listen: {err.strerror}") from None
        if self.port == 0:
            self.port = sock.getsockname()[1]
            self.path = f"{self.host} port {self.port}"
        self._server = await asyncio.start_server(self._accept_tcp, sock=sock)
        log.info("spmif listening on %s (TCP)", self.path)

    async def _accept_tcp(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Replies are single short lines the client waits for (doc/spmif.md §1).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        log.info("spmif TCP connection from %s", writer.get_extra_info("peername"))
        await self._accept(reader, writer)


async def serve_tcp(host: str, port: int, password: bytes, handler: Handler,
                    limits: Limits | None = None) -> TcpSpmifServer:
    """Listen for spmif on TCP ``host`` (numeric) ``port``; otherwise as :func:`serve`."""
    if not password:
        raise SpmifError("the spmif password is empty; create it with pskgen -r")
    server = TcpSpmifServer(host, port, password, handler, limits or Limits())
    await server.start()
    return server


async def serve(
    path: str | os.PathLike[str],
    password: bytes,
    handler: Handler,
    limits: Limits | None = None,
) -> SpmifServer:
    """Listen on the Unix socket ``path`` and answer clients with ``handler``.

    ``password`` is the raw content of the spmd_password file (see
    :func:`racoon2.spmif.secret.read_password`).  Close with ``server.close()`` and
    ``await server.wait_closed()``, or use the server as an async context manager.
    """
    if not password:
        raise SpmifError("the spmif password is empty; create it with pskgen -r")
    server = SpmifServer(os.fsdecode(path), password, handler, limits or Limits())
    await server.start()
    return server
