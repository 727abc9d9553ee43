"""kinkd's asyncio shell: UDP 910, the kernel, spmd, the KDC and signals.

Each exchange is one small task.  A request from a peer runs :meth:`Kinkd.respond`; an ACQUIRE
(or a soft EXPIRE) starts :meth:`kinkd.initiator.Initiator.initiate`: a ticket from the KDC (off
the event loop, through :class:`~kinkd.krb5.kdc.AsyncKdc`), an inbound SPI from the kernel, then
CREATE, retransmitted until the REPLY comes (:mod:`kinkd.requests`), the SAs
(:mod:`kinkd.kernel_sas`) and, when the responder asked for it, the ACK.

What goes on the wire is built and checked by :mod:`kinkd.exchange`, and the decisions are made
by pure modules that take ``now``: :mod:`kinkd.responder` (what a datagram is, the reply cache,
the epoch rule, what a refused request gets), :mod:`kinkd.policy` (which policy an exchange is
for), :mod:`kinkd.tickets` (TGT upkeep, what a KRB_ERROR asks for), :mod:`kinkd.drops` (why a
message is dropped, the counters) and :class:`kinkd.sas.SaTable`.  This module moves bytes,
reads the clocks and runs the tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from kinkd import exchange as kx
from kinkd import message as kink
from kinkd import names
from kinkd import policy as pol
from kinkd import responder as rs
from kinkd.control import KinkdControl
from kinkd.ctl import COMMANDS
from kinkd.drops import DropCounters, DropReason
from kinkd.exchange import KinkError
from kinkd.identity import Identity, get_identity
from kinkd.initiator import Initiator
from kinkd.kernel_sas import SPIS, KernelSas
from kinkd.krb5.api import Context
from kinkd.krb5.kdc import AsyncKdc
from kinkd.krb5.values import Krb5Error
from kinkd.replay import ReplayCache
from kinkd.requests import Requests
from kinkd.sas import Peer, SaPair, SaTable, sa_ends
from kinkd.settings import (
    KINK_PORT,
    PolicySettings,
    SettingsError,
    peer_settings,
    policy_settings,
    realm_of,
)
from kinkd.tickets import RETRY_TGT, tgt_due, tgt_wait
from racoon2 import daemon, sdnotify, udp
from racoon2.addrwatch import AddressWatch
from racoon2.config import Config, lookup
from racoon2.control.server import open_control
from racoon2.crypto.rng import Rng, SystemRng
from racoon2.errors import Racoon2Error
from racoon2.ikev1.payloads import Identification
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, HostAddresses
from racoon2.paths import LAYOUT
from racoon2.spmif.client import SpmifClient, connect_configured

log = logging.getLogger("kinkd")


class Kinkd:
    """One running kinkd."""

    def __init__(self, config: Config, kernel: api.KernelBackend, spmif: SpmifClient | None,
                 ctx: Context, kdc: AsyncKdc, me: Identity, replay: ReplayCache,
                 bypass: bool = True, rng: Rng | None = None) -> None:
        self.config = config
        self.kernel = kernel
        self.spmif = spmif
        self.ctx = ctx
        self.kdc = kdc
        self.me = me
        self.replay = replay
        self.rng = rng or SystemRng()
        self.epoch = rs.epoch_of(time.time())
        #: This host's addresses, followed while running (set by :meth:`open_sockets`).
        self.watch: AddressWatch | None = None
        self.sockets = udp.Sockets(self.datagram, api.Owner.KINKD if bypass else None)
        self.transports = self.sockets.transports
        self.requests = Requests(self.send, self.rng)
        self.replies = rs.ReplyCache()
        self.pairs = SaTable()
        self.sas = KernelSas(kernel, self.pairs, self.rng)
        self.initiator = Initiator(self)
        self.peers: dict[str, Peer] = {}
        self.counters = DropCounters()
        self.tasks: set[asyncio.Task[object]] = set()
        self._stop = asyncio.Event()
        self._saves = rs.SaveSchedule()
        #: The control socket kinkdctl talks to ("" for none).
        self.ctl_socket = ""
        self.notify = sdnotify.current()

    # -- sockets ------------------------------------------------------------------------------

    def wanted_endpoints(self, hosts: HostAddresses) -> list[Endpoint]:
        """Every ``interface kink`` endpoint (port 910 unless given) with addresses ``hosts``."""
        specs = self.config.interface.kink if self.config.interface else ()
        return udp.endpoints(specs, KINK_PORT, hosts)

    async def open_sockets(self) -> None:
        """Bind every ``interface kink`` address with this host's addresses now."""
        self.watch = await daemon.open_sockets(self.sockets, self.watch, self.wanted_endpoints,
                                               "kink", log)

    def send(self, data: bytes, local: Endpoint | None, remote: Endpoint) -> None:
        """Send one datagram from ``local`` (None, or gone: any socket of the family)."""
        if local is None or local not in self.transports:
            local = next((ep for ep in self.transports if ep.addr.version ==
                          remote.addr.version), None)
        if local is None:
            log.warning("%s: no KINK socket of its address family", remote)
            return
        self.transports[local].sendto(data, udp.peer_address(remote))

    def spawn(self, coro: Awaitable[object]) -> None:
        """Run ``coro`` as a task; its failure is logged, and stopping cancels it."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        self.tasks.discard(task)
        # Every exchange and kernel change runs as such a task: the SA count follows.
        self.notify.status(self.status_line())
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("internal error: %r", e, exc_info=e)

    # -- datagrams ----------------------------------------------------------------------------

    def datagram(self, data: bytes, local: Endpoint, remote: Endpoint) -> None:
        """A KINK datagram: a REPLY wakes its exchange, a request gets its own task."""
        verdict = rs.triage(data, remote, self.replies, self.requests.waiting)
        match verdict:
            case rs.Drop(reason, detail):
                self.counters.drop(reason)
                log.debug("%s: %s", remote, detail)
            case rs.Wake(xid):
                self.requests.wake(xid, data)
            case rs.Resend(reply):
                self.send(reply, local, remote)  # the peer missed our REPLY
            case rs.Busy(msg):
                log.debug("%s: %s XID %d retransmitted while being answered", remote,
                          kink.MsgType(msg.type).name, msg.xid)
            case rs.Refuse(key, msg, code):
                self._answer(key, data, kx.error_reply(msg.xid, code), local)
                log.info("%s: refused %s: %s", remote, kink.MsgType(msg.type).name, code.name)
            case rs.Serve(key, msg):
                self.replies.begin(key)
                self.spawn(self._respond_once(key, self.respond(msg, data, local, remote)))

    async def _respond_once(self, key: rs.RequestKey, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self.replies.finish(key)

    def _answer(self, key: rs.RequestKey, request: bytes, reply: bytes,
                local: Endpoint) -> None:
        self.replies.store(key, request, reply, time.monotonic())
        self.send(reply, local, key[0])

    async def respond(self, msg: kink.Message, data: bytes, local: Endpoint,
                      remote: Endpoint) -> None:
        """Answer one request from a peer."""
        mtype = kink.MsgType(msg.type)
        key = (remote, msg.type, msg.xid)
        if mtype is kink.MsgType.GETTGT:
            await self._gettgt(data, key, local)
            return
        u2u = self.me.tgt.session_key if self.me.user_to_user_only else None
        try:
            # The keytab is libkrb5's default one: KRB5_KTNAME or krb5.conf name it.
            verified = kx.verify_request(self.ctx, data, mtype, keytab=None,
                                         server=self.me.principal, replay=self.replay,
                                         now=time.time(), user_to_user_key=u2u)
        except KinkError as e:
            self._refuse(e, msg, data, key, local)
            return
        self._save_replay_cache()
        self.check_epoch(verified.client, verified.peer_epoch)
        handler: dict[kink.MsgType, Callable[..., Awaitable[None]]] = {
            kink.MsgType.CREATE: self._create, kink.MsgType.DELETE: self._delete,
            kink.MsgType.STATUS: self._status, kink.MsgType.ACK: self._ack}
        await handler[mtype](verified, data, key, local)

    def _refuse(self, e: KinkError, msg: kink.Message, data: bytes, key: rs.RequestKey,
                local: Endpoint) -> None:
        remote = key[0]
        error = rs.refusal(e, msg.type, self.me.user_to_user_only)
        if error is None:
            self.counters.drop(DropReason.UNAUTHENTICATED)
            log.warning("%s: dropped %s: %s", remote, kink.MsgType(msg.type).name, e)
            return
        with contextlib.suppress(Krb5Error):
            self._answer(key, data, kx.krb_error_reply(self.ctx, msg.xid, error,
                                                       self.me.principal, str(e.__cause__)),
                         local)
        log.info("%s: refused %s: %s (KRB_ERROR %d sent)", remote,
                 kink.MsgType(msg.type).name, e, error)

    async def _gettgt(self, data: bytes, key: rs.RequestKey, local: Endpoint) -> None:
        try:
            xid, realm = kx.process_gettgt(data)
        except KinkError as e:
            self.counters.drop(DropReason.MALFORMED)
            log.debug("%s: dropped GETTGT: %s", key[0], e)
            return
        if realm != realm_of(self.me.principal):
            self._answer(key, data, kx.error_reply(xid, kink.ErrorCode.PROTOERR), local)
            log.info("%s: GETTGT for realm %s, which is not ours", key[0], realm)
            return
        self._answer(key, data, kx.build_tgt_reply(xid, self.me.principal,
                                                   self.me.tgt.ticket), local)
        log.info("%s: sent our TGT for a user-to-user ticket", key[0])

    def check_epoch(self, principal: str, epoch: int) -> None:
        """RFC 4430 §3.7: a peer that restarted loses its SA pairs here too."""
        restart = rs.observe_epoch(self.peers, principal, epoch, self.pairs)
        if restart is None:
            return
        log.info("%s restarted (epoch %d -> %d): deleting its %d SA pair(s)", principal,
                 restart.old_epoch, epoch, len(restart.pairs))
        for pair in restart.pairs:
            self.spawn(self.sas.remove(pair, "the peer restarted"))

    # -- responder ----------------------------------------------------------------------------

    async def _policy_for(self, client: str, remote: Address,
                          ids: tuple[Identification, ...]) -> PolicySettings | None:
        for candidate in pol.responder_candidates(self.config, client, remote, ids):
            if candidate.peer.principal is None:
                # No peers_principal: the principal the peer's host name gives must be right.
                try:
                    if await names.peer_principal(candidate.peer, remote,
                                            realm_of(self.me.principal), self.spmif) != client:
                        continue
                except KinkError:
                    continue
            return candidate.policy
        return None

    async def _create(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                      local: Endpoint) -> None:
        remote = key[0]
        policy = await self._policy_for(v.client, remote.addr, kx.ids_of(v))
        if policy is None:
            log.warning("%s: CREATE from %s matches no policy", remote, v.client)
            self._answer(key, data, kx.error_reply(v.msg.xid, kink.ErrorCode.PROTOERR), local)
            return
        try:
            request = kx.choose(v, policy.offers, peer_settings(
                self.config, pol.remote_of(self.config, policy)).proposal_check)
        except KinkError as e:
            log.warning("%s: CREATE from %s for policy %s: %s", remote, v.client,
                        policy.policy, e)
            self._answer(key, data, kx.error_reply(v.msg.xid, kink.ErrorCode.PROTOERR), local)
            return
        me, peer = sa_ends(policy, local.addr, remote.addr)
        try:
            spi = await self.kernel.alloc_spi(api.Proto.ESP, peer, me, policy.reqid,
                                              lo=SPIS[0], hi=SPIS[1])
            nonce = self.rng.random_bytes(peer_settings(
                self.config, pol.remote_of(self.config, policy)).nonce_size)
            reply, child = kx.build_reply(self.ctx, request, spi, nonce, epoch=self.epoch)
        except Racoon2Error as e:
            log.error("%s: cannot answer CREATE from %s: %s", remote, v.client, e)
            self._answer(key, data, kx.error_reply(v.msg.xid, kink.ErrorCode.INTERR), local)
            return
        pair = SaPair(policy, v.client, remote, local.addr, remote.addr, child, False,
                      time.monotonic())
        if await self.sas.install(pair, outbound=not child.ack_required):
            self._answer(key, data, reply, local)
            if child.ack_required:
                self.pairs.expect_ack(remote.addr, v.msg.xid, pair)
        else:
            # The initiator learns that it must not use its SAs: INTERR, nothing installed.
            self._answer(key, data, kx.error_reply(v.msg.xid, kink.ErrorCode.INTERR), local)

    async def _ack(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                   local: Endpoint) -> None:
        pair = self.pairs.acked(key[0].addr, v.msg.xid, v.client)
        if pair is None:
            log.debug("%s: ACK for XID %d that waits for none", key[0], v.msg.xid)
            return
        await self.sas.install_outbound(pair)

    async def _delete(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                      local: Endpoint) -> None:
        spis = set(kx.deleted_spis(v.quick_mode))
        gone = self.pairs.deleted_by(v.client, spis)
        for pair in gone:
            await self.sas.remove(pair, "deleted by the peer")
        self._answer(key, data, kx.build_plain_reply(self.ctx, v, epoch=self.epoch), local)
        if not gone:
            log.info("%s: DELETE from %s names no SA of ours (%s)", key[0], v.client,
                     ", ".join(f"0x{s:08x}" for s in sorted(spis)) or "no SPI")

    async def _status(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                      local: Endpoint) -> None:
        self._answer(key, data, kx.build_plain_reply(self.ctx, v, epoch=self.epoch), local)
        log.debug("%s: STATUS from %s answered", key[0], v.client)

    def source_for(self, dest: Endpoint, local: Address | None) -> Endpoint:
        """The socket a request to ``dest`` goes out of: ``local``'s, else one of its family."""
        if local is not None:
            for ep in self.transports:
                if ep.addr == local:
                    return ep
        for ep in self.transports:
            if ep.addr.version == dest.addr.version:
                return ep
        raise KinkError(f"no KINK socket for {dest}'s address family")

    # -- kernel -------------------------------------------------------------------------------

    async def kernel_events(self) -> None:
        """ACQUIRE → CREATE; soft EXPIRE → a new CREATE; hard EXPIRE → forget the pair."""
        async for event in self.kernel.events():
            if isinstance(event, api.Acquire):
                await self._acquire(event)
            elif isinstance(event, api.Expire):
                self._expire(event)

    async def _acquire(self, event: api.Acquire) -> None:
        slid = await daemon.acquire_slid(self.spmif, event.policy_index, log)
        # No addresses: without spmd's name kinkd does not guess the selector.
        selector = lookup.acquire_selector(self.config, slid)
        if selector is None or selector.policy is None:
            log.warning("ACQUIRE for %s matches no selector of the configuration",
                        event.selector)
            return
        try:
            policy = policy_settings(self.config, selector.policy)
        except SettingsError as e:
            log.error("ACQUIRE for %s: %s", event.selector, e)
            return
        log.info("ACQUIRE for %s: selector %s", event.selector, slid)
        self.initiator.initiate(policy, event.src, pol.acquire_target(policy, event.dst), "ACQUIRE")

    def _expire(self, event: api.Expire) -> None:
        pair = self.pairs.expired(event.key)
        if pair is None:
            return
        if event.hard:
            self.pairs.remove(pair)
            other = pair.outbound if event.key == pair.inbound else pair.inbound
            self.spawn(self.sas.forget(other))
            log.info("ESP SAs of policy %s with %s (%s) reached their hard lifetime",
                     pair.policy.policy, pair.principal, pair.describe())
        elif not pair.rekeyed:
            # The initiator's soft limit comes first (80-90 %), the responder's at 92-97 %:
            # the responder rekeys only when the initiator has not.
            pair.rekeyed = True
            log.info("ESP SAs of policy %s with %s (%s) reached their soft lifetime: rekeying",
                     pair.policy.policy, pair.principal, pair.describe())
            self.initiator.initiate(pair.policy, pair.local, pair.remote, "rekey")

    # -- life cycle ---------------------------------------------------------------------------

    async def _keep_tgt(self) -> None:
        """Get a new TGT five minutes before the current one ends (a user-to-user-only kinkd
        rereads its credential cache, which the admin's kinit or k5start renews)."""
        while True:
            await asyncio.sleep(tgt_wait(self.me.tgt.times.endtime, time.time()))
            if not tgt_due(self.me.tgt.times.endtime, time.time()):
                continue
            try:
                self.me = await get_identity(self.ctx, self.kdc, self.me.principal)
            except Racoon2Error as e:
                log.error("cannot renew the TGT, retrying in %d s: %s", RETRY_TGT, e)

    def _save_replay_cache(self, force: bool = False) -> None:
        if not self._saves.due(time.monotonic(), force):
            return
        try:
            self.replay.save()
        except OSError as e:
            log.warning("cannot write the replay cache %s: %s", self.replay.path, e)

    def status(self) -> dict[str, object]:
        """The SA table and counters, for SIGUSR1's JSON line."""
        return {"epoch": self.epoch, "principal": self.me.principal,
                "sa_pairs": self.pairs.rows(), "dropped": self.counters.as_dict(),
                "replay_cache": len(self.replay)}

    def status_line(self) -> str:
        """The service manager's STATUS= line (``systemctl status kinkd``)."""
        return f"{len(self.pairs)} SA pair(s), principal {self.me.principal}"

    async def send_status(self) -> None:
        """SIGUSR1: a STATUS to every peer with SAs, as the original's "STATUS flooding";
        a changed epoch in an answer deletes that peer's SAs."""
        log.info("status %s", json.dumps(self.status(), sort_keys=True))
        for pair in self.pairs.first_of_each_peer():
            self.spawn(self.initiator.status_to(pair))

    async def reload(self) -> tuple[bool, str]:
        """SIGHUP: reread the configuration; a file that does not load changes nothing.
        The service manager sees RELOADING=1 … READY=1 around it.  Returns whether it took
        the file, and the log line saying what happened."""
        self.notify.reloading()
        try:
            return await self._reload()
        finally:
            self.notify.ready(self.status_line())

    async def _reload(self) -> tuple[bool, str]:
        config = daemon.reload_config(self.config, log)
        if config is None:
            return False, "reload refused: the file does not load (see the log)"
        self.config = config
        message = f"reloaded {config.file}; {len(self.pairs)} SA pair(s) kept"
        log.info("%s", message)
        assert self.watch is not None
        await daemon.sync_sockets(self.sockets, self.watch, self.wanted_endpoints, "kink", log)
        if self.spmif is None:
            # As the original: a SIGHUP also retries spmd when kinkd runs without it.
            self.spmif = await _connect_spmd(config)
        return True, message

    async def _sighup(self) -> None:
        await self.reload()

    def request_stop(self) -> None:
        """Begin a clean shutdown (SIGTERM/SIGINT)."""
        self._stop.set()

    async def run(self) -> int:
        """Serve until stopped; the exit status."""
        # The SAs of a kinkd that died without its shutdown (kill -9) belong to no pair of
        # ours (the table starts empty): they go, as iked's do (doc/kinkd.md).
        await daemon.remove_own_sas(self.kernel, api.Owner.KINKD, "stale", log)
        await self.open_sockets()
        daemon.on_signals(asyncio.get_running_loop(), {
            signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
            signal.SIGHUP: lambda: self.spawn(self._sighup()),
            signal.SIGUSR1: lambda: self.spawn(self.send_status())})
        ctl = await open_control(self.ctl_socket, COMMANDS, KinkdControl(self).handle, log)
        events = asyncio.create_task(self.kernel_events())
        refresh = asyncio.create_task(self._keep_tgt())
        assert self.watch is not None
        follow = asyncio.create_task(udp.follow(self.watch, self.sockets,
                                                self.wanted_endpoints, log))
        # The TGT is in hand and spmd's session up (_main), the sockets open: kinkd serves.
        self.notify.ready(self.status_line())
        await self._stop.wait()
        self.notify.stopping()
        if ctl is not None:
            await ctl.close()
        log.info("shutting down: deleting %d SA pair(s)", len(self.pairs))
        for task in (events, refresh, follow):
            task.cancel()
        for exchange in list(self.tasks):
            exchange.cancel()
        await self.initiator.delete_all()
        self._save_replay_cache(force=True)
        self.sockets.close()
        self.watch.close()
        return 0


async def _connect_spmd(config: Config) -> SpmifClient | None:
    try:
        return await connect_configured(config)
    except Racoon2Error as e:
        # As the original: kinkd works without spmd (no ACQUIRE names, no FQDN queries).
        log.warning("cannot reach spmd, going on without it: %s", e)
        return None


async def _main(config: Config, replay_path: str, kdc_timeout: float, ctl_socket: str) -> int:
    from kinkd.settings import my_principal
    from racoon2.kernel.system import open_backend

    principal = my_principal(config)
    ctx = Context()
    kdc = AsyncKdc(timeout=kdc_timeout)
    try:
        me = await get_identity(ctx, kdc, principal)
        kernel = await open_backend()
        spmif = await _connect_spmd(config)
        kinkd = Kinkd(config, kernel, spmif, ctx, kdc, me, ReplayCache(replay_path),
                      daemon.application_bypass(config))
        kinkd.ctl_socket = ctl_socket
        try:
            return await kinkd.run()
        finally:
            if spmif is not None:
                with contextlib.suppress(Racoon2Error):
                    await spmif.quit()
                await spmif.close()
            await kernel.close()
    finally:
        kdc.close()


def run(config_path: str, *, foreground: bool, pid_path: str = LAYOUT.pid_file("kinkd"),
        replay_path: str = LAYOUT.kinkd_replay, kdc_timeout: float = 10.0,
        ctl_socket: str = "/var/run/racoon2/kinkd.ctl") -> int:
    """Run kinkd until SIGTERM/SIGINT: the exit status (1 when it cannot start)."""
    return daemon.run_daemon("kinkd", config_path,
                             lambda config: _main(config, replay_path, kdc_timeout,
                                                  ctl_socket),
                             foreground=foreground, pid_path=pid_path)
