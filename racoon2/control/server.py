"""The control socket's asyncio server: a Unix stream socket at mode 0600 whose clients must be
root or the daemon's own user (SO_PEERCRED, checked on connect), served one request line at a
time by :mod:`racoon2.control.protocol` (doc/ikedctl.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

from racoon2.control.protocol import (
    Command,
    LineBuffer,
    Oversized,
    Request,
    answer,
    error,
    parse,
)
from racoon2.errors import ControlError, Racoon2Error

#: What serves a request: its result, a JSON-able value; ControlError to refuse it.
Handler = Callable[[Request], Awaitable[object]]
#: A client silent this long is disconnected: a stuck ikedctl must not hold a socket forever.
IDLE_TIMEOUT = 60.0
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket."""
    _, uid, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                              _UCRED.size))
    return int(uid)


def _alive(path: str) -> bool:
    """Whether a daemon answers on ``path`` (else it is a dead one's, to replace)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class ControlServer:
    """One daemon's control socket."""

    def __init__(self, path: str, commands: Sequence[Command], handler: Handler,
                 log: logging.Logger) -> None:
        self.path = path
        self.commands = commands
        self.handler = handler
        self.log = log
        self._server: asyncio.AbstractServer | None = None

    async def open(self) -> None:
        """Bind the socket (a stale one from a dead daemon is replaced), mode 0600."""
        directory = os.path.dirname(self.path)
        try:
            if directory:
                os.makedirs(directory, 0o755, exist_ok=True)
            if _alive(self.path):
                raise Racoon2Error(f"control socket {self.path} is in use by another daemon",
                                   hint="give this one its own with --ctl-socket")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            # Created 0600 from the start: no moment in which another user could connect.
            old = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(self._client, self.path)
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
        except OSError as e:
            raise Racoon2Error(f"cannot open the control socket {self.path}: {e.strerror}",
                               hint="another daemon running? see --ctl-socket") from None
        self.log.info("control socket %s", self.path)

    async def close(self) -> None:
        """Stop serving and remove the socket."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock)
            if uid not in (0, os.geteuid()):
                self.log.warning("control socket: refused a client of uid %d", uid)
                writer.write(error(f"permission denied: uid {uid} is neither root nor the "
                                   "daemon's user"))
                await writer.drain()
                return
            await self._serve(reader, writer)
        except (TimeoutError, OSError):
            pass  # the client went away or fell silent: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = LineBuffer()
        while True:
            data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT)
            if not data:
                return
            for line in lines.feed(data):
                writer.write(await self._one(line))
            await writer.drain()

    async def _one(self, line: bytes | Oversized) -> bytes:
        try:
            request = parse(line, self.commands)
        except ControlError as e:
            return error(str(e))
        self.log.debug("control socket: %s %s", request.command, " ".join(request.args))
        try:
            return answer(request.command, await self.handler(request))
        except Racoon2Error as e:
            return error(str(e))
        except Exception as e:  # a bug in one command must not stop the daemon
            self.log.exception("control socket: %s failed", request.command)
            return error(f"internal error: {type(e).__name__}: {e}")


async def open_control(path: str, commands: Sequence[Command], handler: Handler,
                       log: logging.Logger) -> ControlServer | None:
    """A daemon's control socket at ``path`` ("" for none); without one (in use, no
    directory) the daemon still runs, the error logged: the tunnels matter more than the
    ctl tool."""
    if not path:
        return None
    server = ControlServer(path, commands, handler, log)
    try:
        await server.open()
    except Racoon2Error as e:
        log.error("%s; running without a control socket", e)
        return None
    return server


#: log-level's words, and the logging levels they set.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


def level_name(level: int) -> str:
    """The log-level word of a logging level."""
    return next((k for k, v in LEVELS.items() if v == level), logging.getLevelName(level))


def set_level(word: str, log: logging.Logger) -> dict[str, object]:
    """``log-level LEVEL`` of iked and kinkd: the root logger's level from now on (SIGUSR2
    in iked goes back to the command line's)."""
    level = LEVELS.get(word.lower())
    if level is None:
        raise ControlError(f"unknown log level {word!r}", hint=", ".join(LEVELS))
    root = logging.getLogger()
    before = level_name(root.level)
    root.setLevel(level)
    log.warning("log level %s (was %s), set over the control socket", word.lower(), before)
    return {"log_level": word.lower(), "was": before}
