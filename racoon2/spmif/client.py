"""asyncio spmif client for iked, kinkd and spmdctl.

One request is on the wire at a time (an :class:`asyncio.Lock` queues the rest, as the C library's
request queue did).  Helpers return parsed results and raise :class:`SpmifError` (with the reply
code) when spmd refuses.  A timeout, cancellation or malformed reply in the middle of a request
leaves the stream out of step, so the connection is closed and later calls fail: reconnecting is
the caller's decision (iked exits, kinkd retries on reload).

spmd drops a logged-in client that stays silent for its idle timeout (300 s by default), while
iked and kinkd may have nothing to ask for days: :func:`connect_configured`, which they use,
turns on :meth:`SpmifClient.keep_alive`, a STAT after every quiet minute.  STAT is read-only and
answered by every spmd, the C one included.  (Exempting "daemon" connections on the server side
instead would need a mark the protocol does not have: iked sends nothing before its first
ACQUIRE, and a C iked or spmdctl looks the same.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from racoon2.config import Config
from racoon2.config.model import AddrKind, AddrSpec
from racoon2.errors import SpmifError
from racoon2.ipsec import Mode
from racoon2.net import Address, Prefix, parse_address
from racoon2.spmif import replies
from racoon2.spmif.commands import (
    Command,
    FqdnAdd,
    FqdnDelete,
    FqdnList,
    FqdnQuery,
    Migrate,
    NsAdd,
    NsChange,
    NsDelete,
    NsList,
    PolicyAdd,
    PolicyDelete,
    PolicyDump,
    Quit,
    Slid,
    Stat,
)
from racoon2.spmif.protocol import NEED_DATA, ClientConnection, ConnectionClosed
from racoon2.spmif.replies import Reply
from racoon2.spmif.secret import read_password

READ_SIZE = 4096
DEFAULT_TCP_PORT = 9555  # doc/spmif.md §1
#: Where spmd listens: a Unix socket path, or a TCP (host, port).
Target = str | os.PathLike[str] | tuple[str, int]
KEEPALIVE_INTERVAL = 60.0  # a fifth of spmd's default idle timeout (server.Limits)

log = logging.getLogger("racoon2.spmif")


class Spmd(Protocol):
    """What a daemon asks of spmd: a :class:`SpmifClient`, or (iked -j) a worker's way to it
    through the coordinator's session."""

    async def request(self, command: Command) -> Reply:
        """Send one command, wait for spmd's reply."""
        ...

    async def slid(self, spid: int) -> str:
        """The selector name of the kernel policy ``spid``."""
        ...

    async def close(self) -> None:
        """End the session."""
        ...


class SpmifClient:
    """A connection to spmd; make one with :func:`connect` or :meth:`open`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        path: str,
        timeout: float | None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self._reader = reader
        self._writer = writer
        self._conn = ClientConnection()
        self._lock = asyncio.Lock()
        self._broken: str | None = None
        self._last_request = 0.0  # loop time the last request was sent
        self._keepalive: asyncio.Task[None] | None = None
        self.authenticated = False

    @classmethod
    async def open(cls, path: Target, timeout: float | None = 30.0) -> SpmifClient:
        """Connect to the Unix socket ``path`` (or TCP ``(host, port)``), read the greeting."""
        name = f"{path[0]} port {path[1]}" if isinstance(path, tuple) else os.fsdecode(path)
        try:
            async with asyncio.timeout(timeout):
                if isinstance(path, tuple):
                    reader, writer = await asyncio.open_connection(path[0], path[1])
                else:
                    reader, writer = await asyncio.open_unix_connection(name)
        except TimeoutError:
            raise SpmifError(f"{name}: spmd did not accept the connection in time") from None
        except OSError as err:
            raise SpmifError(
                f"{name}: cannot connect to spmd: {err.strerror or err}; is spmd running?"
            ) from None
        client = cls(reader, writer, name, timeout)
        try:
            async with asyncio.timeout(timeout):
                await client._read_reply()
        except TimeoutError:
            await client.close()
            raise SpmifError(f"{name}: no greeting from spmd in {timeout}s") from None
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def challenge(self) -> str | None:
        """The challenge from spmd's greeting."""
        return self._conn.challenge

    async def login(self, password: bytes) -> None:
        """Answer the challenge with the spmd_password file content; raise SpmifError if refused.

        spmd accepts only one LOGIN per connection: after a refusal, reconnect.
        """
        reply = await self.request(self._conn.login_command(password))
        if reply.code != replies.OK:
            raise SpmifError(
                f"{self.path}: spmd refused the LOGIN ({reply}); check spmd_password", reply.code
            )
        self.authenticated = True

    async def request(self, command: Command) -> Reply:
        """Send one command and return spmd's complete reply, whatever its code."""
        async with self._lock:
            if self._broken is not None:
                raise SpmifError(f"{self.path}: connection to spmd is unusable: {self._broken}")
            self._last_request = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(self.timeout):
                    data = self._conn.send(command)
                    self._writer.write(data)
                    await self._writer.drain()
                    return await self._read_reply()
            except TimeoutError:
                await self._break(f"no reply to {type(command).__name__} in {self.timeout}s")
                raise SpmifError(f"{self.path}: {self._broken}") from None
            except OSError as err:
                await self._break(f"connection lost: {err}")
                raise SpmifError(f"{self.path}: {self._broken}") from None
            except SpmifError as err:
                if not self._conn.ready:
                    await self._break(err.message)
                raise
            except BaseException:
                await self._break(f"{type(command).__name__} was cancelled mid-request")
                raise

    def keep_alive(self, interval: float = KEEPALIVE_INTERVAL) -> None:
        """Send STAT whenever no request has gone out for ``interval`` seconds, until closed.

        Keep ``interval`` well below spmd's idle timeout.  A failed keep-alive breaks the
        connection as any failed request does, and the next request reports it.
        """
        if self._keepalive is None and self._broken is None:
            self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive(interval))

    async def _keep_alive(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while self._broken is None:
            await asyncio.sleep(self._last_request + interval - loop.time())
            if self._broken is None and loop.time() - self._last_request >= interval:
                try:
                    await self.request(Stat())
                except SpmifError as err:
                    log.warning("%s: keep-alive failed: %s", self.path, err.message)

    async def _read_reply(self) -> Reply:
        while True:
            event = self._conn.next_event()
            if event is NEED_DATA:
                self._conn.receive_data(await self._reader.read(READ_SIZE))
            elif isinstance(event, ConnectionClosed):
                raise SpmifError(f"{self.path}: spmd closed the connection")
            else:
                return event

    async def _break(self, why: str) -> None:
        self._broken = why
        await self.close()

    async def close(self) -> None:
        """Close the socket without QUIT (kinkd sends QUIT first; see :meth:`quit`)."""
        if self._broken is None:
            self._broken = "closed"
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def __aenter__(self) -> SpmifClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _ok(self, command: Command) -> Reply:
        reply = await self.request(command)
        if not reply.ok:
            raise SpmifError(f"spmd refused {type(command).__name__}: {reply}", reply.code)
        return reply

    # --- typed helpers --------------------------------------------------------------------------

    async def quit(self) -> None:
        """Send QUIT, read ``250 BYE`` and close."""
        try:
            await self._ok(Quit())
        finally:
            await self.close()

    async def stat(self) -> dict[str, int]:
        """STAT counters by name (``DNS QUERY`` … ``CACHE TOTAL FQDN``)."""
        reply = await self._ok(Stat())
        counters: dict[str, int] = {}
        for line in reply.lines:
            name, sep, value = line.rpartition(" = ")
            if not sep or not value.isdigit():
                raise SpmifError(f"STAT line {line!r} is not 'NAME = number'", reply.code)
            counters[name] = int(value)
        return counters

    async def policy_add(
        self,
        selector_index: str,
        lifetime: int,
        mode: Mode,
        src: Prefix,
        dst: Prefix,
        sa_src: Address | None = None,
        sa_dst: Address | None = None,
    ) -> str:
        """Install the generated policy pair; returns the reply text (``Policy Added …``)."""
        cmd = PolicyAdd(selector_index, lifetime, mode, src, dst, sa_src, sa_dst)
        return (await self._ok(cmd)).text

    async def policy_delete(
        self,
        selector_index: str,
        mode: Mode | None = None,
        src: Prefix | None = None,
        dst: Prefix | None = None,
        sa_src: Address | None = None,
        sa_dst: Address | None = None,
    ) -> None:
        """Delete the policies installed for a selector (only those matching, if ``mode``)."""
        await self._ok(PolicyDelete(selector_index, mode, src, dst, sa_src, sa_dst))

    async def policy_dump(self) -> list[tuple[str, int]]:
        """``(selector_index, spid)`` of every policy spmd installed."""
        reply = await self._ok(PolicyDump())
        if reply.code == replies.OK_EMPTY:
            return []
        entries = []
        for line in reply.lines:
            slid, sep, spid = line.rpartition(" ")
            if not sep or not slid or not spid.isdigit():
                raise SpmifError(f"POLICY DUMP line {line!r} is not 'SLID SPID'", reply.code)
            entries.append((slid, int(spid)))
        return entries

    async def migrate(
        self,
        selector_index: str,
        old_src: Address,
        old_dst: Address,
        new_src: Address,
        new_dst: Address,
    ) -> None:
        """Move a selector's tunnel endpoints from old_src/old_dst to new_src/new_dst."""
        await self._ok(Migrate(selector_index, old_src, old_dst, new_src, new_dst))

    async def slid(self, spid: int) -> str:
        """The selector index spmd knows for kernel policy id ``spid`` (551 if unknown)."""
        reply = await self.request(Slid(spid))
        if reply.code != replies.OK:
            raise SpmifError(f"spmd has no selector for SP id {spid}: {reply}", reply.code)
        return reply.text

    async def ns_list(self) -> list[Address]:
        """The DNS proxy's upstream servers, current first (empty when the resolver is off)."""
        reply = await self._ok(NsList())
        if reply.code == replies.OK_EMPTY:
            return []
        try:
            return [parse_address(line) for line in reply.lines]
        except ValueError:
            raise SpmifError(f"NS LIST reply {reply} holds a non-address", reply.code) from None

    async def ns_add(self, addr: Address) -> None:
        """Add an upstream name server and make it current."""
        await self._ok(NsAdd(addr))

    async def ns_delete(self, addr: Address) -> None:
        """Remove an upstream name server."""
        await self._ok(NsDelete(addr))

    async def ns_change(self, addr: Address) -> None:
        """Make a listed upstream name server the current one."""
        await self._ok(NsChange(addr))

    async def fqdn_list(self) -> list[str]:
        """The registered FQDNs, each ending in a dot."""
        reply = await self._ok(FqdnList())
        return [] if reply.code == replies.OK_EMPTY else list(reply.lines)

    async def fqdn_query(self, addr: Address) -> list[str]:
        """Cached host names of ``addr`` without the trailing dot; empty when not cached."""
        reply = await self.request(FqdnQuery(addr))
        if reply.code == replies.NOT_CACHED:
            return []
        if reply.code != replies.OK:
            raise SpmifError(f"spmd refused FqdnQuery: {reply}", reply.code)
        return [line.removesuffix(".") for line in reply.lines]

    async def fqdn_add(self, name: str) -> None:
        """Register an FQDN in spmd's cache."""
        await self._ok(FqdnAdd(name if name.endswith(".") else name + "."))

    async def fqdn_delete(self, name: str) -> None:
        """Deregister an FQDN."""
        await self._ok(FqdnDelete(name if name.endswith(".") else name + "."))


async def connect(
    paths: str | os.PathLike[str] | Sequence[Target],
    password: bytes | None = None,
    timeout: float | None = 30.0,
) -> SpmifClient:
    """Connect (and log in when ``password`` is given) to the first socket that answers.

    ``paths`` is one socket path or the ``interface spmd`` entries in configuration order
    (see :func:`targets`).
    """
    candidates = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    if not candidates:
        raise SpmifError("no spmd interface configured", None)
    errors: list[str] = []
    for path in candidates:
        try:
            client = await SpmifClient.open(path, timeout)
        except SpmifError as err:
            errors.append(err.message)
            continue
        if password is not None:
            try:
                await client.login(password)
            except BaseException:
                await client.close()
                raise
        return client
    raise SpmifError("; ".join(errors))


async def connect_configured(
    config: Config, keepalive: float = KEEPALIVE_INTERVAL
) -> SpmifClient:
    """Connect and log in to the spmd that ``interface { spmd …; spmd_password …; }`` names
    (iked, kinkd); SpmifError naming what is missing when the section lacks either.

    The connection sends a keep-alive every ``keepalive`` quiet seconds (see the module doc).
    """
    iface = config.interface
    if iface is None or iface.spmd_password is None or not iface.spmd:
        raise SpmifError(f"{config.file}: needs interface {{ spmd ...; spmd_password ...; }}")
    client = await connect(targets(iface.spmd), read_password(iface.spmd_password))
    client.keep_alive(keepalive)
    return client


def targets(entries: Sequence[AddrSpec]) -> list[Target]:
    """The ``interface { spmd …; }`` entries as connect targets, in configuration order:
    ``unix "PATH"`` → PATH, an address or host name → TCP (default port 9555)."""
    out: list[Target] = []
    for spec in entries:
        if spec.kind is AddrKind.UNIX:
            out.append(spec.text)
        elif spec.kind in (AddrKind.INET, AddrKind.FQDN):
            host = str(spec.address) if spec.address is not None else spec.text
            out.append((host, spec.port or DEFAULT_TCP_PORT))
    return out
