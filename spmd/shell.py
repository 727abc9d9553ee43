"""spmd's asyncio shell: the only place spmd does I/O (kernel, spmif socket, files, signals).

Start: read and check the configuration, reconcile spmd's own kernel policies with it (stale
ones removed, missing ones added, nobody else's touched), serve spmif.  SIGHUP: reread; a broken
file changes nothing, a good one is applied as a difference: when only selectors changed
(racoon2.confcache.reload_checked), only theirs, from spmd's own table (doc/design.md,
"Incremental reload"), else against a kernel dump as at the start.  SIGTERM/SIGINT: remove
what spmd installed (unless told to keep it) and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from racoon2 import confcache, sdnotify
from racoon2.addrwatch import AddressWatch
from racoon2.confcache import Reloaded, load_checked, preload, reload_checked
from racoon2.config import Config
from racoon2.config.model import AddrKind, Selector
from racoon2.daemon import run_daemon
from racoon2.errors import KernelError, Racoon2Error
from racoon2.kernel import api
from racoon2.net import Address, HostAddresses
from racoon2.paths import LAYOUT
from racoon2.spmif import commands as c
from racoon2.spmif.replies import Reply
from racoon2.spmif.secret import read_password
from racoon2.spmif.server import Session, SpmifServer, serve
from spmd import dns
from spmd.commands import Installed, KernelWork, State
from spmd.dnsproxy import DnsProxy
from spmd.fqdn import parse_hosts
from spmd.policies import Desired, Plan, plan_selectors, rank
from spmd.reconcile import Changes, Key, diff, key_of, same
from spmd.tcpif import serve_tcp_entry

log = logging.getLogger("spmd")
BackendFactory = Callable[[], Awaitable[api.KernelBackend]]
FQDN_REFRESH = 60.0
#: The name of the start's payloads in the configuration cache (:meth:`Spmd._apply`).
START_PAYLOADS = "spmd.start-payloads"


@dataclass(frozen=True, slots=True)
class Settings:
    """What the command line decides for the shell."""

    config: str
    keep_policies: bool = False
    hosts: str = "/etc/hosts"
    nsswitch: str = "/etc/nsswitch.conf"
    fwd: bool = True


class Spmd:
    """One running spmd."""

    def __init__(self, settings: Settings, open_backend: BackendFactory) -> None:
        self.settings = settings
        self._open_backend = open_backend
        self.kernel: api.KernelBackend | None = None
        self.state: State | None = None
        self.servers: list[SpmifServer] = []
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._refresh: asyncio.Task[None] | None = None
        self.dns: DnsProxy | None = None
        self._reapplying: asyncio.Task[None] | None = None
        self._follow: asyncio.Task[None] | None = None
        #: This host's addresses (MY_IP…), followed while running.
        self.watch: AddressWatch | None = None
        self._uses_host = False  # whether the last plan expanded a MY_* macro
        #: The policies planned for each selector of the configuration (in its order), and
        #: how many of them have each key: a reload of some selectors plans only theirs.
        self._planned: list[list[Desired]] = []
        self._keys: dict[Key, int] | None = None
        self.notify = sdnotify.current()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, config: Config | None = None) -> None:
        """Load (unless given), reconcile, listen.  Raises Racoon2Error when spmd cannot run."""
        config = config or self._load()
        self.kernel = await self._open_backend()
        self.watch = await AddressWatch.open()
        self.state = State(config, fwd=self.settings.fwd)
        self._read_hosts()
        # The first plan and table make as many objects as the configuration, all kept: the
        # cyclic collector would only scan them again and again (a tenth of the start), so it
        # waits, and then leaves them out of its scans as racoon2.config.without_gc does.
        collecting = gc.isenabled()
        gc.disable()
        try:
            changes = await self._apply(config, start=True)
        finally:
            gc.freeze()
            if collecting:
                gc.enable()
        log.info("policies reconciled with %s: %s", self.settings.config, changes)
        await self._start_dns(config)
        await self._listen(config)
        self._refresh = asyncio.create_task(self._refresh_fqdn())
        self._follow = asyncio.create_task(self._follow_addresses(self.watch))

    async def run(self, config: Config | None = None) -> int:
        """Start, serve until SIGTERM/SIGINT, clean up; the exit status."""
        loop = asyncio.get_running_loop()
        await self.start(config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        loop.add_signal_handler(signal.SIGUSR1, self.log_status)
        # Policies installed and spmif listening: iked and kinkd may log in.
        self.notify.ready(self.status_line())
        loop.call_soon(preload)
        loop.call_soon(self._key_counts)
        await self._stop.wait()
        self.notify.stopping()
        await self.stop()
        return 0

    def log_status(self) -> None:
        """SIGUSR1: one line with the policies spmd holds and the addresses MY_IP… stand for
        (the original spmd had no handler and died of it)."""
        hosts = self.watch.current.expand("MY_IP") if self.watch else []
        log.info("status: %s, MY_IP %s", self.status_line(),
                 " ".join(map(str, hosts)) or "none")

    def status_line(self) -> str:
        """The service manager's STATUS= line (``systemctl status spmd``)."""
        assert self.state is not None
        generated = sum(1 for e in self.state.table.values() if e.generated)
        return f"{len(self.state.table)} policies ({generated} generated for iked)"

    def request_stop(self) -> None:
        """Ask :meth:`run` to finish."""
        self._stop.set()

    async def stop(self) -> None:
        """Close spmif, remove our policies unless they are to be kept, close the kernel."""
        for task in (self._refresh, self._follow):
            if task is not None:
                task.cancel()
        if self.watch is not None:
            self.watch.close()
        self._stop_dns()
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        self.servers = []
        if self.kernel is not None:
            if not self.settings.keep_policies:
                await self.kernel.flush_own(api.Owner.SPMD)
                log.info("removed the policies spmd installed")
            await self.kernel.close()
            self.kernel = None

    async def reload(self) -> None:
        """SIGHUP: apply the configuration's difference; keep everything on any error.
        The service manager sees RELOADING=1 … READY=1 around it."""
        self.notify.reloading()
        try:
            await self._reload()
        finally:
            self.notify.ready(self.status_line())

    async def _reload(self) -> None:
        try:
            loaded = reload_checked(self.settings.config, "spmd", background=True)
        except Racoon2Error as e:
            # One line, "reload refused: FILE:LINE: found X, expected Y", whatever the daemon.
            log.error("reload refused: %s; still running the previous configuration", e)
            return
        for warning in loaded.warnings:
            log.warning("%s", warning)
        config = loaded.config
        assert self.state is not None
        async with self._lock:
            old = self.state.config.resolver
            changes, how = await self._apply_reload(loaded)
        if config.resolver != old:
            self._stop_dns()
            await self._start_dns(config)
        log.info("reloaded %s: %s%s", self.settings.config, changes, how)
        loaded.save()  # the cache entry, once the kernel has the policies

    async def _apply_reload(self, loaded: Reloaded) -> tuple[Changes, str]:
        """Apply a reloaded configuration: only its changed selectors' policies when it was
        made from the one spmd runs, else everything against the kernel."""
        assert self.state is not None
        previous, config = loaded.previous, loaded.config
        changes = None
        if previous is not None and previous is self.state.config:
            changes = await self._apply_selectors(previous, config)
        self.state.config = config
        if changes is not None:
            return changes[0], (f" (only {changes[1]} of {len(config.selectors)} selectors "
                                "planned again)")
        return await self._apply(config), ""

    # -- pieces ---------------------------------------------------------------------------------

    def _load(self) -> Config:
        config, warnings = load_checked(self.settings.config, "spmd", background=True,
                                        defer=True)
        for warning in warnings:
            log.warning("%s", warning)
        return config

    def _plan(self, config: Config, some: list[tuple[int, Selector]] | None = None) -> Plan:
        """The policies of every selector of ``config``, or of ``some`` of them (a reload:
        then a MY_* macro they use adds to what the others used)."""
        assert self.state is not None
        fqdn = self.state.fqdn
        chosen = list(enumerate(config.selectors)) if some is None else some
        for _, sel in chosen:
            for spec in (*sel.src[:1], *sel.dst[:1]):
                if spec.kind is AddrKind.FQDN:
                    fqdn.register(spec.text)
        hosts = self.watch.current if self.watch else HostAddresses()
        if some is None:
            self._uses_host = False

        def local(macro: str, ifname: str | None) -> list[Address]:
            self._uses_host = True
            return hosts.expand(macro, ifname)

        return plan_selectors(config, chosen, local, fqdn.resolve, fwd=self.settings.fwd)

    async def _apply_selectors(self, old: Config, new: Config) -> tuple[Changes, int] | None:
        """Apply what changed from ``old`` to ``new``, whose other selectors are the same
        objects, from spmd's own table (no kernel dump): the changes and how many selectors
        were planned again; None, before touching anything, when a policy of theirs has the
        key of another selector's or a generated one (the full diff decides those)."""
        assert self.kernel is not None and self.state is not None
        if len(self._planned) != len(old.selectors):
            return None
        at = {id(sel): n for n, sel in enumerate(old.selectors)}
        planned: list[list[Desired] | None] = []
        touched: list[tuple[int, Selector]] = []
        gone: list[int] = []
        for n, sel in enumerate(new.selectors):
            was = at.pop(id(sel), None)
            if was is not None and rank(was) == rank(n):  # its policies are as they were
                planned.append(self._planned[was])
                continue
            if was is not None:
                gone.append(was)
            touched.append((n, sel))
            planned.append(None)
        gone.extend(at.values())
        wanted = self._plan(new, touched)
        keys = dict(self._key_counts())  # those of the selectors that stay
        removed: set[Key] = set()
        for n in gone:
            for d in self._planned[n]:
                k = key_of(d.spec)
                removed.add(k)
                keys[k] -= 1
                if not keys[k]:
                    del keys[k]
        table = self.state.table
        desired: dict[Key, Desired] = {}
        for d in wanted.policies:
            k = key_of(d.spec)
            if k in keys or (k in table and k not in removed):
                return None
            desired.setdefault(k, d)
        changes = Changes()
        for k in removed - desired.keys():
            if (e := table.get(k)) is not None:
                changes.delete.append(api.PolicyKey(e.spec.direction, e.spec.selector,
                                                    e.spec.mark, e.spec.if_id, index=e.spid))
        for k, d in desired.items():
            e = table.get(k)
            if e is None:
                changes.add.append(d.spec)
            elif not same(d.spec, e.spec):
                changes.update.append(d.spec)
        index = await self._perform(changes)
        for k in removed - desired.keys():
            table.pop(k, None)
        for k, d in desired.items():
            if k in index:
                self.state.record(d, api.PolicyKey(d.spec.direction, d.spec.selector,
                                                   index=index[k]))
            elif (e := table.get(k)) is not None and same(d.spec, e.spec):
                self.state.record(d, api.PolicyKey(d.spec.direction, d.spec.selector,
                                                   index=e.spid))  # its SLID may be new
        for d in wanted.policies:
            keys[key_of(d.spec)] = keys.get(key_of(d.spec), 0) + 1
        self._keys = keys
        found = iter(wanted.by_selector)
        self._planned = [p if p is not None else next(found) for p in planned]
        for name in sorted(wanted.pending_fqdn):
            log.info("waiting for %s to resolve before installing its policies", name)
        return changes, len(touched)

    async def _perform(self, changes: Changes) -> dict[Key, int]:
        """Delete, add and update in the kernel; the kernel index of each policy added or
        updated (one it refused is logged and left out)."""
        assert self.kernel is not None
        for key in changes.delete:
            with contextlib.suppress(KernelError):
                await self.kernel.del_policy(key)
        added = await self.kernel.add_policies(changes.add)
        index = _indexes(changes.add, [r if isinstance(r, KernelError) else r.index
                                       for r in added])
        for spec in changes.update:
            try:
                index[key_of(spec)] = (await self.kernel.update_policy(spec)).index
            except KernelError as e:
                log.error("cannot update %s: %s", spec.key, e)
        return index

    async def _apply(self, config: Config, start: bool = False) -> Changes:
        """Make the kernel hold exactly the configured policies (plus generated ones).

        At the ``start``, into a kernel without policies of spmd's, the policies go in from
        the payloads the configuration cache kept for this configuration when it has them,
        before the plan is even made (doc/design.md, "spmd's start from the cache"); the
        plan then fills the table and must pack to the same payloads, else what went in is
        reconciled again.  A plan that followed from the configuration alone (no MY_*
        macro, no host name) is installed from its payloads, which the cache then keeps."""
        assert self.kernel is not None and self.state is not None
        installed = await self.kernel.dump_policies(api.Owner.SPMD)
        generated = {k: e for k, e in self.state.table.items() if e.generated}
        packer = self.kernel if start and not installed and not generated and \
            isinstance(self.kernel, api.PackedPolicies) else None
        key = (packer.packed_form, self.settings.fwd) if packer is not None else None
        cached: list[bytes] | None = None
        if packer is not None:
            cached = confcache.derived(self.settings.config, "spmd", START_PAYLOADS, key)
        early = await packer.add_packed(cached) if packer is not None and cached is not None \
            else None
        wanted = self._plan(config)
        desired = [d.spec for d in wanted.policies] + [e.spec for e in generated.values()]
        changes = diff(desired, installed)
        payloads = None
        if packer is not None and not self._uses_host and not self.state.fqdn.registered():
            payloads = packer.pack_policies(changes.add)
        if start:  # before the policies go in: a spmd stopped at once still leaves its entry
            confcache.save(self.settings.config, "spmd", None if packer is None else
                           (START_PAYLOADS, key, payloads), background=True)
        if early is not None and payloads != cached:  # the cache's rules make this impossible
            log.warning("the cached policies of %s are not its plan: reconciling again",
                        self.settings.config)
            return await self._apply(config)
        if early is not None:
            log.debug("%d policies installed from the cache's payloads", len(early))
        index = {key_of(i.spec): i.index for i in installed}
        if early is None and packer is not None and payloads is not None:
            early = await packer.add_packed(payloads)
        index.update(await self._perform(changes) if early is None
                     else _indexes(changes.add, early))
        table = {k: e for k, e in generated.items() if k in index}
        for d in wanted.policies:  # State.record's, without a PolicyKey each (10,000 at start)
            k = key_of(d.spec)
            if k in index:
                table[k] = Installed(d.selector, d.spec, index[k])
        self.state.table = table
        for name in sorted(wanted.pending_fqdn):
            log.info("waiting for %s to resolve before installing its policies", name)
        self._planned = wanted.by_selector
        self._keys = None  # counted when a reload needs them (or once spmd serves)
        return changes

    def _key_counts(self) -> dict[Key, int]:
        """How many of the planned policies have each key (``_planned``'s)."""
        if self._keys is None:
            keys: dict[Key, int] = {}
            for planned in self._planned:
                for d in planned:
                    k = key_of(d.spec)
                    keys[k] = keys.get(k, 0) + 1
            self._keys = keys
        return self._keys

    async def _listen(self, config: Config) -> None:
        iface = config.interface
        if iface is None or iface.spmd_password is None:
            raise Racoon2Error("no spmd interface or spmd_password in the configuration")
        password = read_password(iface.spmd_password)
        for spec in iface.spmd:
            if spec.kind is AddrKind.UNIX:
                self.servers.append(await serve(spec.text, password, self._handle))
            else:
                self.servers.extend(await serve_tcp_entry(spec, password, self._handle))
        if not self.servers:
            raise Racoon2Error("no usable spmif socket (interface { spmd { unix PATH; }; })")

    async def _handle(self, command: c.Command, session: Session) -> Reply:
        assert self.state is not None and self.kernel is not None
        async with self._lock:
            outcome = self.state.handle(command)
            if not isinstance(outcome, KernelWork):
                return outcome
            results: list[object] = []
            try:
                for op in outcome.ops:
                    results.append(await api.perform(self.kernel, op))
            except KernelError as e:
                log.error("%s: %s", session, e)
                return outcome.fail
            self.state.commit(outcome, results)
            log.info("%s: %s", session, outcome.ok.lines[0])
            self.notify.status(self.status_line())
            return outcome.ok

    def _read_hosts(self) -> None:
        assert self.state is not None
        try:
            with open(self.settings.hosts) as f:
                hosts = parse_hosts(f.read())
        except OSError as e:
            log.warning("cannot read %s: %s", self.settings.hosts, e.strerror)
            return
        for name, addrs in hosts.items():
            self.state.fqdn.update(name, addrs)

    async def _refresh_fqdn(self) -> None:
        """Resolve registered names; when an answer changes, reapply the configuration."""
        assert self.state is not None
        loop = asyncio.get_running_loop()
        while True:
            changed = False
            for name in self.state.fqdn.registered():
                try:
                    infos = await loop.getaddrinfo(name.rstrip("."), None,
                                                   type=socket.SOCK_DGRAM)
                except OSError:
                    continue
                addrs = tuple(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
                if addrs != self.state.fqdn.resolve(name):
                    self.state.fqdn.update(name, addrs)
                    changed = True
            if changed:
                async with self._lock:
                    await self._apply(self.state.config)
            await asyncio.sleep(FQDN_REFRESH)


    # -- DNS proxy (resolver { resolver on; nameserver …; dns_query …; }) ----------------------

    async def _start_dns(self, config: Config) -> None:
        assert self.state is not None
        try:
            with open(self.settings.nsswitch) as f:
                nsswitch: str | None = f.read()
        except OSError:
            nsswitch = None
        res = self.state.resolver
        dns.configure(res, config.resolver, dns.nsswitch_has_dns(nsswitch))
        if config.resolver is not None and config.resolver.resolver and not res.nsswitch_dns:
            log.warning("%s: resolver on, but the hosts line of %s has no dns: the DNS proxy "
                        "stays off", config.resolver.where, self.settings.nsswitch)
        if not res.enabled or config.resolver is None:
            return
        if not res.servers:
            raise Racoon2Error(f"{config.resolver.where}: resolver on needs a numeric "
                               "nameserver")
        listen = [(s.address, s.port or dns.DEFAULT_PORT)
                  for s in config.resolver.dns_query if s.address is not None]
        self.dns = DnsProxy(res, self.state.fqdn, self._fqdn_changed)
        await self.dns.start(listen)

    def _stop_dns(self) -> None:
        if self._reapplying is not None:
            self._reapplying.cancel()
        if self.dns is not None:
            self.dns.close()
            self.dns = None

    def _fqdn_changed(self) -> None:
        if self._reapplying is None or self._reapplying.done():
            self._reapplying = asyncio.create_task(self._reapply())

    async def _reapply(self) -> None:
        assert self.state is not None
        async with self._lock:
            if self.kernel is not None:
                await self._apply(self.state.config)

    async def _follow_addresses(self, watch: AddressWatch) -> None:
        """On each change of this host's addresses, re-plan when the configuration uses MY_*
        macros: one log line per address added or removed, with what changed in the kernel."""
        assert self.state is not None
        old = watch.current
        while True:
            new = await watch.changed()
            added, removed = old.changes(new)
            old = new
            what = "no policy uses MY_* macros"
            if self._uses_host:
                async with self._lock:
                    try:
                        what = f"policies re-planned: {await self._apply(self.state.config)}"
                    except Racoon2Error as e:
                        what = f"policies NOT re-planned: {e}"
            for host in added:
                log.info("address %s added: %s", host, what)
            for host in removed:
                log.info("address %s removed: %s", host, what)


def _indexes(specs: list[api.PolicySpec], results: list[int | KernelError]) -> dict[Key, int]:
    """The kernel index of each of ``specs`` added; one the kernel refused is logged."""
    index: dict[Key, int] = {}
    for spec, result in zip(specs, results, strict=True):
        if isinstance(result, KernelError):
            log.error("cannot install %s: %s", spec.key, result)
        else:
            index[key_of(spec)] = result
    return index


def run(settings: Settings, open_backend: BackendFactory, *, foreground: bool,
        pid_path: str = LAYOUT.pid_file("spmd")) -> int:
    """Run spmd until SIGTERM/SIGINT: the exit status (1 when it cannot start)."""
    return run_daemon("spmd", settings.config,
                      lambda config: _main(settings, open_backend, config),
                      foreground=foreground, pid_path=pid_path, defer_save=True)


async def _main(settings: Settings, open_backend: BackendFactory, config: Config) -> int:
    daemon = Spmd(settings, open_backend)
    try:
        return await daemon.run(config)
    except Racoon2Error as e:
        log.error("%s", e)
        await daemon.stop()
        return 1
