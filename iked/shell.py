"""iked's asyncio shell: the only place iked does I/O (UDP, kernel, spmd, hooks, signals).

One worker task drives the pure :class:`~iked.ikev2.core.IkeCore` the aioquic way: after every
input (a datagram, a kernel event, the timer) it performs the core's kernel requests and feeds
the results back, sends the queued datagrams, logs the events and runs their hooks, and re-arms
the single timer at the core's next deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import logging
import secrets
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from iked import events as ev
from iked import hooks, kernel_sas
from iked.addresses import LeasedAddresses
from iked.hookrunner import HookRunner
from iked.ikev2.common import State
from iked.ikev2.core import IkeCore
from iked.ikev2.sa import NAT_KEEPALIVE_PACKET, NAT_T_PORT
from iked.pcap import PcapWriter
from racoon2 import daemon, udp
from racoon2.addrwatch import AddressWatch
from racoon2.config import Config, lookup
from racoon2.config.effective import ikev2
from racoon2.config.files import read_secret
from racoon2.config.model import AddrSpec, ScriptType
from racoon2.crypto.rng import SystemRng
from racoon2.errors import Racoon2Error, SpmifError
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, HostAddresses
from racoon2.spmif.client import SpmifClient, connect_configured
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

log = logging.getLogger("iked")
NON_ESP_MARKER = b"\0\0\0\0"
SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP = 17, 100, 2
DROP_REPORT_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    """What the command line decides for the shell."""

    port: int = 500
    target_port: int = 500
    family: int | None = None
    initiate_selector: str | None = None
    initiate_address: str | None = None
    no_kernel: bool = False  # -D 0x8: no kernel IPsec, no spmd
    pcapfile: str | None = None  # -P: IKE messages in the clear, '+' appends
    #: SIGTERM: how long the peers have to answer our Deletes (--stop-wait).
    stop_wait: float = 3.0


def _esp_in_udp(sock: socket.socket) -> None:
    # The kernel then takes the ESP-in-UDP packets (RFC 3948) and leaves IKE to us.
    with contextlib.suppress(OSError):
        sock.setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)


class Iked:
    """One running iked."""

    def __init__(self, config: Config, settings: Settings, kernel: api.KernelBackend,
                 spmif: SpmifClient | None, bypass: bool = True) -> None:
        self.config = config
        self.settings = settings
        self.kernel = kernel
        self.spmif = spmif
        #: This host's addresses, followed while running (set by :meth:`run`).
        self.watch: AddressWatch | None = None
        self.core = IkeCore(config, SystemRng(), self._read, time.monotonic(),
                            self.local_addresses, self._read_public,
                            (settings.port, settings.target_port))
        self.sockets = udp.Sockets(self.datagram, api.Owner.IKED if bypass else None,
                                   lambda ep: _esp_in_udp if ep.port == NAT_T_PORT else None)
        self.transports = self.sockets.transports
        self.hooks = HookRunner()
        self.leased = LeasedAddresses()
        # pyroute2's IPRoute runs its own event loop: one worker thread, so that the
        # additions and removals keep their order.
        self._netlink = concurrent.futures.ThreadPoolExecutor(1, "iked-addresses")
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._no_sas = asyncio.Event()  # set when the core holds no IKE SA (SIGTERM waits)
        self._timer: asyncio.TimerHandle | None = None
        self._level = logging.getLogger().level
        self.pcap = PcapWriter(settings.pcapfile) if settings.pcapfile else None
        self.core.tracing = self.pcap is not None
        self._drops_reported = -DROP_REPORT_INTERVAL
        self._drops_seen: dict[ev.DropReason, int] = {}

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
        specs = self.config.interface.ike if self.config.interface else ()
        return udp.endpoints(specs, self.settings.port, hosts, self.settings.family)

    async def open_sockets(self) -> None:
        """Bind every ``interface ike`` address; port 4500 sockets take ESP-in-UDP too."""
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
                await self._acquire(event)
            elif isinstance(event, api.Expire) and \
                    self.core.kernel_event(event, time.monotonic()):
                if event.hard:
                    log.info("%s reached its hard lifetime: CHILD_SA deleted", event.key)
                else:
                    log.info("%s reached its soft lifetime: rekeying the CHILD_SA", event.key)
            self._wake.set()

    async def _acquire(self, event: api.Acquire) -> None:
        slid = await daemon.acquire_slid(self.spmif, event.policy_index, log)
        flow = event.selector
        selector = lookup.acquire_selector(self.config, slid, flow.src.network_address,
                                           flow.dst.network_address)
        # A name spmd gave that the configuration lacks is the core's to report.
        name = selector.name if selector is not None else slid
        if name is None:
            log.warning("ACQUIRE for %s matches no selector of the configuration",
                        event.selector)
            return
        log.info("ACQUIRE for %s: selector %s", event.selector, name)
        self.core.initiate(name, time.monotonic(), event.dst, event.src)

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
            transport.sendto(data, (str(d.remote.addr), d.remote.port))
        while (event := self.core.next_event()) is not None:
            self._report(event)
        if not self.core.sas:
            self._no_sas.set()
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

    async def _perform(self, op: ev.Op) -> object:
        if isinstance(op, api.AllocSpi):
            op = kernel_sas.in_band(op)
        if not isinstance(op, PolicyAdd | PolicyDelete):
            return await api.perform(self.kernel, op)
        if self.spmif is None:
            raise Racoon2Error(f"{type(op).__name__} for {op.selector_index} needs spmd",
                               hint="run without -D 0x8, or give the peer a fixed address")
        reply = await self.spmif.request(op)
        if not reply.ok:
            raise Racoon2Error(f"spmd refused {type(op).__name__} {op.selector_index}: {reply}")
        return reply.text

    def _report(self, event: ev.Event) -> None:
        match event:
            case ev.IkeSaUp():
                log.info("IKE SA %s established with %s (remote %s, %s%s)", event.sa,
                         event.remote, event.remote_name,
                         "initiator" if event.initiator else "responder",
                         f", rekey of {event.rekey_of}" if event.rekey_of else "")
                if event.rekey_of:
                    self._netlink.submit(self.leased.moved, event.rekey_of, event.sa)
                kind = ScriptType.PHASE1_REKEY if event.rekey_of else ScriptType.PHASE1_UP
                self._hook(kind, event.remote_name, hooks.phase1_env(
                    event.local.addr, event.local.port, event.remote.addr, event.remote.port))
            case ev.IkeSaDown():
                log.info("IKE SA %s with %s deleted: %s", event.sa, event.remote, event.reason)
                if not event.replaced:
                    self._netlink.submit(self.leased.remove, event.sa)
                    self._hook(ScriptType.PHASE1_DOWN, event.remote_name, hooks.phase1_env(
                        event.local.addr, event.local.port, event.remote.addr,
                        event.remote.port))
            case ev.ChildSaUp():
                log.info("CHILD_SA of policy %s %s: ESP %s, spi in 0x%08x out 0x%08x, %s <=> %s"
                         " (%s)", event.policy, "rekeyed" if event.rekey else "up",
                         event.mode.name.lower(), event.spi_in, event.spi_out, event.local_ts,
                         event.remote_ts, event.algorithms)
                self._hook(ScriptType.PHASE2_REKEY if event.rekey else ScriptType.PHASE2_UP,
                           self._remote_of(event.policy), hooks.phase2_env(event.hook))
            case ev.ChildSaDown():
                log.info("CHILD_SA of policy %s (spi in 0x%08x out 0x%08x) deleted: %s",
                         event.policy, event.spi_in, event.spi_out, event.reason)
                if event.hook is not None and not event.replaced:
                    self._hook(ScriptType.PHASE2_DOWN, self._remote_of(event.policy),
                               hooks.phase2_env(event.hook))
            case ev.AddressLeased():
                log.info("IKE SA %s: remote %s leased us %s", event.sa, event.remote_name,
                         ", ".join(map(str, event.addresses)))
                self._netlink.submit(self.leased.add, event.sa, event.remote, event.addresses)
            case ev.NatDetected():
                where = " and ".join(w for w, b in (("this host", event.local_behind),
                                                    ("the peer", event.peer_behind)) if b)
                log.info("IKE SA %s: NAT detected in front of %s: IKE on port 4500, ESP in UDP",
                         event.sa, where)
            case ev.NegotiationFailed():
                extra = "".join(f"; {k}: {v}" for k, v in (("received", event.received),
                                                           ("configured", event.configured))
                                if v)
                log.error("IKE SA %s: %s failed: %s%s", event.sa, event.stage, event.reason,
                          extra)
            case ev.KernelFailed():
                log.error("IKE SA %s: cannot %s: %s", event.sa, event.what, event.error)
            case ev.Dropped():
                log.debug("%s: dropped: %s%s", event.remote, event.reason.value,
                          f" ({event.detail})" if event.detail else "")
                self._report_drops()

    def _report_drops(self) -> None:
        # One summary line a minute at most: a flood must not flood the log too.
        now = time.monotonic()
        if now - self._drops_reported < DROP_REPORT_INTERVAL:
            return
        counts = dict(self.core.dropped)
        delta = {r: n - self._drops_seen.get(r, 0) for r, n in counts.items()
                 if n != self._drops_seen.get(r, 0)}
        self._drops_reported, self._drops_seen = now, counts
        log.warning("dropped IKE messages since the last report: %s",
                    ", ".join(f"{r.value} {n}" for r, n in delta.items()))

    def _remote_of(self, policy_name: str) -> str:
        policy = next((p for p in self.config.policies if p.name == policy_name), None)
        return policy.remote_index or "" if policy else ""

    def _hook(self, kind: ScriptType, remote_name: str, env: list[tuple[str, str]]) -> None:
        for script in ikev2(self.config, self.config.remote(remote_name)).script:
            if script.type is kind:
                self.hooks.submit(hooks.Hook(script.path, script.type, tuple(env)))

    # -- life cycle ---------------------------------------------------------------------------

    async def reload(self) -> None:
        """SIGHUP: reread the configuration and keep every SA it still describes alike.

        The core deletes the IKE SAs of removed or changed remotes and the CHILD_SAs of
        removed or changed policies (:meth:`IkeCore.reconfigure`); the others keep their
        kernel SAs and SPIs.  A file that does not load changes nothing (logged with
        ``file:line:``).  The sockets follow a changed ``interface ike`` section.
        """
        config = daemon.reload_config(self.config, log)
        if config is None:
            return
        before = {sa.name for sa in self.core.sas.values()}
        self.config = config
        self.core.reconfigure(config, time.monotonic())
        kept = sum(1 for sa in self.core.sas.values()
                   if sa.name in before and sa.state is not State.DELETING)
        log.info("reloaded %s: %d IKE SA(s) kept, %d deleted", config.file, kept,
                 len(before) - kept)
        assert self.watch is not None
        await daemon.sync_sockets(self.sockets, self.watch, self.wanted_endpoints, "ike", log)
        await self.flush()

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
        # The peers' answers to our Deletes come in while we wait (the worker runs on), so
        # neither side keeps SAs the other has dropped; a silent peer costs stop_wait.
        log.info("shutting down: deleting %d IKE SA(s)", len(self.core.sas))
        self._no_sas.clear()
        self.core.shutdown(time.monotonic())
        await self.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_sas.wait(), self.settings.stop_wait)
        if self.core.sas:
            log.warning("%d IKE SA(s) did not answer our Delete within %g s: removed",
                        len(self.core.sas), self.settings.stop_wait)
            self.core.shutdown(time.monotonic(), force=True)
            await self.flush()
        await self.remove_own_sas("left over")

    async def remove_own_sas(self, why: str) -> None:
        """Delete every kernel SA an iked installed (:mod:`iked.kernel_sas`), one log line."""
        try:
            keys = kernel_sas.owned(await self.kernel.dump_sas())
        except Racoon2Error as e:
            log.warning("cannot list the kernel's SAs: %s", e)
            return
        for key in keys:
            with contextlib.suppress(Racoon2Error):  # gone meanwhile: fine
                await self.kernel.del_sa(key)
        if keys:
            log.info("removed %d %s kernel SA(s) of iked", len(keys), why)

    async def run(self) -> int:
        """Serve until stopped; the exit status."""
        # SAs of an iked that died without its shutdown (kill -9) have no IKE SA any more:
        # RFC 7296 §2.4, the peer learns from INITIAL_CONTACT, our kernel from this.
        await self.remove_own_sas("stale")
        await self.open_sockets()
        daemon.on_signals(asyncio.get_running_loop(), {
            signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
            signal.SIGHUP: lambda: asyncio.ensure_future(self.reload()),
            signal.SIGUSR1: self.trace_on, signal.SIGUSR2: self.trace_off})
        worker = asyncio.create_task(self._work())
        events = asyncio.create_task(self._kernel_events())
        assert self.watch is not None
        follow = asyncio.create_task(udp.follow(self.watch, self.sockets,
                                                self.wanted_endpoints, log))
        self._initiate_forced()
        self._wake.set()
        await self._stop.wait()
        await self._shutdown()
        await asyncio.wrap_future(self._netlink.submit(self.leased.remove_all))
        self._netlink.shutdown()
        for task in (worker, events, follow):
            task.cancel()
        self.sockets.close()
        self.watch.close()
        return 0

    def _initiate_forced(self) -> None:
        now = time.monotonic()
        if self.settings.initiate_selector:
            self.core.initiate(self.settings.initiate_selector, now)
        if self.settings.initiate_address:
            addr = ipaddress.ip_address(self.settings.initiate_address)
            for sel in self.config.selectors:
                policy = sel.policy
                if policy is None or policy.remote_index is None:
                    continue
                remote = self.config.remote(policy.remote_index)
                peers = remote.ikev2.peers_ipaddr if remote and remote.ikev2 else None
                if any(p.address == addr for p in peers or ()):
                    self.core.initiate(sel.name, now, addr)
                    return
            log.error("-I %s: no selector's policy names a remote with that peers_ipaddr",
                      addr)


async def _main(config: Config, settings: Settings) -> int:
    if settings.no_kernel:
        from racoon2.kernel.memory import MemoryBackend

        # Random SPIs: two such iked on one host must not pick the same ones.
        kernel: api.KernelBackend = MemoryBackend(seed=secrets.randbits(32))
        spmif = None
        log.info("-D 0x8: no kernel IPsec and no spmd; SAs are only logged")
    else:
        from racoon2.kernel.system import open_backend

        kernel = await open_backend()
        spmif = await _connect_spmd(config)
    bypass = daemon.application_bypass(config) and not settings.no_kernel
    iked = Iked(config, settings, kernel, spmif, bypass)
    try:
        return await iked.run()
    finally:
        if spmif is not None:
            await spmif.close()
        await kernel.close()


async def _connect_spmd(config: Config) -> SpmifClient:
    try:
        return await connect_configured(config)
    except SpmifError as e:
        raise Racoon2Error(e.message, hint="or run with -D 0x8 to work without spmd") from None


def run(config_path: str, settings: Settings, *, foreground: bool,
        pid_path: str = "/var/run/iked.pid") -> int:
    """Run iked until SIGTERM/SIGINT: the exit status (1 when it cannot start)."""
    return daemon.run_daemon("iked", config_path, lambda config: _main(config, settings),
                             foreground=foreground, pid_path=pid_path)
