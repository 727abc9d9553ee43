"""racoon2.sdnotify against a real AF_UNIX datagram socket as NOTIFY_SOCKET (path and abstract
namespace), as systemd's manager listens (sd_notify(3))."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from racoon2.sdnotify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A manager's socket on a file path."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    """One datagram's KEY=value lines."""
    data = sock.recv(4096).decode()
    assert data.endswith("\n")
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_with_status(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready("2 IKE SA(s)")
    assert fields(sock) == {"READY": "1", "STATUS": "2 IKE SA(s)"}


def test_abstract_namespace() -> None:
    name = f"racoon2-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert fields(sock) == {"STOPPING": "1"}


def test_status_only_on_change(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier(path)
    notifier.status("0 IKE SA(s)")
    notifier.status("0 IKE SA(s)")
    notifier.status("1 IKE SA(s)")
    assert fields(sock) == {"STATUS": "0 IKE SA(s)"}
    assert fields(sock) == {"STATUS": "1 IKE SA(s)"}
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_reloading_carries_monotonic_usec(listener: tuple[str, socket.socket]) -> None:
    # systemd 253's Type=notify-reload wants MONOTONIC_USEC with RELOADING=1; 252 ignores it.
    path, sock = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier(path).reloading()
    got = fields(sock)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert got["RELOADING"] == "1"
    assert before <= int(got["MONOTONIC_USEC"]) <= after


def test_environment_is_consumed() -> None:
    # Hook scripts that iked runs must not inherit the manager's socket (sd_notify's
    # unset_environment).
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7",
           "PATH": "/bin"}
    Notifier.from_environ(env, pid=7)
    assert env == {"PATH": "/bin"}


def test_watchdog_interval_and_pid() -> None:
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000"},
                                 pid=7).watchdog_interval == 2.0
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000",
                                  "WATCHDOG_PID": "7"}, pid=7).watchdog_interval == 2.0
    # Another process's watchdog (a child that inherited the variables): none for us.
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000",
                                  "WATCHDOG_PID": "8"}, pid=7).watchdog_interval is None
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "0"},
                                 pid=7).watchdog_interval is None
    assert Notifier.from_environ({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "x"},
                                 pid=7).watchdog_interval is None


def test_watchdog_pings_while_the_loop_turns(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier(path, watchdog_usec=100_000)  # a ping every 50 ms

    async def main() -> None:
        task = asyncio.create_task(notifier.watchdog())
        await asyncio.sleep(0.13)
        time.sleep(0.3)  # a wedged loop: no ping meanwhile
        task.cancel()

    asyncio.run(main())
    sock.setblocking(False)
    pings = 0
    while True:
        try:
            assert sock.recv(100) == b"WATCHDOG=1\n"
        except BlockingIOError:
            break
        pings += 1
    assert pings == 3  # at 0, 50 and 100 ms; none during the 300 ms wedge


def test_without_a_manager_nothing_is_sent() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    notifier.ready()
    asyncio.run(notifier.watchdog())  # returns at once


def test_a_vanished_manager_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.send("READY=1") is False
    notifier.close()
