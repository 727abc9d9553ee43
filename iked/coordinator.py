"""``iked -j N``: N worker processes on every core, and the coordinator that runs them.

The coordinator binds each ``interface ike`` endpoint as a SO_REUSEPORT group of N sockets
(:mod:`iked.reuseport`) whose BPF program steers every datagram to the worker holding its IKE
SA (:mod:`iked.steering`), starts the workers (:mod:`iked.worker`) and hands each its sockets,
and keeps what must be one for the whole daemon: the spmd session (the workers' spmif requests
pass through it), the kernel's ACQUIREs (each goes to the worker chosen by its selector, so
that one worker initiates for one selector), the cookies' secret (every worker makes and
checks the same cookies), the control socket (answers merged by :mod:`iked.ctl_merge`), the
signals, the reload, and the removal of stale kernel SAs before the workers start and after
they end.  A worker that dies is started again with the same sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import time
import zlib
from dataclasses import dataclass, field, replace

from iked import ctl_merge
from iked.channel import Channel, pair, write_frame
from iked.control import initiate_target, peer_selector
from iked.ctl import COMMANDS
from iked.ikev2.sa import NAT_T_PORT
from iked.launch import connect_spmd, open_kernel
from iked.process import Role, Settings
from iked.reuseport import Groups
from iked.shell import acquired_selector, esp_in_udp, ike_endpoints
from iked.worker import Start
from racoon2 import daemon, sdnotify, udp
from racoon2.addrwatch import AddressWatch
from racoon2.config import Config
from racoon2.control.protocol import Request
from racoon2.control.server import open_control, set_level
from racoon2.errors import ControlError, Racoon2Error
from racoon2.kernel import api
from racoon2.net import Endpoint, HostAddresses
from racoon2.spmif.client import Spmd

log = logging.getLogger("iked")
#: Environment a worker must not inherit: only the coordinator talks to the service manager.
MANAGER_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
START_TIMEOUT = 120.0  # a loaded host takes long to import a Python process


@dataclass
class Worker:
    """One worker process as the coordinator sees it."""

    index: int
    process: asyncio.subprocess.Process
    channel: Channel
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: The endpoints whose sockets it has been handed.
    endpoints: dict[Endpoint, Endpoint] = field(default_factory=dict)


class Coordinator:
    """The process ``iked -j N`` starts as."""

    def __init__(self, config: Config, settings: Settings, kernel: api.KernelBackend | None,
                 spmif: Spmd | None) -> None:
        self.config, self.settings, self.kernel, self.spmif = config, settings, kernel, spmif
        bypass = daemon.application_bypass(config) and kernel is not None
        self.groups = Groups(settings.workers, api.Owner.IKED if bypass else None,
                             lambda ep: esp_in_udp if ep.port == NAT_T_PORT else None)
        self.cookie_seed, self.origin = secrets.token_bytes(32), time.monotonic()
        self.workers: list[Worker] = []
        self.notify = sdnotify.current()
        self._stop = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[object]] = set()

    def _spawn_task(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def wanted(self, hosts: HostAddresses) -> list[Endpoint]:
        """The endpoints to bind with this host's addresses ``hosts``."""
        return ike_endpoints(self.config, self.settings, hosts)

    # -- workers ------------------------------------------------------------------------------

    async def _start(self, index: int) -> Worker:
        (stream, fds), (w_stream, w_fds) = pair()
        env = {k: v for k, v in os.environ.items() if k not in MANAGER_ENV}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "iked.worker", str(w_stream.fileno()), str(w_fds.fileno()),
            pass_fds=(w_stream.fileno(), w_fds.fileno()), env=env)
        w_stream.close()
        w_fds.close()
        n, s = self.settings.workers, self.settings
        role = Role(index, n, self.cookie_seed, self.origin)
        settings = replace(s, role=role, ctl_socket="", workers=1,
                           initiate_selector=s.initiate_selector
                           if self._forced(s.initiate_selector) == index else None,
                           initiate_address=s.initiate_address
                           if self._forced(self._forced_address()) == index else None)
        write_frame(stream, Start(self.config.file, settings))
        worker = Worker(index, process, Channel(stream, fds,
                                                lambda k, p, f: self._asked(index, k, p)))
        self._spawn_task(worker.channel.serve())
        self._spawn_task(self._watch(worker))
        self._hand(worker)
        log.info("worker %d started (pid %d)", index, process.pid)
        return worker

    async def _watch(self, worker: Worker) -> None:
        status = await worker.process.wait()
        worker.channel.close()
        if self._stopping:
            return
        log.error("worker %d (pid %d) ended with status %d: starting it again", worker.index,
                  worker.process.pid, status)
        await asyncio.sleep(1.0)  # a worker that cannot start must not spin
        if not self._stopping:
            self.workers[worker.index] = await self._start(worker.index)

    def _hand(self, worker: Worker) -> None:
        """Give ``worker`` its sockets of the endpoints it lacks, take those gone."""
        now = dict(self.groups.bound)
        added = [ep for key, ep in now.items() if key not in worker.endpoints]
        removed = [ep for key, ep in worker.endpoints.items() if key not in now]
        worker.endpoints = now
        if added or removed:
            socks = [self.groups.groups[ep.unscoped][worker.index] for ep in added]
            self._spawn_task(self._call(worker, "sockets", (added, removed), socks))

    async def _call(self, worker: Worker, kind: str, payload: object,
                    socks: list[socket.socket] | None = None) -> object:
        try:
            return await worker.channel.call(kind, payload, socks or ())
        except Racoon2Error as e:
            log.warning("worker %d: %s: %s", worker.index, kind, e)
            return e

    async def _asked(self, index: int, kind: str, payload: object) -> object:
        """A worker's request: spmd's answer, or its readiness."""
        if kind == "ready":
            self.workers[index].ready.set()
            return None
        if self.spmif is None:
            raise Racoon2Error(f"{kind} needs spmd", hint="run without -D 0x8")
        if kind == "slid":
            assert isinstance(payload, int)
            return await self.spmif.slid(payload)
        return await self.spmif.request(payload)  # type: ignore[arg-type]

    def _addresses_changed(self) -> None:
        for worker in self.workers:
            self._hand(worker)

    # -- what is one for the whole daemon -----------------------------------------------------

    def _owner_index(self, selector: str) -> int:
        # The same selector always goes to the same worker, which then holds its IKE SA.
        return zlib.crc32(selector.encode()) % self.settings.workers

    def _owner(self, selector: str) -> Worker:
        return self.workers[self._owner_index(selector)]

    def _forced(self, selector: str | None) -> int | None:
        """The worker that initiates for -S (or -I's selector), as for its ACQUIREs."""
        return None if selector is None else self._owner_index(selector)

    def _forced_address(self) -> str | None:
        if self.settings.initiate_address is None:
            return None
        try:
            return peer_selector(self.config, ipaddress.ip_address(
                self.settings.initiate_address))
        except (ControlError, ValueError):
            return "-I"  # that worker reports that no selector matches

    async def _kernel_events(self) -> None:
        assert self.kernel is not None
        async for event in self.kernel.events():
            if isinstance(event, api.Acquire):
                name = await acquired_selector(self.config, self.spmif, event)
                if name is not None:
                    worker = self._owner(name)
                    self._spawn_task(self._call(worker, "acquire", (name, event.dst, event.src)))

    async def handle(self, request: Request) -> object:
        """An ikedctl request: the workers' answers merged."""
        if request.command == "initiate":
            selector, _ = initiate_target(self.config, request.args[0])
            answer = await self._call(self._owner(selector), "ctl", request)
            return ctl_merge.merge("initiate", [answer], os.getpid())
        if request.command == "reload":
            await self._reload_own()
        if request.command == "log-level":
            set_level(request.args[0], log)
        answers = await asyncio.gather(*(self._call(w, "ctl", request) for w in self.workers))
        try:
            return ctl_merge.merge(request.command, answers, os.getpid())
        except Racoon2Error as e:
            raise e if isinstance(e, ControlError) else ControlError(str(e)) from None

    async def _reload_own(self) -> None:
        config = daemon.reload_config(self.config, log)
        if config is None:
            return
        self.config = config
        if self.watch is not None:
            await daemon.sync_sockets(self.groups, self.watch, self.wanted, "ike", log)
            self._addresses_changed()

    async def _reload(self) -> None:
        """SIGHUP: the coordinator's configuration and sockets, then every worker's."""
        self.notify.reloading()
        try:
            await self.handle(Request("reload"))
        except ControlError as e:
            log.error("reload: %s", e)
        finally:
            self.notify.ready()

    def _forward(self, signum: int) -> None:
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signum)

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT: the exit status."""
        self.watch: AddressWatch | None = None
        self.watch = await daemon.open_sockets(self.groups, None, self.wanted, "ike", log)
        if self.kernel is not None:
            # As a single iked does at start, once for all the workers (RFC 7296 §2.4).
            await daemon.remove_own_sas(self.kernel, api.Owner.IKED, "stale", log)
        for index in range(self.settings.workers):
            self.workers.append(await self._start(index))
        loop = asyncio.get_running_loop()
        daemon.on_signals(loop, {
            signal.SIGTERM: self._stop.set, signal.SIGINT: self._stop.set,
            signal.SIGHUP: lambda: self._spawn_task(self._reload()),
            signal.SIGUSR1: lambda: self._forward(signal.SIGUSR1),
            signal.SIGUSR2: lambda: self._forward(signal.SIGUSR2)})
        ctl = await open_control(self.settings.ctl_socket, COMMANDS, self.handle, log)
        follow = asyncio.ensure_future(udp.follow(self.watch, self.groups, self.wanted, log,
                                                  self._addresses_changed))
        events = asyncio.ensure_future(self._kernel_events()) if self.kernel else None
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in self.workers)),
                                   START_TIMEOUT)
        except TimeoutError:
            log.error("not every worker started within %g s", START_TIMEOUT)
        log.info("serving with %d workers", len(self.workers))
        self.notify.ready(f"{len(self.workers)} workers, "
                          f"{len(self.groups.bound)} endpoint(s)")
        await self._stop.wait()
        await self._shutdown(ctl)
        for task in (follow, events):
            if task is not None:
                task.cancel()
        return 0

    async def _shutdown(self, ctl: object) -> None:
        self._stopping = True
        self.notify.stopping()
        close = getattr(ctl, "close", None)
        if close is not None:
            await close()
        # Each worker deletes its SAs (the peers told) as a single iked does on SIGTERM.
        self._forward(signal.SIGTERM)
        waits = [w.process.wait() for w in self.workers]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.settings.stop_wait + 10.0)
        except TimeoutError:
            log.error("workers still running %g s after SIGTERM: killed",
                      self.settings.stop_wait + 10.0)
            self._forward(signal.SIGKILL)
        if self.kernel is not None:
            await daemon.remove_own_sas(self.kernel, api.Owner.IKED, "left over", log)
        self.groups.close()
        if self.watch is not None:
            self.watch.close()


async def coordinate(config: Config, settings: Settings) -> int:
    """Run ``iked -j N`` until SIGTERM/SIGINT: the exit status."""
    kernel = None if settings.no_kernel else await open_kernel(settings)
    try:
        spmif = None if kernel is None else await connect_spmd(config)
        try:
            return await Coordinator(config, settings, kernel, spmif).run()
        finally:
            if spmif is not None:
                await spmif.close()
    finally:
        if kernel is not None:
            await kernel.close()
