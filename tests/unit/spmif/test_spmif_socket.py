"""spmif client and server over a real Unix socket in a private temporary directory."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from racoon2.config import loads
from racoon2.errors import SpmifError
from racoon2.ipsec import Mode
from racoon2.net import Address
from racoon2.spmif import replies
from racoon2.spmif.client import KEEPALIVE_INTERVAL, SpmifClient, connect, connect_configured
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
    Slid,
    Stat,
)
from racoon2.spmif.protocol import login_response
from racoon2.spmif.replies import Reply
from racoon2.spmif.secret import read_password
from racoon2.spmif.server import Limits, Session, SpmifServer, bind_unix, serve

PASSWORD = bytes(range(16))
FAST = Limits(login_timeout=2.0, line_timeout=0.5, write_timeout=0.5)


@dataclass
class FakeSpmd:
    """An in-memory stand-in for spmd/commands.py: selectors a<->b, one tunnel selector gw."""

    installed: dict[str, int] = field(default_factory=dict)
    servers: list[Address] = field(default_factory=lambda: [ip_address("192.0.2.53")])
    fqdns: list[str] = field(default_factory=list)
    seen: list[Command] = field(default_factory=list)

    def __call__(self, cmd: Command, session: Session) -> Reply:
        self.seen.append(cmd)
        match cmd:
            case Stat():
                return replies.stat(list(range(9)))
            case PolicyAdd(idx):
                if idx not in ("a", "b", "gw"):
                    return replies.selector_not_found()
                reverse = {"a": "b", "b": "a", "gw": "gw_in"}[idx]
                self.installed[idx] = 100 + len(self.installed)
                return replies.policy_added(idx, reverse)
            case PolicyDelete(idx):
                if self.installed.pop(idx, None) is None:
                    return replies.operation_failed()
                return replies.policy_deleted()
            case PolicyDump():
                return replies.policy_dump(sorted(self.installed.items()))
            case Migrate(idx):
                return replies.migrated(idx) if idx == "gw" else replies.selector_not_found()
            case Slid(spid):
                for idx, known in self.installed.items():
                    if known == spid:
                        return replies.slid(idx)
                return replies.no_such_spid(spid)
            case NsList():
                return replies.ns_list([str(s) for s in self.servers])
            case NsAdd(addr):
                if addr in self.servers:
                    return replies.ns_already_exists(str(addr))
                self.servers.insert(0, addr)
                return replies.ns_added(str(addr))
            case NsDelete(addr):
                if addr not in self.servers:
                    return replies.ns_does_not_exist()
                self.servers.remove(addr)
                return replies.ns_deleted(str(addr))
            case NsChange(addr):
                if addr not in self.servers:
                    return replies.ns_not_in_list(str(addr))
                self.servers.remove(addr)
                self.servers.insert(0, addr)
                return replies.ns_changed(str(addr))
            case FqdnList():
                return replies.fqdn_list(self.fqdns)
            case FqdnQuery(addr):
                return replies.fqdn_query(["gw.example.", "gw2.example."]
                                          if addr == ip_address("198.51.100.7") else [])
            case FqdnAdd(name):
                if name in self.fqdns:
                    return replies.fqdn_already_registered()
                self.fqdns.append(name)
                return replies.fqdn_registered()
            case FqdnDelete(name):
                if name not in self.fqdns:
                    return replies.fqdn_no_such()
                self.fqdns.remove(name)
                return replies.fqdn_deregistered()
        return replies.operation_failed()


@pytest.fixture
def sockdir(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    d.chmod(0o700)
    return d


@asynccontextmanager
async def running(
    sockdir: Path,
    handler: Callable[[Command, Session], Reply | Awaitable[Reply]] | None = None,
    limits: Limits = FAST,
) -> AsyncIterator[SpmifServer]:
    server = await serve(sockdir / "spmif", PASSWORD, handler or FakeSpmd(), limits)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def run(coro: Awaitable[None], limit: float = 30.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(limit):
            await coro

    asyncio.run(bounded())


# --- the socket itself --------------------------------------------------------------------------


def test_socket_is_mode_0600_and_removed_on_close(sockdir: Path) -> None:
    async def main() -> None:
        path = sockdir / "spmif"
        path.write_text("stale")  # an old file at the path is replaced, as spmd did
        async with running(sockdir):
            st = os.lstat(path)
            assert stat.S_ISSOCK(st.st_mode)
            assert stat.S_IMODE(st.st_mode) == 0o600
        assert not path.exists()

    run(main())


def test_unsafe_socket_directory_is_refused(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    with pytest.raises(SpmifError, match="chmod 700"):
        bind_unix(loose / "spmif")
    with pytest.raises(SpmifError, match="not a directory"):
        (tmp_path / "file").write_text("")
        bind_unix(tmp_path / "file" / "spmif")
    with pytest.raises(SpmifError, match="longer than"):
        bind_unix(tmp_path / ("x" * 120))


# --- every command, end to end ------------------------------------------------------------------


def test_round_trip_of_every_command(sockdir: Path) -> None:
    async def main() -> None:
        fake = FakeSpmd()
        async with running(sockdir, fake):
            c = await connect(sockdir / "spmif", PASSWORD, timeout=5)
            assert c.authenticated
            assert await c.stat() == {name: i for i, name in enumerate(replies.STAT_NAMES)}
            assert await c.policy_dump() == []
            text = await c.policy_add("a", 3600, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                                      ip_network("198.51.100.7/32"))
            assert text == "Policy Added a and b"
            await c.policy_add("gw", 0, Mode.TUNNEL, ip_network("10.1.0.0/16"),
                               ip_network("10.2.0.0/16"), ip_address("192.0.2.1"),
                               ip_address("198.51.100.7"))
            with pytest.raises(SpmifError) as err:
                await c.policy_add("nope", 0, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                                   ip_network("198.51.100.7/32"))
            assert err.value.code == 550
            assert await c.policy_dump() == [("a", 100), ("gw", 101)]
            assert await c.slid(101) == "gw"
            with pytest.raises(SpmifError) as err:
                await c.slid(7)
            assert err.value.code == 551
            await c.migrate("gw", ip_address("192.0.2.1"), ip_address("198.51.100.7"),
                            ip_address("203.0.113.9"), ip_address("198.51.100.7"))
            await c.policy_delete("a")  # spmdctl's one-argument form now works
            await c.policy_delete("gw", Mode.TUNNEL, ip_network("10.1.0.0/16"),
                                  ip_network("10.2.0.0/16"), ip_address("192.0.2.1"),
                                  ip_address("198.51.100.7"))
            assert await c.policy_dump() == []
            assert await c.ns_list() == [ip_address("192.0.2.53")]
            await c.ns_add(ip_address("2001:db8::53"))
            with pytest.raises(SpmifError) as err:
                await c.ns_add(ip_address("2001:db8::53"))
            assert err.value.code == 551
            await c.ns_change(ip_address("192.0.2.53"))
            assert await c.ns_list() == [ip_address("192.0.2.53"), ip_address("2001:db8::53")]
            await c.ns_delete(ip_address("2001:db8::53"))
            assert await c.fqdn_list() == []
            await c.fqdn_add("host.example")
            await c.fqdn_add("other.example.")
            with pytest.raises(SpmifError) as err:
                await c.fqdn_add("host.example")
            assert err.value.code == 550
            assert await c.fqdn_list() == ["host.example.", "other.example."]
            await c.fqdn_delete("host.example")
            assert await c.fqdn_list() == ["other.example."]
            assert await c.fqdn_query(ip_address("198.51.100.7")) == ["gw.example", "gw2.example"]
            assert await c.fqdn_query(ip_address("192.0.2.1")) == []
            await c.quit()
            with pytest.raises(SpmifError):
                await c.stat()
        assert {type(cmd) for cmd in fake.seen} == {
            Stat, PolicyAdd, PolicyDelete, PolicyDump, Migrate, Slid, NsList, NsAdd, NsDelete,
            NsChange, FqdnList, FqdnQuery, FqdnAdd, FqdnDelete,
        }

    run(main())


def test_wrong_password_and_login_only_once(sockdir: Path) -> None:
    async def main() -> None:
        async with running(sockdir):
            c = await SpmifClient.open(sockdir / "spmif", timeout=5)
            with pytest.raises(SpmifError) as err:
                await c.login(b"not the password")
            assert err.value.code == 550
            with pytest.raises(SpmifError):
                await c.login(PASSWORD)  # the challenge is gone: reconnect
            reply = await c.request(Stat())
            assert reply == replies.need_login()
            await c.close()
            good = await connect([sockdir / "missing", sockdir / "spmif"], PASSWORD, timeout=5)
            assert good.authenticated
            await good.close()

    run(main())


def test_connect_errors_name_the_socket(sockdir: Path) -> None:
    async def main() -> None:
        with pytest.raises(SpmifError, match="is spmd running"):
            await connect(sockdir / "spmif", PASSWORD, timeout=5)

    run(main())


def test_async_handler_and_crashing_handler(sockdir: Path) -> None:
    async def handler(cmd: Command, session: Session) -> Reply:
        await asyncio.sleep(0)
        if isinstance(cmd, Slid):
            raise RuntimeError("bug in the handler")
        return replies.stat([1] * 9)

    async def main() -> None:
        async with running(sockdir, handler):
            c = await connect(sockdir / "spmif", PASSWORD, timeout=5)
            assert (await c.stat())["DNS QUERY"] == 1
            assert await c.request(Slid(1)) == replies.internal_error()
            assert (await c.stat())["CACHE FQDN"] == 1
            await c.quit()

    run(main())


def test_requests_from_concurrent_tasks_are_serialised(sockdir: Path) -> None:
    async def main() -> None:
        fake = FakeSpmd()
        async with running(sockdir, fake):
            c = await connect(sockdir / "spmif", PASSWORD, timeout=5)
            results = await asyncio.gather(*(c.stat() for _ in range(20)))
            assert all(r["CACHE TOTAL FQDN"] == 8 for r in results)
            await c.quit()

    run(main())


def test_server_shutdown_drops_connected_clients(sockdir: Path) -> None:
    async def main() -> None:
        server = await serve(sockdir / "spmif", PASSWORD, FakeSpmd(), FAST)
        c = await connect(sockdir / "spmif", PASSWORD, timeout=5)
        server.close()
        await server.wait_closed()
        assert server.clients == 0
        assert not (sockdir / "spmif").exists()
        with pytest.raises(SpmifError, match="closed the connection|connection lost"):
            await c.stat()
        with pytest.raises(SpmifError, match="unusable"):
            await c.stat()

    run(main())


# --- misbehaving clients ------------------------------------------------------------------------


async def raw_client(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    greeting = await reader.readline()
    assert greeting.startswith(b"220 ") and greeting.endswith(b"\r\n")
    return reader, writer, greeting[4:-2].decode()


async def raw_login(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer, challenge = await raw_client(path)
    writer.write(f"LOGIN {login_response(challenge, PASSWORD)}\r\n".encode())
    assert await reader.readline() == b"250 OK\r\n"
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    while True:
        try:
            data = await reader.read(65536)
        except ConnectionError:
            return True
        if not data:
            return True


def test_over_long_line_gets_a_reply_and_a_close(sockdir: Path) -> None:
    async def main() -> None:
        async with running(sockdir):
            reader, writer = await raw_login(sockdir / "spmif")
            writer.write(b"STAT" + b" " * 600 + b"\r\n")
            assert await reader.readline() == b"500 Line Too Long\r\n"
            assert await closed_by_server(reader)
            writer.close()

    run(main())


def test_garbage_then_a_good_command(sockdir: Path) -> None:
    async def main() -> None:
        async with running(sockdir):
            reader, writer = await raw_login(sockdir / "spmif")
            writer.write(b"\x00\xff\xfe\x01\r\n")
            assert await reader.readline() == b"500 Syntax Error\r\n"
            writer.write(b"FROB\r\n")
            assert await reader.readline() == b"502 Command not implemented\r\n"
            writer.write(b"POLICY DUMP\r\n")
            assert await reader.readline() == b"251 NO Policy Exists\r\n"
            writer.close()

    run(main())


def test_timeouts_close_silent_clients(sockdir: Path) -> None:
    async def main() -> None:
        limits = Limits(login_timeout=0.3, line_timeout=0.3, write_timeout=0.3,
                        idle_timeout=0.3)
        async with running(sockdir, limits=limits) as server:
            never_logs_in, w1, _ = await raw_client(sockdir / "spmif")
            half_line, w2 = await raw_login(sockdir / "spmif")
            w2.write(b"POLICY ADD a 0 tra")
            idle, w3 = await raw_login(sockdir / "spmif")
            assert await closed_by_server(never_logs_in)
            assert await closed_by_server(half_line)
            assert await closed_by_server(idle)
            assert server.clients == 0
            for w in (w1, w2, w3):
                w.close()

    run(main())


def test_keep_alive_outlives_the_idle_timeout(sockdir: Path, tmp_path: Path) -> None:
    """iked and kinkd connect with connect_configured, which keeps a silent connection alive."""
    assert KEEPALIVE_INTERVAL * 3 <= (Limits().idle_timeout or 0)
    pwd = tmp_path / "spmd.pwd"
    pwd.write_bytes(PASSWORD)
    pwd.chmod(0o600)
    config = loads(f'interface {{ spmd {{ unix "{sockdir / "spmif"}"; }}; '
                   f'spmd_password "{pwd}"; }};')

    async def main() -> None:
        fake = FakeSpmd()
        limits = Limits(idle_timeout=0.5)
        async with running(sockdir, fake, limits) as server:
            daemon = await connect_configured(config, keepalive=0.1)
            # Two silent clients dropped one after the other: the daemon's connection has been
            # quiet (for its own code) for more than twice the idle timeout.
            for _ in range(2):
                idle, writer = await raw_login(sockdir / "spmif")
                assert await closed_by_server(idle)
                writer.close()
            assert server.clients == 1
            assert fake.seen.count(Stat()) >= 2
            assert (await daemon.stat())["CACHE TOTAL FQDN"] == 8
            await daemon.quit()

    run(main())


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _eventually(condition: Callable[[], bool], limit: float = 10.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.01)


def test_clients_that_never_read_are_freed_at_once(sockdir: Path) -> None:
    """Dropped non-readers leave no descriptor and no buffered replies behind on spmd's side."""
    big = Reply(250, tuple(f"{i:04d} " + "x" * 395 for i in range(100)))  # 40 KB a reply
    clients = 200

    async def non_reader(loop: asyncio.AbstractEventLoop) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, str(sockdir / "spmif"))
        greeting = await loop.sock_recv(sock, 64)
        challenge = greeting[4:44].decode()
        await loop.sock_sendall(sock, f"LOGIN {login_response(challenge, PASSWORD)}\r\n".encode())
        assert await loop.sock_recv(sock, 64) == b"250 OK\r\n"
        await loop.sock_sendall(sock, b"STAT\r\n" * 20)  # 800 KB of replies nobody reads
        return sock

    async def main() -> None:
        loop = asyncio.get_running_loop()
        limits = Limits(write_timeout=0.2)
        async with running(sockdir, lambda cmd, session: big, limits) as server:
            fds, rss = _fds(), _rss_kib()
            socks = [await non_reader(loop) for _ in range(clients)]
            await _eventually(lambda: server.clients == 0)
            # Only the test's own ends remain open.
            await _eventually(lambda: _fds() <= fds + clients, limit=2)
            # What spmd freed may stay in malloc's free lists; trimming them shows what is held.
            ctypes.CDLL(None).malloc_trim(0)
            grown = _rss_kib() - rss
            assert grown < 4 * 1024, f"RSS grew by {grown} KiB"  # 18 MB when buffers were kept
            for sock in socks:
                sock.close()
            assert _fds() == fds

    run(main(), limit=60)


def test_a_full_table_admits_a_new_login_in_place_of_the_longest_idle(sockdir: Path) -> None:
    async def main() -> None:
        async with running(sockdir, limits=Limits()) as server:
            table = [await raw_login(sockdir / "spmif") for _ in range(256)]
            assert server.clients == 256
            table[0][1].write(b"STAT\r\n")  # the oldest is busy, the second is now idlest
            assert (await table[0][0].readline()).startswith(b"250-")
            newcomer = await connect(sockdir / "spmif", PASSWORD, timeout=5)
            assert await closed_by_server(table[1][0])
            assert server.clients == 256
            assert (await newcomer.stat())["CACHE TOTAL FQDN"] == 8
            table[0][1].write(b"STAT\r\n")
            assert (await table[0][0].readline()).startswith(b"250-")
            await newcomer.quit()
            for _, writer in table:
                writer.close()

    run(main())


def test_silent_unauthenticated_connections_do_not_lock_out_a_login(sockdir: Path) -> None:
    async def main() -> None:
        async with running(sockdir, limits=Limits()) as server:
            silent = [await raw_client(sockdir / "spmif") for _ in range(300)]
            assert server.clients == Limits().max_unauthenticated
            client = await connect(sockdir / "spmif", PASSWORD, timeout=5)
            assert (await client.stat())["CACHE TOTAL FQDN"] == 8
            assert await closed_by_server(silent[-Limits().max_unauthenticated][0])
            await client.quit()
            for _, writer, _ in silent:
                writer.close()

    run(main())


def test_fifty_clients_with_misbehaving_ones(sockdir: Path) -> None:
    """50 well-behaved clients get correct answers while others misbehave."""
    path = sockdir / "spmif"

    async def good(n: int) -> float:
        t0 = time.monotonic()
        c = await connect(path, PASSWORD, timeout=10)
        for i in range(5):
            idx = "a" if (n + i) % 2 else "b"
            assert await c.policy_add(idx, 60, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                                      ip_network("198.51.100.7/32")) == (
                f"Policy Added {idx} and {'b' if idx == 'a' else 'a'}")
            counters = await c.stat()
            assert counters["CACHE TOTAL FQDN"] == 8
            with pytest.raises(SpmifError):
                await c.slid(999_999)
        await c.quit()
        return time.monotonic() - t0

    # The good clients start once every misbehaving one has done its harm, and the one that
    # never reads keeps its connection (and spmd's backed-up replies) until they are through.
    misbehaving = [asyncio.Event() for _ in range(3)]
    good_done = asyncio.Event()

    async def garbage(harm_done: asyncio.Event) -> None:
        reader, writer, _ = await raw_client(path)
        writer.write(os.urandom(300).replace(b"\n", b"") + b"\r\n")
        writer.write(b"\xff" * 5000)
        await writer.drain()
        harm_done.set()
        await closed_by_server(reader)
        writer.close()

    async def vanishes_mid_command(harm_done: asyncio.Event) -> None:
        _, writer = await raw_login(path)
        writer.write(b"POLICY ADD a 60 transport 192.0")
        await writer.drain()
        writer.transport.abort()
        harm_done.set()

    async def never_reads(harm_done: asyncio.Event) -> None:
        reader, writer = await raw_login(path)
        # Shrink our receive buffer so the server's writes back up quickly.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(3000):
            writer.write(b"STAT\r\n")
        harm_done.set()
        await good_done.wait()
        writer.transport.abort()

    async def main() -> None:
        async with running(sockdir, FakeSpmd()) as server:
            bad = [asyncio.create_task(misbehave(harm_done)) for misbehave, harm_done in zip(
                (garbage, vanishes_mid_command, never_reads), misbehaving, strict=True)]
            for harm_done in misbehaving:
                await harm_done.wait()
            t0 = time.monotonic()
            try:
                durations = await asyncio.gather(*(good(n) for n in range(50)))
            finally:
                good_done.set()
            elapsed = time.monotonic() - t0
            assert elapsed < 10, f"50 clients took {elapsed:.1f}s"
            assert max(durations) < 10
            await asyncio.gather(*bad)
            await _eventually(lambda: server.clients == 0)

    run(main(), limit=60)


# --- the password file --------------------------------------------------------------------------


def test_read_password_checks_mode_type_and_content(tmp_path: Path) -> None:
    pwd = tmp_path / "spmd.pwd"
    pwd.write_bytes(PASSWORD)
    pwd.chmod(0o600)
    assert read_password(pwd) == PASSWORD
    pwd.chmod(0o640)
    with pytest.raises(SpmifError, match="chmod 600"):
        read_password(pwd)
    pwd.chmod(0o600)
    link = tmp_path / "link.pwd"
    link.symlink_to(pwd)
    with pytest.raises(SpmifError):
        read_password(link)
    empty = tmp_path / "empty.pwd"
    empty.write_bytes(b"")
    empty.chmod(0o600)
    with pytest.raises(SpmifError, match="pskgen"):
        read_password(empty)
    with pytest.raises(SpmifError, match="cannot open"):
        read_password(tmp_path / "missing")
    with pytest.raises(SpmifError, match="not a regular file"):
        read_password(tmp_path)
