"""One worker of ``iked -j N`` (``python -m iked.worker STREAM_FD FDS_FD``, started by
:mod:`iked.coordinator`): a whole :class:`~iked.shell.Iked` with its own cores and kernel
requests, serving the sockets, ACQUIREs and ikedctl commands the coordinator hands it over the
channel (:mod:`iked.channel`) and reaching spmd through the coordinator's session.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from iked.channel import Channel, read_frame
from iked.launch import serve
from iked.process import Settings
from iked.shell import Iked
from racoon2 import log as racoon2_log
from racoon2 import sdnotify
from racoon2.config import Config, load_config
from racoon2.control.protocol import Request
from racoon2.errors import Racoon2Error
from racoon2.net import Endpoint
from racoon2.spmif.commands import Command
from racoon2.spmif.replies import Reply

log = logging.getLogger("iked")


@dataclass(frozen=True, slots=True)
class Start:
    """The coordinator's first message to a worker: what its command line would say."""

    config_path: str
    settings: Settings  # with the worker's Role


class Spmd:
    """spmd, through the coordinator's one session (spmd takes one iked login)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def request(self, command: Command) -> Reply:
        """Pass ``command`` to spmd; its reply."""
        reply = await self.channel.call("spmif", command)
        assert isinstance(reply, Reply)
        return reply

    async def slid(self, spid: int) -> str:
        """spmd's name for the selector of kernel policy ``spid``."""
        return str(await self.channel.call("slid", spid))

    async def close(self) -> None:
        """The coordinator's session outlives the worker: nothing to close."""


class Ready(sdnotify.Notifier):
    """The worker's READY=1 goes to the coordinator, which tells the service manager once
    every worker serves."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(None)
        self.channel = channel
        self._sent: set[asyncio.Task[object]] = set()

    def ready(self, status: str | None = None) -> None:
        """Tell the coordinator this worker serves."""
        task = asyncio.get_running_loop().create_task(self.channel.call("ready", os.getpid()))
        self._sent.add(task)
        task.add_done_callback(self._sent.discard)


class Worker:
    """The worker's end of the channel: what the coordinator asks of this :class:`Iked`."""

    def __init__(self, stream: socket.socket, fds: socket.socket) -> None:
        self.channel = Channel(stream, fds, self.handle)
        self.iked: Iked | None = None
        self._serving: asyncio.Task[None] | None = None

    async def spmd(self, config: Config) -> Spmd:
        """The way to spmd for :func:`iked.launch.serve`."""
        return Spmd(self.channel)

    def setup(self, iked: Iked) -> None:
        """Take ``iked`` before it runs: serve the channel; its end stops the worker."""
        self.iked = iked
        iked.notify = Ready(self.channel)
        self._serving = asyncio.get_running_loop().create_task(self._serve(iked))

    async def _serve(self, iked: Iked) -> None:
        await self.channel.serve()
        log.error("the coordinator has gone: stopping")
        iked.request_stop()

    async def handle(self, kind: str, payload: object, fds: list[socket.socket]) -> object:
        """One request of the coordinator."""
        iked = self.iked
        assert iked is not None
        match kind, payload:
            case "sockets", (list(added), list(removed)):
                for ep in removed:
                    iked.sockets.discard(ep)
                for ep, sock in zip(added, fds, strict=True):
                    assert isinstance(ep, Endpoint)
                    iked.sockets.adopt(ep, sock)
                iked.handed_sockets.set()
                return None
            case "ctl", Request() as request:
                return await iked.control.handle(request)
            case "acquire", (str(selector), IPv4Address() | IPv6Address() as dst,
                             IPv4Address() | IPv6Address() as src):
                iked.core.initiate(selector, time.monotonic(), dst, src)
                iked.wake()
                return None
            case "trace", bool(on):
                (iked.trace_on if on else iked.trace_off)()
                return None
        raise Racoon2Error(f"iked worker: unknown request {kind!r}")


def _prefix(index: int) -> None:
    # Every line says which worker wrote it: one IKE SA's lines all name the same one.
    make = logging.getLogRecordFactory()

    def record(*args: object, **kwargs: object) -> logging.LogRecord:
        r = make(*args, **kwargs)
        r.msg = f"worker {index}: {r.msg}"
        return r
    logging.setLogRecordFactory(record)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the worker until SIGTERM or the coordinator's end."""
    args = sys.argv[1:] if argv is None else argv
    stream, fds = (socket.socket(fileno=int(fd)) for fd in args[:2])
    start = read_frame(stream)
    assert isinstance(start, Start) and start.settings.role is not None
    foreground, debug, logfile = start.settings.log_setup
    racoon2_log.setup("iked", foreground=foreground, debug=debug, logfile=logfile)
    _prefix(start.settings.role.index)
    try:
        config = load_config(start.config_path)
    except Racoon2Error as e:
        log.error("%s", e)
        return 1
    worker = Worker(stream, fds)
    try:
        return asyncio.run(serve(config, start.settings, worker.spmd, worker.setup))
    except Racoon2Error as e:
        log.error("%s", e)
        return 1


if __name__ == "__main__":
    # The coordinator pickled an iked.worker.Start: unpickle against that module, not this
    # copy run as __main__.
    from iked.worker import main as worker_main
    sys.exit(worker_main())
