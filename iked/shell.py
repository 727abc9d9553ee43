"""iked's asyncio shell: the only place iked does I/O (UDP, kernel, spmd, hooks, signals).

One worker task drives the pure cores (:class:`~iked.cores.Cores`, IKEv2 and IKEv1) the
aioquic way: after every input (a datagram, a kernel event, the timer) it performs the cores'
kernel requests and feeds the results back, sends the queued datagrams, logs the events and
runs their hooks, and re-arms the single timer at the cores' next deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import ipaddress
import json
import logging
import signal
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iked import events as ev
from iked import kernel_sas, statefile
from iked.addresses import LeasedAddresses
from iked.control import IkedControl, peer_selector
from iked.cores import Cores
from iked.ctl import COMMANDS
from iked.hookrunner import HookRunner
from iked.ikev2 import snapshot
from iked.ikev2.common import State
from iked.ikev2.sa import NAT_KEEPALIVE_PACKET, NAT_T_PORT
from iked.pcap import PcapWriter
from iked.process import Settings
from iked.reporting import Reporter
from iked.xauth_check import Checkers
from racoon2 import daemon, sdnotify, udp
from racoon2.addrwatch import AddressWatch
from racoon2.config import Config, lookup
from racoon2.config.files import read_secret
from racoon2.config.model import AddrSpec
from racoon2.control.server import open_control
from racoon2.crypto.rng import SystemRng
from racoon2.errors import ControlError, Racoon2Error, StateError
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, HostAddresses
from racoon2.spmif.client import Spmd
from racoon2.spmif.commands import Migrate, PolicyAdd, PolicyDelete

if TYPE_CHECKING:
    from iked.radius_client import Client

log = logging.getLogger("iked")
NON_ESP_MARKER = b"\0\0\0\0"
#: STATUS= (``systemctl status``) at most this often, in seconds: its line counts every
#: CHILD_SA, which per flush would cost O(SAs) on every datagram of a busy responder.
STATUS_INTERVAL = 1.0
SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP = 17, 100, 2


def esp_in_udp(sock: socket.socket) -> None:
    """Have the kernel take ESP in UDP on a port 4500 socket."""
    # The kernel then takes the ESP-in-UDP packets (RFC 3948) and leaves IKE to us.
    with contextlib.suppress(OSError):
        sock.setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)


def ike_endpoints(config: Config, settings: Settings, hosts: HostAddresses) -> list[Endpoint]:
    """Every ``interface ike`` endpoint with this host's addresses ``hosts``."""
    specs = config.interface.ike if config.interface else ()
    return udp.endpoints(specs, settings.port, hosts, settings.family)


async def acquired_selector(config: Config, spmif: Spmd | None,
                            event: api.Acquire) -> str | None:
    """The selector a kernel ACQUIRE asks to negotiate (spmd names it), logged; None when
    none matches."""
    slid = await daemon.acquire_slid(spmif, event.policy_index, log)
    flow = event.selector
    selector = lookup.acquire_selector(config, slid, flow.src.network_address,
                                       flow.dst.network_address)
    # A name spmd gave that the configuration lacks is the core's to report.
    name = selector.name if selector is not None else slid
    if name is None:
        log.warning("ACQUIRE for %s matches no selector of the configuration", event.selector)
        return None
    log.info("ACQUIRE for %s: selector %s", event.selector, name)
    return name


class Iked:
    """One running iked."""

    def __init__(self, config: Config, settings: Settings, kernel: api.KernelBackend,
                 spmif: Spmd | None, bypass: bool = True) -> None:
        self.config = config
        self.settings = settings
        self.kernel = kernel
        self.spmif = spmif
        #: This host's addresses, followed while running (set by :meth:`run`).
        self.watch: AddressWatch | None = None
        self.core = Cores(config, SystemRng(), self._read, time.monotonic(),
                            self.local_addresses, self._read_public,
                            (settings.port, settings.target_port))
        self.sockets = udp.Sockets(self.datagram, api.Owner.IKED if bypass else None,
                                   lambda ep: esp_in_udp if ep.port == NAT_T_PORT else None)
        self.transports = self.sockets.transports
        self.hooks = HookRunner()
        #: XAuth's users files and PAM services, loaded now: one that does not load stops iked.
        self.xauth = Checkers(config)
        self._radius_tasks: set[asyncio.Task[None]] = set()
        self.leased = LeasedAddresses()
        # pyroute2's IPRoute runs its own event loop: one worker thread, so that the
        # additions and removals keep their order.
        self.netlink = concurrent.futures.ThreadPoolExecutor(1, "iked-addresses")
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._no_sas = asyncio.Event()  # set when the core holds no IKE SA (SIGTERM waits)
        self._timer: asyncio.TimerHandle | None = None
        self._status_timer: asyncio.TimerHandle | None = None
        self._status_sent = -STATUS_INTERVAL
        self._level = logging.getLogger().level
        self.pcap = PcapWriter(settings.pcapfile) if settings.pcapfile else None
        self.core.tracing = self.pcap is not None
        self.control = IkedControl(self)
        self.reporter = Reporter(self)
        self.notify = sdnotify.current()
        role = settings.role
        if role is not None:
            self.core.set_worker(role.index, role.workers, role.cookie_seed, role.origin)
        #: A worker's sockets have come from the coordinator.
        self.handed_sockets = asyncio.Event()

    @staticmethod
    def _read(path: str) -> bytes:
        return read_secret(path)

    @staticmethod
    def _read_public(path: str) -> bytes:
        # Certificates are not secret: any mode will do.
        with open(path, "rb") as f:
            return f.read()

    # -- sockets ------------------------------------------------------------------------------

    def local_addresses(self, spec: AddrSpec) -> Sequence[Address]:
        """This host's addresses for a macro such as MY_IPV4 (spmd's rule), now."""
        hosts = self.watch.current if self.watch else HostAddresses()
        return hosts.expand(spec.text, spec.ifname)

    def wanted_endpoints(self, hosts: HostAddresses) -> list[Endpoint]:
        """Every ``interface ike`` endpoint with this host's addresses ``hosts``."""
        return ike_endpoints(self.config, self.settings, hosts)

    async def open_sockets(self) -> None:
        """Bind every ``interface ike`` address; port 4500 sockets take ESP-in-UDP too.  A
        worker waits for the coordinator's sockets instead."""
        if self.settings.role is not None:
            self.watch = await AddressWatch.open()
            await self.handed_sockets.wait()
            return
        self.watch = await daemon.open_sockets(self.sockets, self.watch, self.wanted_endpoints,
                                               "ike", log)

    # -- inputs -------------------------------------------------------------------------------

    def datagram(self, data: bytes, local: Endpoint, remote: Endpoint) -> None:
        """A datagram from a socket (the non-ESP marker is removed here)."""
        if local.port == NAT_T_PORT:
            if data == b"\xff":
                return  # NAT keepalive
            if not data.startswith(NON_ESP_MARKER):
                return  # ESP the kernel did not take: not ours
            data = data[4:]
        self.core.receive_datagram(data, local, remote, time.monotonic())
        self._wake.set()

    async def _kernel_events(self) -> None:
        async for event in self.kernel.events():
            if isinstance(event, api.Acquire):
                if self.settings.role is None:  # else the coordinator's
                    await self._acquire(event)
            elif isinstance(event, api.Expire) and \
                    self.core.kernel_event(event, time.monotonic()):
                if event.hard:
                    log.info("%s reached its hard lifetime: CHILD_SA deleted", event.key)
                else:
                    log.info("%s reached its soft lifetime: rekeying the CHILD_SA", event.key)
            self._wake.set()

    async def _acquire(self, event: api.Acquire) -> None:
        name = await acquired_selector(self.config, self.spmif, event)
        if name is not None:
            self.core.initiate(name, time.monotonic(), event.dst, event.src)

    def _roam(self) -> None:
        # RFC 4555: the IKE SAs we initiated whose address went away move (MOBIKE).
        self.core.addresses_changed(time.monotonic())
        self._wake.set()

    def wake(self) -> None:
        """Have the worker run the cores' output (after an ikedctl command changed them): one
        flush at a time, in the worker, so kernel requests keep their order."""
        self._wake.set()

    def _on_timer(self) -> None:
        self._timer = None
        self.core.handle_timer(time.monotonic())
        self._wake.set()

    # -- the worker ---------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Perform requests, send datagrams, report events, re-arm the timer."""
        while requests := self.core.requests():
            for req in requests:
                if isinstance(req.op, ev.RadiusAccess | ev.RadiusAccounting):
                    task = asyncio.get_running_loop().create_task(self._radius(req))
                    self._radius_tasks.add(task)
                    task.add_done_callback(self._radius_tasks.discard)
                    continue
                try:
                    result: object = await self._perform(req.op)
                except Racoon2Error as e:
                    result = e
                self.core.reply(req.id, result, time.monotonic())
        for d in self.core.datagrams_to_send():
            transport = self.transports.get(d.local)
            if transport is None:
                log.warning("%s: no socket on %s to send from", d.remote, d.local)
                continue
            marker = d.local.port == NAT_T_PORT and d.data != NAT_KEEPALIVE_PACKET
            data = NON_ESP_MARKER + d.data if marker else d.data
            transport.sendto(data, udp.peer_address(d.remote))
        while (event := self.core.next_event()) is not None:
            self.reporter.report(event)
        if not self.core.any_sa:
            self._no_sas.set()
        self._status_soon()
        if self.pcap is not None:
            for t in self.core.traces():
                self.pcap.write(t.data, t.local, t.remote)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.core.next_timer()
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, deadline - time.monotonic()),
                                          self._on_timer)

    @functools.cached_property
    def radius(self) -> Client:
        """eap { method radius; }: a RADIUS exchange runs beside the others (it may wait
        seconds for a failover), its answer goes to the core when it comes.  Made at the
        first request: most configurations use no RADIUS, whose import is ms of every start."""
        from iked.radius_client import Client

        return Client()

    async def _radius(self, req: ev.Request) -> None:
        op = req.op
        result: object = None
        try:
            if isinstance(op, ev.RadiusAccess):
                result = await self.radius.access(op.radius, list(op.attributes))
            elif isinstance(op, ev.RadiusAccounting):
                await self.radius.account(op.radius, list(op.attributes))
        except Racoon2Error as e:
            result = e
        except OSError as e:  # no route to the server, say
            result = Racoon2Error(f"RADIUS: {e}")
        self.core.reply(req.id, result, time.monotonic())
        self._wake.set()

    async def _perform(self, op: ev.Op) -> object:
        if isinstance(op, ev.CheckPassword):
            # A password hash or PAM takes its time: not on the event loop.
            return await asyncio.to_thread(self.xauth.check, op)
        if isinstance(op, ev.RadiusAccess | ev.RadiusAccounting):
            raise Racoon2Error("RADIUS requests run beside the queue (Shell._radius)")
        if isinstance(op, api.AllocSpi):
            op = kernel_sas.in_band(op)
        if not isinstance(op, PolicyAdd | PolicyDelete | Migrate):
            return await api.perform(self.kernel, op)
        if self.spmif is None:
            raise Racoon2Error(f"{type(op).__name__} for {op.selector_index} needs spmd",
                               hint="run without -D 0x8, or give the peer a fixed address")
        reply = await self.spmif.request(op)
        if not reply.ok:
            raise Racoon2Error(f"spmd refused {type(op).__name__} {op.selector_index}: {reply}")
        return reply.text

    def _status_soon(self) -> None:
        # The last change still goes out: from a timer when one went out less than
        # STATUS_INTERVAL ago.
        if not self.notify.enabled or self._status_timer is not None:
            return
        wait = self._status_sent + STATUS_INTERVAL - time.monotonic()
        if wait > 0:
            self._status_timer = asyncio.get_running_loop().call_later(wait, self._status_now)
        else:
            self._status_now()

    def _status_now(self) -> None:
        self._status_timer = None
        self._status_sent = time.monotonic()
        self.notify.status(self.status_line())

    def status_line(self) -> str:
        """The service manager's STATUS= line (``systemctl status iked``): the SA counts."""
        sas = self.core.sas.values()
        return (f"{len(sas)} IKE SA(s), {sum(len(sa.children) for sa in sas)} CHILD_SA(s)"
                f", {len(self.transports)} socket(s)")

    # -- life cycle ---------------------------------------------------------------------------

    async def reload(self) -> tuple[bool, str]:
        """SIGHUP: reread the configuration and keep every SA it still describes alike.

        The core deletes the IKE SAs of removed or changed remotes and the CHILD_SAs of
        removed or changed policies (:meth:`IkeCore.reconfigure`); the others keep their
        kernel SAs and SPIs.  A file that does not load changes nothing (logged with
        ``file:line:``).  The sockets follow a changed ``interface ike`` section.  The
        service manager sees RELOADING=1 … READY=1 around it.  Returns whether it took the
        file, and the log line saying what happened.
        """
        self.notify.reloading()
        try:
            return await self._reload()
        finally:
            self.notify.ready(self.status_line())

    async def _reload(self) -> tuple[bool, str]:
        config = daemon.reload_config(self.config, log)
        if config is None:
            return False, "reload refused: the file does not load (see the log)"
        try:
            self.xauth = Checkers(config)
        except Racoon2Error as e:
            log.error("reload refused: %s; still running the previous configuration", e)
            return False, f"reload refused: {e}"
        before = sum(1 for sa in self.core.sas.values() if sa.state is not State.DEAD)
        self.config = config
        deleted = self.core.reconfigure(config, time.monotonic(), self.settings.stop_wait)
        message = f"reloaded {config.file}: {before - deleted} IKE SA(s) kept, {deleted} deleted"
        log.info("%s", message)
        assert self.watch is not None
        if self.settings.role is None:  # else the coordinator's sockets follow
            await daemon.sync_sockets(self.sockets, self.watch, self.wanted_endpoints, "ike",
                                      log)
        await self.flush()
        return True, message

    def trace_on(self) -> None:
        """SIGUSR1, as the original: debug logging on, and the SA table with the drop
        counters logged as one JSON line."""
        logging.getLogger().setLevel(logging.DEBUG)
        log.info("trace on; status %s", json.dumps(self.core.status(), sort_keys=True))

    def trace_off(self) -> None:
        """SIGUSR2: back to the command line's log level."""
        logging.getLogger().setLevel(self._level)
        log.info("trace off")

    def request_stop(self) -> None:
        """Begin a clean shutdown (SIGTERM/SIGINT)."""
        self._stop.set()

    async def _shutdown(self) -> None:
        self.notify.stopping()
        if self.settings.keep_sas and await self._keep():
            return
        # The peers' answers to our Deletes come in while we wait (the worker runs on), so
        # neither side keeps SAs the other has dropped; a silent peer costs stop_wait.
        log.info("shutting down: deleting %d IKE SA(s)", len(self.core.sas))
        self._no_sas.clear()
        self.core.shutdown(time.monotonic(), self.settings.stop_wait)
        await self.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_sas.wait(), self.settings.stop_wait)
        if self.core.sas:
            log.warning("%d IKE SA(s) did not answer our Delete within %g s: removed",
                        len(self.core.sas), self.settings.stop_wait)
            self.core.shutdown(time.monotonic(), force=True)
            await self.flush()
        if self._radius_tasks:  # the RADIUS accounting Stops of the SAs just ended
            await asyncio.wait(set(self._radius_tasks), timeout=self.settings.stop_wait)
        if self.settings.role is None:  # else the coordinator's, once every worker ended
            await self.remove_own_sas("left over")

    async def _keep(self) -> bool:
        """SIGTERM with --keep-sas: save the IKE SAs and leave their kernel SAs; False when
        the state cannot be written (then the SAs are deleted as without the option)."""
        # Exchanges in progress (a liveness check, a rekey) finish first, so that what is
        # saved is quiet: nothing in flight that the next iked could not answer.
        loop = asyncio.get_running_loop()
        end = loop.time() + self.settings.stop_wait
        while loop.time() < end and not all(
                snapshot.keepable(sa) for sa in self.core.v2.sas.values()):
            await asyncio.sleep(0.05)
        path = self.settings.state_file
        data = self.core.keep(snapshot.Clock(time.monotonic(), time.time()))
        try:
            statefile.write(path, data)
        except StateError as e:
            log.error("cannot save the IKE SAs: %s; deleting them", e)
            return False
        await self.flush()  # the kernel SAs of those that could not be kept go
        log.info("shutting down: %d IKE SA(s) saved to %s, their kernel SAs left in place",
                 len(self.core.v2.sas), path)
        return True

    async def _restore(self) -> None:
        """At start: take over the IKE SAs a --keep-sas stop saved, with or without the
        option now (it decides only what SIGTERM does); the file is removed."""
        path = self.settings.state_file
        try:
            data = statefile.take(path)
            if data is None:
                return
            done = self.core.restore(data, await self.kernel.dump_sas(),
                                     snapshot.Clock(time.monotonic(), time.time()))
        except Racoon2Error as e:
            log.error("cannot restore the saved IKE SAs: %s", e)
            return
        for name, why in done:
            if why:
                log.warning("IKE SA %s saved in %s: %s: deleting it", name, path, why)
            else:
                log.info("IKE SA %s restored from %s", name, path)

    async def remove_own_sas(self, why: str) -> None:
        """Delete every kernel SA an iked installed but those of the CHILD_SAs the core
        holds (restored ones)."""
        ours = {spec.key for sa in self.core.sas.values() for c in sa.children
                for spec in (c.negotiated.specs if c.negotiated else ())}
        await daemon.remove_own_sas(self.kernel, api.Owner.IKED, why, log, ours)

    async def run(self) -> int:
        """Serve until stopped; the exit status."""
        await self.open_sockets()
        if self.settings.role is None:  # else the coordinator's, before the workers start
            # Restored once the sockets (and so the MY_IP macros' addresses) are known,
            # before the worker runs: nothing else has installed an SA yet.
            await self._restore()
            # SAs of an iked that died without its shutdown (kill -9) have no IKE SA any
            # more: RFC 7296 §2.4, the peer learns from INITIAL_CONTACT, our kernel from this.
            await self.remove_own_sas("stale")
        daemon.on_signals(asyncio.get_running_loop(), {
            signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
            signal.SIGHUP: lambda: asyncio.ensure_future(self.reload()),
            signal.SIGUSR1: self.trace_on, signal.SIGUSR2: self.trace_off})
        ctl = await open_control(self.settings.ctl_socket, COMMANDS, self.control.handle, log)
        worker = asyncio.create_task(self._work())
        events = asyncio.create_task(self._kernel_events())
        assert self.watch is not None
        follow = asyncio.create_task(
            udp.follow(self.watch, self.sockets, self.wanted_endpoints, log, self._roam)
            if self.settings.role is None else self._follow_addresses())
        self._initiate_forced()
        self._wake.set()
        # Sockets open, spmd's session up (in _main), stale SAs gone: iked serves.
        self.notify.ready(self.status_line())
        await self._stop.wait()
        if ctl is not None:
            await ctl.close()
        await self._shutdown()
        await asyncio.wrap_future(self.netlink.submit(self.leased.remove_all))
        self.netlink.shutdown()
        for task in (worker, events, follow):
            task.cancel()
        self.sockets.close()
        self.watch.close()
        return 0

    async def _follow_addresses(self) -> None:
        # A worker: the coordinator follows the addresses with the sockets; MOBIKE here.
        assert self.watch is not None
        while True:
            await self.watch.changed()
            self._roam()

    def _initiate_forced(self) -> None:
        now = time.monotonic()
        if self.settings.initiate_selector:
            self.core.initiate(self.settings.initiate_selector, now)
        if self.settings.initiate_address:
            addr = ipaddress.ip_address(self.settings.initiate_address)
            try:
                self.core.initiate(peer_selector(self.config, addr), now, addr)
            except ControlError:
                log.error("-I %s: no selector's policy names a remote with that "
                          "peers_ipaddr", addr)
