"""kinkd's requests as the initiator: CREATE for a policy, the tickets it needs, STATUS on
SIGUSR1, DELETE at shutdown, and kinkdctl's terminate (DELETE) and rekey (CREATE, then the old
pair's DELETE).

An :class:`Initiator` works for a :class:`Host` (the running :class:`kinkd.shell.Kinkd`), whose
configuration, identity and spmd connection may change while it runs (SIGHUP, TGT renewal), so
it reads them from the host each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Protocol

from kinkd import exchange as kx
from kinkd import message as kink
from kinkd import names
from kinkd import policy as pol
from kinkd.exchange import KinkError, PeerKrbError
from kinkd.identity import Identity
from kinkd.kernel_sas import SPIS, KernelSas
from kinkd.krb5.api import Context, Credentials
from kinkd.krb5.kdc import AsyncKdc
from kinkd.requests import Requests
from kinkd.sas import Peer, SaPair, SaTable, quick_mode_ids, sa_ends
from kinkd.settings import PeerSettings, PolicySettings, SettingsError, peer_settings, realm_of
from kinkd.tickets import Recovery, recovery, ticket_usable
from racoon2.config import Config
from racoon2.crypto.rng import Rng
from racoon2.errors import Racoon2Error
from racoon2.kernel import api
from racoon2.net import Address, Endpoint
from racoon2.spmif.client import SpmifClient

log = logging.getLogger("kinkd")
SHUTDOWN_TICKET_TIME = 3.0  # seconds a stopping responder waits for tickets to send DELETE


class Host(Protocol):
    """What the initiator uses of the daemon it works for."""

    config: Config
    spmif: SpmifClient | None
    me: Identity
    ctx: Context
    kdc: AsyncKdc
    kernel: api.KernelBackend
    epoch: int
    rng: Rng
    peers: dict[str, Peer]
    pairs: SaTable
    requests: Requests
    sas: KernelSas

    def send(self, data: bytes, local: Endpoint | None, remote: Endpoint) -> None:
        """Send one datagram from ``local`` (None: any socket of the family)."""

    def source_for(self, dest: Endpoint, local: Address | None) -> Endpoint:
        """The socket a request to ``dest`` goes out of."""
        ...

    def check_epoch(self, principal: str, epoch: int) -> None:
        """Apply the epoch rule to what ``principal`` sent."""

    def spawn(self, coro: Awaitable[object]) -> None:
        """Run ``coro`` as a task of the daemon."""


class Initiator:
    """The CREATEs, STATUSes and DELETEs kinkd sends."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._in_flight: set[tuple[str, Address]] = set()

    def initiate(self, policy: PolicySettings, local: Address | None, remote: Address | None,
                 why: str) -> None:
        """Start a CREATE for ``policy`` (``local``/``remote``: the ACQUIRE's addresses)."""
        self.host.spawn(self._initiate(policy, local, remote, why))

    async def _initiate(self, policy: PolicySettings, local: Address | None,
                        remote: Address | None, why: str) -> SaPair | None:
        try:
            peer = pol.initiator_settings(self.host.config, policy)
            target = await names.target(peer, remote)
        except (KinkError, SettingsError, OSError) as e:
            log.error("policy %s: cannot start KINK: %s", policy.policy, e)
            return None
        flight = (policy.policy, target)
        if flight in self._in_flight:
            log.debug("policy %s: a CREATE to %s is already on its way", policy.policy, target)
            return None
        self._in_flight.add(flight)
        try:
            return await self._create_sa(policy, peer, target, local, why)
        except TimeoutError:
            log.error("policy %s: CREATE to %s failed: the KDC did not answer within %g s",
                      policy.policy, target, self.host.kdc.timeout)
        except (Racoon2Error, OSError) as e:
            log.error("policy %s: CREATE to %s failed: %s", policy.policy, target, e)
        finally:
            self._in_flight.discard(flight)
        return None

    async def _create_sa(self, policy: PolicySettings, peer: PeerSettings, target: Address,
                         local: Address | None, why: str) -> SaPair | None:
        host = self.host
        dest = Endpoint(target, peer.port)
        src = host.source_for(dest, local)
        principal = await names.peer_principal(peer, target, realm_of(host.me.principal),
                                               host.spmif)
        state = host.peers.setdefault(principal, Peer(principal))
        me, them = sa_ends(policy, src.addr, target)
        log.info("policy %s: CREATE to %s (%s, %s)", policy.policy, dest, principal, why)
        for attempt in range(3):
            creds = await self._ticket(state, peer, dest, src)
            spi = await host.kernel.alloc_spi(api.Proto.ESP, them, me, policy.reqid,
                                                 lo=SPIS[0], hi=SPIS[1])
            xid = host.requests.xid()
            data, initiated = kx.build_create(
                host.ctx, creds, policy.offers, spi, host.rng.random_bytes(peer.nonce_size),
                xid=xid, epoch=host.epoch, ids=quick_mode_ids(policy, src.addr, target))
            try:
                answer = await host.requests.transact(data, xid, src, dest, peer)
                child = kx.process_reply(host.ctx, initiated, answer)
            except KinkError as e:
                await host.sas.forget(api.SaKey(them, me, api.Proto.ESP, spi))
                if isinstance(e, PeerKrbError) and attempt < 2 and self._recover(e, state):
                    continue
                raise
            break
        else:
            raise KinkError("gave up after three refusals")
        host.check_epoch(principal, child.peer_epoch)
        pair = SaPair(policy, principal, dest, src.addr, target, child, True, time.monotonic())
        if not await host.sas.install(pair, outbound=True):
            return None
        if child.ack_required:
            ack, _ = kx.build_request(host.ctx, creds, kink.MsgType.ACK, xid=xid,
                                      epoch=host.epoch)
            host.send(ack, src, dest)
            log.debug("policy %s: ACK sent to %s", policy.policy, dest)
        return pair

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
                self.host.ctx.set_time(e.stime)
            case None:
                return False
        return True

    async def _ticket(self, state: Peer, peer: PeerSettings, dest: Endpoint,
                      src: Endpoint) -> Credentials:
        host = self.host
        creds = state.creds
        if creds is not None and ticket_usable(creds.times.endtime, time.time()):
            return creds
        if state.tgt is not None and not state.tgt:
            # The peer asked for user-to-user: fetch its TGT with GETTGT.
            xid = host.requests.xid()
            answer = await host.requests.transact(
                kx.build_gettgt(xid, realm_of(state.principal)), xid, src, dest, peer)
            _, state.tgt = kx.process_tgt_reply(host.ctx, answer, xid)
        creds = await host.kdc.get_credentials(host.me.ccache, host.me.principal,
                                               state.principal, user_to_user=state.tgt or None)
        log.info("got a %sticket for %s from the KDC",
                 "user-to-user " if creds.is_user_to_user else "", state.principal)
        state.creds = creds
        return creds

    async def status_to(self, pair: SaPair) -> None:
        """A STATUS to ``pair``'s peer; a changed epoch in the answer deletes its SAs."""
        host = self.host
        state = host.peers.get(pair.principal)
        cfg = host.config.remote(pair.policy.remote)
        if state is None or state.creds is None or cfg is None:
            return
        peer = peer_settings(host.config, cfg)
        xid = host.requests.xid()
        data, out = kx.build_request(host.ctx, state.creds, kink.MsgType.STATUS, xid=xid,
                                     epoch=host.epoch)
        try:
            src = host.source_for(pair.peer, pair.local)
            answer = await host.requests.transact(data, xid, src, pair.peer, peer)
            _, _, epoch = kx.open_reply(host.ctx, xid, out.auth_context, out.session_key,
                                        answer)
        except KinkError as e:
            log.warning("STATUS to %s: %s", pair.principal, e)
            return
        host.check_epoch(pair.principal, epoch)
        log.info("STATUS to %s answered (epoch %d)", pair.principal, epoch)

    async def rekey(self, pair: SaPair, why: str) -> None:
        """A new CREATE for ``pair``'s policy and peer now (kinkdctl rekey); once the new SAs
        are up the old pair goes, the peer told (DELETE)."""
        pair.rekeyed = True
        if await self._initiate(pair.policy, pair.local, pair.remote, why) is not None:
            await self.delete(pair, why)

    async def delete(self, pair: SaPair, why: str) -> None:
        """Tell ``pair``'s peer its SAs go (DELETE, retransmitted until the REPLY comes or
        the peer's retries are spent), then remove them from the kernel either way."""
        host = self.host
        cfg = host.config.remote(pair.policy.remote)
        try:
            if cfg is None:
                raise KinkError(f"remote {pair.policy.remote} is no longer configured")
            peer = peer_settings(host.config, cfg)
            src = host.source_for(pair.peer, pair.local)
            state = host.peers.setdefault(pair.principal, Peer(pair.principal))
            creds = await self._ticket(state, peer, pair.peer, src)
            xid = host.requests.xid()
            data, out = self._delete_request(pair, creds, xid)
            answer = await host.requests.transact(data, xid, src, pair.peer, peer)
            kx.open_reply(host.ctx, xid, out.auth_context, out.session_key, answer)
            log.info("DELETE to %s answered", pair.principal)
        except TimeoutError:
            log.warning("DELETE to %s: the KDC did not answer within %g s", pair.principal,
                        host.kdc.timeout)
        except (Racoon2Error, OSError) as e:
            log.warning("DELETE to %s: %s", pair.principal, e)
        await host.sas.remove(pair, why)

    def _delete_request(self, pair: SaPair, creds: Credentials, xid: int
                        ) -> tuple[bytes, kx.Outstanding]:
        # the Delete payload names our inbound SPI, the SA the peer sends on
        return kx.build_request(self.host.ctx, creds, kink.MsgType.DELETE, xid=xid,
                                epoch=self.host.epoch,
                                quick_mode=(kx.delete_payload([pair.child.inbound_spi]),))

    async def delete_all(self) -> None:
        """Tell each peer which SAs go (DELETE), then remove them from the kernel.

        A responder has no ticket to its initiators yet: it asks the KDC now, for a few
        seconds at most, rather than leave the peers sending into SAs that are gone."""
        host = self.host
        wanted = {p.principal: p for p in host.pairs
                  if p.principal not in host.peers or host.peers[p.principal].creds is None}
        if wanted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(
                    *(self._ticket_for(p) for p in wanted.values()), return_exceptions=True),
                    SHUTDOWN_TICKET_TIME)
        sends = []
        for pair in host.pairs:
            state = host.peers.get(pair.principal)
            if state is not None and state.creds is not None:
                with contextlib.suppress(KinkError):
                    data, _ = self._delete_request(pair, state.creds, host.requests.xid())
                    sends.append((data, host.source_for(pair.peer, pair.local), pair.peer))
            await host.sas.remove(pair, "kinkd is stopping")
        for data, src, dest in sends:
            host.send(data, src, dest)

    async def _ticket_for(self, pair: SaPair) -> None:
        host = self.host
        cfg = host.config.remote(pair.policy.remote)
        if cfg is None:
            return
        state = host.peers.setdefault(pair.principal, Peer(pair.principal))
        await self._ticket(state, peer_settings(host.config, cfg), pair.peer,
                           host.source_for(pair.peer, pair.local))
