"""kinkd's asyncio shell: UDP 910, the kernel, spmd, the KDC and signals.

Each exchange is one small task.  An ACQUIRE (or a soft EXPIRE) starts :meth:`Kinkd.initiate`:
a ticket from the KDC (off the event loop, through :class:`~kinkd.krb5.kdc.AsyncKdc`), an inbound
SPI from the kernel, then CREATE, retransmitted until the REPLY comes, the SAs and, when the
responder asked for it, the ACK.  A request from a peer runs :meth:`Kinkd.respond`.  What goes
on the wire is built and checked by :mod:`kinkd.exchange`, and every decision is made by a pure
module that takes ``now``: :mod:`kinkd.responder` (what a datagram is, the reply cache, the
epoch rule), :mod:`kinkd.policy` (which policy an exchange is for), :mod:`kinkd.tickets` (TGT
upkeep, what a KRB_ERROR asks for), :mod:`kinkd.drops` (the drop counters) and
:class:`kinkd.sas.SaTable`.  This module moves bytes, reads clocks and talks to the kernel, the
KDC and spmd.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kinkd import exchange as kx
from kinkd import message as kink
from kinkd import policy as pol
from kinkd import responder as rs
from kinkd.drops import DropCounters, DropReason
from kinkd.exchange import KinkError, PeerKrbError
from kinkd.krb5.api import Context, Credentials
from kinkd.krb5.kdc import AsyncKdc
from kinkd.krb5.values import Krb5Error
from kinkd.replay import ReplayCache
from kinkd.sas import Peer, SaPair, SaTable, algorithms, quick_mode_ids, sa_ends, sa_specs
from kinkd.settings import (
    KINK_PORT,
    PeerSettings,
    PolicySettings,
    SettingsError,
    etc_hosts_name,
    peer_settings,
    policy_settings,
    principal_for,
    realm_of,
)
from kinkd.tickets import RETRY_TGT, Recovery, recovery, tgt_due, tgt_wait, ticket_usable
from racoon2 import udp
from racoon2.addrwatch import AddressWatch
from racoon2.config import Config
from racoon2.config.model import AddrKind
from racoon2.crypto.rng import Rng, SystemRng
from racoon2.daemon import on_signals, run_daemon
from racoon2.errors import Racoon2Error
from racoon2.ikev1.payloads import Identification
from racoon2.kernel import api
from racoon2.net import Address, Endpoint, HostAddresses
from racoon2.spmif.client import SpmifClient, connect_configured

log = logging.getLogger("kinkd")
SHUTDOWN_TICKET_TIME = 3.0  # seconds a stopping responder waits for tickets to send DELETE

@dataclass(frozen=True)
class Identity:
    """kinkd's own Kerberos identity: its principal, and how it reads tickets sent to it."""

    principal: str
    ccache: str            # MEMORY: cache with the TGT, shared with the KDC worker
    tgt: Credentials
    user_to_user_only: bool  # no key in the keytab: peers must use user-to-user tickets
    #: keeps the MEMORY ccache alive: it is destroyed with its last handle
    owner: object = field(default=None, compare=False, repr=False)


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
        self.pending: dict[int, tuple[Endpoint, asyncio.Future[bytes]]] = {}
        self.replies = rs.ReplyCache()
        self.pairs = SaTable()
        self.peers: dict[str, Peer] = {}
        self.in_flight: set[tuple[str, Address]] = set()
        self.counters = DropCounters()
        self.tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._saves = rs.SaveSchedule()

    # -- sockets ------------------------------------------------------------------------------

    def wanted_endpoints(self, hosts: HostAddresses) -> list[Endpoint]:
        """Every ``interface kink`` endpoint (port 910 unless given) with addresses ``hosts``."""
        specs = self.config.interface.kink if self.config.interface else ()
        return udp.endpoints(specs, KINK_PORT, hosts)

    async def open_sockets(self) -> None:
        """Bind every ``interface kink`` address with this host's addresses now."""
        if self.watch is None:
            self.watch = await AddressWatch.open()
        await self._sync_sockets()
        if not self.transports:
            raise Racoon2Error("no KINK socket could be opened",
                               hint="check the interface kink addresses in racoon2.conf")

    async def _sync_sockets(self) -> None:
        assert self.watch is not None
        opened, closed = await self.sockets.sync(self.wanted_endpoints(self.watch.current))
        for ep in opened:
            log.info("listening on %s", ep)
        for ep in closed:
            log.info("closed %s: no longer in interface kink", ep)

    def _send(self, data: bytes, local: Endpoint | None, remote: Endpoint) -> None:
        if local is None or local not in self.transports:
            local = next((ep for ep in self.transports if ep.addr.version ==
                          remote.addr.version), None)
        if local is None:
            log.warning("%s: no KINK socket of its address family", remote)
            return
        self.transports[local].sendto(data, (str(remote.addr), remote.port))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("internal error: %r", e, exc_info=e)

    # -- datagrams ----------------------------------------------------------------------------

    def _waiting(self, xid: int) -> Address | None:
        dest, waiter = self.pending.get(xid, (None, None))
        return None if waiter is None or waiter.done() or dest is None else dest.addr

    def datagram(self, data: bytes, local: Endpoint, remote: Endpoint) -> None:
        """A KINK datagram: a REPLY wakes its exchange, a request gets its own task."""
        verdict = rs.triage(data, remote, self.replies, self._waiting)
        match verdict:
            case rs.Drop(reason, detail):
                self.counters.drop(reason)
                log.debug("%s: %s", remote, detail)
            case rs.Wake(xid):
                self.pending[xid][1].set_result(data)
            case rs.Resend(reply):
                self._send(reply, local, remote)  # the peer missed our REPLY
            case rs.Busy(msg):
                log.debug("%s: %s XID %d retransmitted while being answered", remote,
                          kink.MsgType(msg.type).name, msg.xid)
            case rs.Refuse(key, msg, code):
                self._answer(key, data, kx.error_reply(msg.xid, code), local)
                log.info("%s: refused %s: %s", remote, kink.MsgType(msg.type).name, code.name)
            case rs.Serve(key, msg):
                self.replies.begin(key)
                self._spawn(self._respond_once(key, self.respond(msg, data, local, remote)))

    async def _respond_once(self, key: rs.RequestKey, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self.replies.finish(key)

    def _answer(self, key: rs.RequestKey, request: bytes, reply: bytes,
                local: Endpoint) -> None:
        self.replies.store(key, request, reply, time.monotonic())
        self._send(reply, local, key[0])

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
        self._check_epoch(verified.client, verified.peer_epoch)
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

    def _check_epoch(self, principal: str, epoch: int) -> None:
        restart = rs.observe_epoch(self.peers, principal, epoch, self.pairs)
        if restart is None:
            return
        log.info("%s restarted (epoch %d -> %d): deleting its %d SA pair(s)", principal,
                 restart.old_epoch, epoch, len(restart.pairs))
        for pair in restart.pairs:
            self._spawn(self._remove(pair, "the peer restarted"))

    # -- responder ----------------------------------------------------------------------------

    async def _policy_for(self, client: str, remote: Address,
                          ids: tuple[Identification, ...]) -> PolicySettings | None:
        for candidate in pol.responder_candidates(self.config, client, remote, ids):
            if candidate.peer.principal is None:
                # No peers_principal: the principal the peer's host name gives must be right.
                try:
                    if await self._peer_principal(candidate.peer, remote) != client:
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
            spi = await self.kernel.alloc_spi(api.Proto.ESP, peer, me, policy.reqid)
            nonce = self.rng.random_bytes(peer_settings(
                self.config, pol.remote_of(self.config, policy)).nonce_size)
            reply, child = kx.build_reply(self.ctx, request, spi, nonce, epoch=self.epoch)
        except (Racoon2Error, KinkError) as e:
            log.error("%s: cannot answer CREATE from %s: %s", remote, v.client, e)
            self._answer(key, data, kx.error_reply(v.msg.xid, kink.ErrorCode.INTERR), local)
            return
        pair = SaPair(policy, v.client, remote, local.addr, remote.addr, child, False,
                      time.monotonic())
        if await self._install(pair, outbound=not child.ack_required):
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
        await self._install_outbound(pair)

    async def _delete(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                      local: Endpoint) -> None:
        spis = set(kx.deleted_spis(v.quick_mode))
        gone = self.pairs.deleted_by(v.client, spis)
        for pair in gone:
            await self._remove(pair, "deleted by the peer")
        self._answer(key, data, kx.build_plain_reply(self.ctx, v, epoch=self.epoch), local)
        if not gone:
            log.info("%s: DELETE from %s names no SA of ours (%s)", key[0], v.client,
                     ", ".join(f"0x{s:08x}" for s in sorted(spis)) or "no SPI")

    async def _status(self, v: kx.Verified, data: bytes, key: rs.RequestKey,
                      local: Endpoint) -> None:
        self._answer(key, data, kx.build_plain_reply(self.ctx, v, epoch=self.epoch), local)
        log.debug("%s: STATUS from %s answered", key[0], v.client)

    # -- initiator ----------------------------------------------------------------------------

    async def _peer_principal(self, peer: PeerSettings, addr: Address) -> str:
        if peer.principal:
            return peer.principal
        realm = realm_of(self.me.principal)
        name = etc_hosts_name(addr)
        if name is None and self.spmif is not None:
            with contextlib.suppress(Racoon2Error):
                names = await self.spmif.fqdn_query(addr)
                name = names[0] if names else None
        if name is None:
            raise KinkError(f"remote {peer.remote} has no peers_principal and {addr} has no "
                            "host name in /etc/hosts or spmd")
        return principal_for(name, realm)

    async def _target(self, peer: PeerSettings, acquired: Address | None) -> Address:
        if acquired is not None:
            return acquired
        for spec in peer.addresses:
            if spec.kind is AddrKind.INET and spec.address is not None:
                return spec.address
            if spec.kind is AddrKind.FQDN and spec.text:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    spec.text, None, type=socket.SOCK_DGRAM)
                if infos:
                    return ipaddress.ip_address(infos[0][4][0])
        raise KinkError(f"remote {peer.remote} has no peers_ipaddr to send CREATE to")

    def initiate(self, policy: PolicySettings, local: Address | None, remote: Address | None,
                 why: str) -> None:
        """Start a CREATE for ``policy`` (``local``/``remote``: the ACQUIRE's addresses)."""
        self._spawn(self._initiate(policy, local, remote, why))

    async def _initiate(self, policy: PolicySettings, local: Address | None,
                        remote: Address | None, why: str) -> None:
        try:
            peer = pol.initiator_settings(self.config, policy)
            target = await self._target(peer, remote)
        except (KinkError, SettingsError, OSError) as e:
            log.error("policy %s: cannot start KINK: %s", policy.policy, e)
            return
        flight = (policy.policy, target)
        if flight in self.in_flight:
            log.debug("policy %s: a CREATE to %s is already on its way", policy.policy, target)
            return
        self.in_flight.add(flight)
        try:
            await self._create_sa(policy, peer, target, local, why)
        except TimeoutError:
            log.error("policy %s: CREATE to %s failed: the KDC did not answer within %g s",
                      policy.policy, target, self.kdc.timeout)
        except (KinkError, Racoon2Error, Krb5Error, OSError) as e:
            log.error("policy %s: CREATE to %s failed: %s", policy.policy, target, e)
        finally:
            self.in_flight.discard(flight)

    async def _create_sa(self, policy: PolicySettings, peer: PeerSettings, target: Address,
                         local: Address | None, why: str) -> None:
        dest = Endpoint(target, peer.port)
        src = self._source_for(dest, local)
        principal = await self._peer_principal(peer, target)
        state = self.peers.setdefault(principal, Peer(principal))
        me, them = sa_ends(policy, src.addr, target)
        log.info("policy %s: CREATE to %s (%s, %s)", policy.policy, dest, principal, why)
        for attempt in range(3):
            creds = await self._ticket(state, peer, dest, src)
            spi = await self.kernel.alloc_spi(api.Proto.ESP, them, me, policy.reqid)
            xid = self._xid()
            data, initiated = kx.build_create(
                self.ctx, creds, policy.offers, spi, self.rng.random_bytes(peer.nonce_size),
                xid=xid, epoch=self.epoch, ids=quick_mode_ids(policy, src.addr, target))
            try:
                answer = await self._transact(data, xid, src, dest, peer)
                child = kx.process_reply(self.ctx, initiated, answer)
            except KinkError as e:
                await self._forget(api.SaKey(them, me, api.Proto.ESP, spi))
                if isinstance(e, PeerKrbError) and attempt < 2 and self._recover(e, state):
                    continue
                raise
            break
        else:
            raise KinkError("gave up after three refusals")
        self._check_epoch(principal, child.peer_epoch)
        pair = SaPair(policy, principal, dest, src.addr, target, child, True, time.monotonic())
        if not await self._install(pair, outbound=True):
            return
        if child.ack_required:
            ack, _ = kx.build_request(self.ctx, creds, kink.MsgType.ACK, xid=xid,
                                      epoch=self.epoch)
            self._send(ack, src, dest)
            log.debug("policy %s: ACK sent to %s", policy.policy, dest)

    def _recover(self, e: PeerKrbError, state: Peer) -> bool:
        match recovery(e.error, e.stime):
            case Recovery.USER_TO_USER:
                log.info("%s wants a user-to-user ticket: asking it for its TGT",
                         state.principal)
                state.creds, state.tgt = None, b""
            case Recovery.NEW_TICKET:
                log.info("%s finds our ticket expired: getting a new one", state.principal)
                state.creds = None
            case Recovery.ADOPT_CLOCK:
                log.warning("%s reports clock skew: using its time (%d) for Kerberos",
                            state.principal, e.stime)
                self.ctx.set_time(e.stime)
            case None:
                return False
        return True

    async def _ticket(self, state: Peer, peer: PeerSettings, dest: Endpoint,
                      src: Endpoint) -> Credentials:
        creds = state.creds
        if creds is not None and ticket_usable(creds.times.endtime, time.time()):
            return creds
        if state.tgt is not None and not state.tgt:
            # The peer asked for user-to-user: fetch its TGT with GETTGT.
            xid = self._xid()
            answer = await self._transact(
                kx.build_gettgt(xid, realm_of(state.principal)), xid, src, dest, peer)
            _, state.tgt = kx.process_tgt_reply(self.ctx, answer, xid)
        creds = await self.kdc.get_credentials(self.me.ccache, self.me.principal,
                                               state.principal, user_to_user=state.tgt or None)
        log.info("got a %sticket for %s from the KDC",
                 "user-to-user " if creds.is_user_to_user else "", state.principal)
        state.creds = creds
        return creds

    def _source_for(self, dest: Endpoint, local: Address | None) -> Endpoint:
        if local is not None:
            for ep in self.transports:
                if ep.addr == local:
                    return ep
        for ep in self.transports:
            if ep.addr.version == dest.addr.version:
                return ep
        raise KinkError(f"no KINK socket for {dest}'s address family")

    def _xid(self) -> int:
        while True:
            xid = int.from_bytes(self.rng.random_bytes(4), "big")
            if xid and xid not in self.pending:
                return xid

    async def _transact(self, data: bytes, xid: int, src: Endpoint, dest: Endpoint,
                        peer: PeerSettings) -> bytes:
        """Send a request and wait for its REPLY, retransmitting as the remote says."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[xid] = (dest, waiter)
        try:
            for attempt in range(peer.max_retry + 1):
                self._send(data, src, dest)
                try:
                    # Doubling, unlike the original's fixed interval: a responder busy with
                    # its KDC or kernel is not flooded, and 5 retries still end within 32 s.
                    return await asyncio.wait_for(asyncio.shield(waiter),
                                                  peer.interval * 2 ** attempt)
                except TimeoutError:
                    log.debug("%s: no REPLY to XID %d (try %d)", dest, xid, attempt + 1)
            raise KinkError(f"no REPLY from {dest} after {peer.max_retry + 1} tries")
        finally:
            del self.pending[xid]
            waiter.cancel()

    # -- kernel -------------------------------------------------------------------------------

    async def _install(self, pair: SaPair, outbound: bool) -> bool:
        inbound, out = sa_specs(pair, self.rng)
        what = "inbound"
        try:
            await self.kernel.update_sa(inbound)
            if outbound:
                what = "outbound"
                await self.kernel.add_sa(out)
                pair.outbound_installed = True
        except Racoon2Error as e:
            log.error("policy %s with %s: cannot install the %s ESP SA: %s",
                      pair.policy.policy, pair.principal, what, e)
            # Also the larval SA of the allocated SPI, if the update did not happen.
            await self._forget(pair.inbound)
            return False
        self.pairs.add(pair)
        log.info("ESP SAs of policy %s up with %s at %s: %s %s, %s (%s)", pair.policy.policy,
                 pair.principal, pair.remote, pair.policy.mode.name.lower(), pair.describe(),
                 algorithms(pair.child), "initiator" if pair.initiator else
                 "responder" + (", outbound SA after the ACK" if not outbound else ""))
        return True

    async def _install_outbound(self, pair: SaPair) -> None:
        try:
            await self.kernel.add_sa(sa_specs(pair, self.rng)[1])
        except Racoon2Error as e:
            log.error("policy %s with %s: cannot install the outbound ESP SA: %s",
                      pair.policy.policy, pair.principal, e)
            return
        pair.outbound_installed = True
        log.info("policy %s with %s: ACK received, outbound SA 0x%08x installed",
                 pair.policy.policy, pair.principal, pair.child.outbound_spi)

    async def _remove(self, pair: SaPair, why: str) -> None:
        if not self.pairs.remove(pair):
            return
        for key in (pair.inbound, pair.outbound) if pair.outbound_installed else (pair.inbound,):
            await self._forget(key)
        log.info("ESP SAs of policy %s with %s (%s) deleted: %s", pair.policy.policy,
                 pair.principal, pair.describe(), why)

    async def kernel_events(self) -> None:
        """ACQUIRE → CREATE; soft EXPIRE → a new CREATE; hard EXPIRE → forget the pair."""
        async for event in self.kernel.events():
            if isinstance(event, api.Acquire):
                await self._acquire(event)
            elif isinstance(event, api.Expire):
                self._expire(event)

    async def _acquire(self, event: api.Acquire) -> None:
        slid = None
        if self.spmif is not None:
            try:
                slid = await self.spmif.slid(event.policy_index)
            except Racoon2Error as e:
                log.warning("spmd cannot name policy %d: %s", event.policy_index, e)
        selector = self.config.selector(slid) if slid else None
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
        self.initiate(policy, event.src, pol.acquire_target(policy, event.dst), "ACQUIRE")

    def _expire(self, event: api.Expire) -> None:
        pair = self.pairs.expired(event.key)
        if pair is None:
            return
        if event.hard:
            self.pairs.remove(pair)
            other = pair.outbound if event.key == pair.inbound else pair.inbound
            self._spawn(self._forget(other))
            log.info("ESP SAs of policy %s with %s (%s) reached their hard lifetime",
                     pair.policy.policy, pair.principal, pair.describe())
        elif not pair.rekeyed:
            # The initiator's soft limit comes first (80-90 %), the responder's at 92-97 %:
            # the responder rekeys only when the initiator has not.
            pair.rekeyed = True
            log.info("ESP SAs of policy %s with %s (%s) reached their soft lifetime: rekeying",
                     pair.policy.policy, pair.principal, pair.describe())
            self.initiate(pair.policy, pair.local, pair.remote, "rekey")

    async def _forget(self, key: api.SaKey) -> None:
        with contextlib.suppress(Racoon2Error):
            await self.kernel.del_sa(key)

    # -- life cycle ---------------------------------------------------------------------------

    async def _keep_tgt(self) -> None:
        """Get a new TGT five minutes before the current one ends (a user-to-user-only kinkd
        rereads its credential cache, which the admin's kinit or k5start renews)."""
        while True:
            await asyncio.sleep(tgt_wait(self.me.tgt.times.endtime, time.time()))
            if not tgt_due(self.me.tgt.times.endtime, time.time()):
                continue
            try:
                self.me = await _identity(self.ctx, self.kdc, self.me.principal)
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

    async def send_status(self) -> None:
        """SIGUSR1: a STATUS to every peer with SAs, as the original's "STATUS flooding";
        a changed epoch in an answer deletes that peer's SAs."""
        log.info("status %s", json.dumps(self.status(), sort_keys=True))
        for pair in self.pairs.first_of_each_peer():
            self._spawn(self._status_to(pair))

    async def _status_to(self, pair: SaPair) -> None:
        state = self.peers.get(pair.principal)
        cfg = self.config.remote(pair.policy.remote)
        if state is None or state.creds is None or cfg is None:
            return
        peer = peer_settings(self.config, cfg)
        xid = self._xid()
        data, out = kx.build_request(self.ctx, state.creds, kink.MsgType.STATUS, xid=xid,
                                     epoch=self.epoch)
        try:
            src = self._source_for(pair.peer, pair.local)
            answer = await self._transact(data, xid, src, pair.peer, peer)
            _, _, epoch = kx.open_reply(self.ctx, xid, out.auth_context, out.session_key,
                                        answer)
        except KinkError as e:
            log.warning("STATUS to %s: %s", pair.principal, e)
            return
        self._check_epoch(pair.principal, epoch)
        log.info("STATUS to %s answered (epoch %d)", pair.principal, epoch)

    async def _delete_all(self) -> None:
        """Tell each peer which SAs go (DELETE), then remove them from the kernel.

        A responder has no ticket to its initiators yet: it asks the KDC now, for a few
        seconds at most, rather than leave the peers sending into SAs that are gone."""
        wanted = {p.principal: p for p in self.pairs
                  if p.principal not in self.peers or self.peers[p.principal].creds is None}
        if wanted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(
                    *(self._ticket_for(p) for p in wanted.values()), return_exceptions=True),
                    SHUTDOWN_TICKET_TIME)
        sends = []
        for pair in self.pairs:
            state = self.peers.get(pair.principal)
            if state is not None and state.creds is not None:
                xid = self._xid()
                with contextlib.suppress(KinkError):
                    data, _ = kx.build_request(
                        self.ctx, state.creds, kink.MsgType.DELETE, xid=xid, epoch=self.epoch,
                        quick_mode=(kx.delete_payload([pair.child.inbound_spi]),))
                    with contextlib.suppress(KinkError):
                        sends.append((data, self._source_for(pair.peer, pair.local),
                                      pair.peer))
            await self._remove(pair, "kinkd is stopping")
        for data, src, dest in sends:
            self._send(data, src, dest)

    async def _ticket_for(self, pair: SaPair) -> None:
        cfg = self.config.remote(pair.policy.remote)
        if cfg is None:
            return
        state = self.peers.setdefault(pair.principal, Peer(pair.principal))
        await self._ticket(state, peer_settings(self.config, cfg), pair.peer,
                           self._source_for(pair.peer, pair.local))

    async def reload(self) -> None:
        """SIGHUP: reread the configuration; a file that does not load changes nothing."""
        from racoon2.config import load_config

        try:
            config = load_config(self.config.file)
        except Racoon2Error as e:
            log.error("reload failed, keeping the running configuration: %s", e)
            return
        self.config = config
        log.info("reloaded %s; %d SA pair(s) kept", config.file, len(self.pairs))
        await self._sync_sockets()
        if self.spmif is None:
            # As the original: a SIGHUP also retries spmd when kinkd runs without it.
            self.spmif = await _connect_spmd(config)

    def request_stop(self) -> None:
        """Begin a clean shutdown (SIGTERM/SIGINT)."""
        self._stop.set()

    async def run(self) -> int:
        """Serve until stopped; the exit status."""
        await self.open_sockets()
        on_signals(asyncio.get_running_loop(), {
            signal.SIGTERM: self.request_stop, signal.SIGINT: self.request_stop,
            signal.SIGHUP: lambda: self._spawn(self.reload()),
            signal.SIGUSR1: lambda: self._spawn(self.send_status())})
        events = asyncio.create_task(self.kernel_events())
        refresh = asyncio.create_task(self._keep_tgt())
        assert self.watch is not None
        follow = asyncio.create_task(udp.follow(self.watch, self.sockets,
                                                self.wanted_endpoints, log))
        await self._stop.wait()
        log.info("shutting down: deleting %d SA pair(s)", len(self.pairs))
        for task in (events, refresh, follow):
            task.cancel()
        for task in list(self.tasks):
            task.cancel()
        await self._delete_all()
        self._save_replay_cache(force=True)
        self.sockets.close()
        self.watch.close()
        return 0


async def _identity(ctx: Context, kdc: AsyncKdc, principal: str) -> Identity:
    """Get the TGT as the original does, from the keytab; without a key there, fall back to a
    TGT already in the default credential cache (``kinit``) and user-to-user only."""
    ccache = ctx.memory_ccache()
    try:
        tgt = await kdc.get_init_creds_keytab(principal, None, ccache.name)
        log.info("got a TGT for %s from the keytab (valid until %s)", principal,
                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tgt.times.endtime)))
        return Identity(principal, ccache.name, tgt, False, ccache)
    except TimeoutError:
        raise Racoon2Error(f"no KDC answered for {principal}'s TGT",
                           hint="kinkd needs a reachable KDC to start (krb5.conf)") from None
    except Krb5Error as e:
        keytab_problem = e
    realm = realm_of(principal)
    try:
        with ctx.ccache() as cc:
            name = cc.name
        tgt = await kdc.get_credentials(name, principal, f"krbtgt/{realm}@{realm}")
    except (Krb5Error, TimeoutError) as e:
        raise Racoon2Error(f"no TGT for {principal}: the keytab gives none ({keytab_problem}) "
                           f"and the credential cache has none ({e})",
                           hint=f"put {principal}'s key in the keytab (doc/kinkd.md), or kinit "
                                "it for user-to-user operation") from None
    log.info("no key for %s in the keytab (%s): user-to-user only, with the TGT from %s",
             principal, keytab_problem, name)
    return Identity(principal, name, tgt, True)


async def _connect_spmd(config: Config) -> SpmifClient | None:
    try:
        return await connect_configured(config)
    except Racoon2Error as e:
        # As the original: kinkd works without spmd (no ACQUIRE names, no FQDN queries).
        log.warning("cannot reach spmd, going on without it: %s", e)
        return None


async def _main(config: Config, replay_path: str, kdc_timeout: float) -> int:
    from kinkd.settings import my_principal
    from racoon2.kernel import open_backend

    principal = my_principal(config)
    ctx = Context()
    kdc = AsyncKdc(timeout=kdc_timeout)
    try:
        me = await _identity(ctx, kdc, principal)
        kernel = await open_backend()
        spmif = await _connect_spmd(config)
        iface = config.interface
        bypass = not (iface is not None and iface.application_bypass is False)
        daemon = Kinkd(config, kernel, spmif, ctx, kdc, me, ReplayCache(replay_path), bypass)
        try:
            return await daemon.run()
        finally:
            if spmif is not None:
                with contextlib.suppress(Racoon2Error):
                    await spmif.quit()
                await spmif.close()
            await kernel.close()
    finally:
        kdc.close()


def run(config_path: str, *, foreground: bool, pid_path: str = "/var/run/kinkd.pid",
        replay_path: str = "/var/run/kinkd.rc", kdc_timeout: float = 10.0) -> int:
    """Run kinkd until SIGTERM/SIGINT: the exit status (1 when it cannot start)."""
    return run_daemon("kinkd", config_path,
                      lambda config: _main(config, replay_path, kdc_timeout),
                      foreground=foreground, pid_path=pid_path)
