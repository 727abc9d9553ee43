"""spmif over TCP on loopback: same login and commands as the Unix socket."""

from __future__ import annotations

import asyncio
import os
from ipaddress import ip_address
from pathlib import Path

import pytest
from test_spmif_socket import FAST, PASSWORD, FakeSpmd, run

from racoon2.config import loads
from racoon2.errors import SpmifError
from racoon2.spmif.client import connect, connect_configured, targets
from racoon2.spmif.server import serve_tcp


def test_login_and_commands_over_tcp() -> None:
    async def main() -> None:
        server = await serve_tcp("127.0.0.1", 0, PASSWORD, FakeSpmd(), FAST)
        try:
            port = server.port
            client = await connect([("127.0.0.1", port)], PASSWORD)
            assert client.authenticated and client.path == f"127.0.0.1 port {port}"
            assert await client.ns_list() == [ip_address("192.0.2.53")]
            await client.quit()
            with pytest.raises(SpmifError, match="refused the LOGIN"):
                await connect([("127.0.0.1", port)], b"wrong")
        finally:
            server.close()
            await server.wait_closed()
    run(main())


def test_targets_keep_configuration_order_and_default_port(tmp_path: Path) -> None:
    cfg = loads('interface { spmd { unix "/run/x/spmif"; 127.0.0.1 port 9556; ::1; '
                'localhost; }; };')
    assert cfg.interface is not None
    assert targets(cfg.interface.spmd) == ["/run/x/spmif", ("127.0.0.1", 9556),
                                           ("::1", 9555), ("localhost", 9555)]


def test_iked_and_kinkd_connect_when_the_config_names_only_tcp(tmp_path: Path) -> None:
    pwd = tmp_path / "spmd.pwd"
    fd = os.open(pwd, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, PASSWORD)
    os.close(fd)

    async def main() -> None:
        server = await serve_tcp("127.0.0.1", 0, PASSWORD, FakeSpmd(), FAST)
        try:
            port = server.port
            cfg = loads(f'interface {{ spmd {{ unix "{tmp_path}/absent"; 127.0.0.1 port '
                        f'{port}; }}; spmd_password "{pwd}"; }};')
            client = await connect_configured(cfg)  # the Unix entry fails, TCP answers
            assert client.authenticated
            await client.quit()
        finally:
            server.close()
            await server.wait_closed()
    run(main())


def test_a_busy_port_is_a_clear_error() -> None:
    async def main() -> None:
        server = await serve_tcp("127.0.0.1", 0, PASSWORD, FakeSpmd(), FAST)
        try:
            port = server.port
            blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
            busy = blocker.sockets[0].getsockname()[1]
            with pytest.raises(SpmifError, match=f"127.0.0.1 port {busy}: cannot listen"):
                await serve_tcp("127.0.0.1", busy, PASSWORD, FakeSpmd(), FAST)
            blocker.close()
            assert port
        finally:
            server.close()
            await server.wait_closed()
    run(main())
