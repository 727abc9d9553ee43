"""iked's IKEv2 front door (pure): routing by SPI, cookies, half-open limit, initiation, and
what acts on the whole SA table: addresses, kernel events, timers, reload, stop, keep/restore.

The shell feeds datagrams, kernel results and the time in; it drains datagrams to send, kernel
requests and events, and re-arms one timer at :meth:`IkeCore.next_timer`.  Nothing here awaits,
reads a clock or touches a socket.  The table itself, its indexes and the Host callbacks the
SAs make, are :class:`iked.ikev2.table.SaTable`'s, which :class:`IkeCore` is.
"""

from __future__ import annotations

import collections
import contextlib
import math
from collections.abc import Sequence
from dataclasses import replace

from iked.endpoints import ike_endpoints, initiator_target, local_endpoint
from iked.events import Datagram, DropReason, NegotiationFailed, Now
from iked.ikev2 import (
    config_payload,
    create_child,
    dispatch,
    ike_init,
    informational,
    intauth,
    mobike,
    ppk,
    snapshot,
)
from iked.ikev2.child import Child
from iked.ikev2.common import id_text
from iked.ikev2.cookies import cookie_needed
from iked.ikev2.sa import IkeSa, State
from iked.ikev2.settings import ChildSettings, PeerSettings, SettingsError, child_settings
from iked.ikev2.table import SaTable
from iked.ikev2.tasks import Kind, Task
from racoon2.config import lookup
from racoon2.config.model import Config, Kmp, Selector
from racoon2.errors import ParseError, Racoon2Error
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_RESPONSE, ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import KE, Nonce, Notify, first
from racoon2.kernel import api
from racoon2.net import Address, Endpoint


def _comparable(peer: PeerSettings) -> tuple[object, ...]:
    """What decides whether a remote changed: the settings, with our key as its public half
    (private key objects compare by identity, a reread file is a new object)."""
    creds = peer.credentials
    mine = (creds.chain, creds.key.public_key()) if creds is not None else None
    return (replace(peer, credentials=None), mine)


def _same_child(sa: IkeSa, old: ChildSettings, new: ChildSettings | None) -> bool:
    """Whether a CHILD_SA negotiated with ``old`` is what ``new`` describes."""
    if new is None:
        return False
    # The negotiation narrowed these sides (to the IP_RW peer's address, to the address a
    # CFG_REPLY leased us): the configuration's wider ones are what to compare.
    if new.rw:
        old = replace(old, remote_ts=new.remote_ts)
    if sa.cfg_reply is not None:
        old = replace(old, local_ts=new.local_ts)
    return old == new


#: INVALID_IKE_SPI answers to requests for unknown IKE SAs, at most this many a second.
INVALID_SPI_RATE = 10



class IkeCore(SaTable):
    """Every IKEv2 SA of one iked."""

    # -- inputs -------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, local: Endpoint, remote: Endpoint, now: Now) -> None:
        """One IKE message (non-ESP marker removed)."""
        self.clock = now
        try:
            msg = message.decode(data)
        except ParseError as e:
            self.drop(remote, DropReason.MALFORMED, str(e))
            return
        if self.tracing and msg.exchange == ExchangeType.IKE_SA_INIT:
            self._traces.append(Datagram(data, remote, local))
        ours = msg.spi_r if msg.initiator else msg.spi_i
        sa = self.sas.get(ours)
        if sa is None and msg.exchange == ExchangeType.IKE_SA_INIT and msg.initiator:
            if msg.response:
                self.drop(remote, DropReason.UNEXPECTED, "IKE_SA_INIT response from initiator")
                return
            sa = self._half_open.get((remote, msg.spi_i))
            if sa is None:
                self._new_responder(msg, data, local, remote, now)
                return
        if sa is None:
            self.drop(remote, DropReason.UNKNOWN_SPI, f"SPIs {msg.spi_i.hex()}:{msg.spi_r.hex()}")
            if not msg.response and msg.exchange != ExchangeType.IKE_SA_INIT:
                self._invalid_spi(msg, local, remote, now)
            return
        with self._guard(sa):
            dispatch.receive(sa, msg, data, now, local, remote)
        self._after(sa)

    def _invalid_spi(self, msg: Message, local: Endpoint, remote: Endpoint, now: Now) -> None:
        """A request for an IKE SA we do not know gets INVALID_IKE_SPI
        (:func:`~iked.ikev2.informational.invalid_spi`), at most :data:`INVALID_SPI_RATE` a
        second, so that spoofed requests buy no flood."""
        second, sent = self._invalid_spi_sent
        sent = sent if second == int(now) else 0
        if sent < INVALID_SPI_RATE:
            self._invalid_spi_sent = (int(now), sent + 1)
            self._out.append(Datagram(informational.invalid_spi(msg), local, remote))

    def _new_responder(self, msg: Message, data: bytes, local: Endpoint, remote: Endpoint,
                       now: Now) -> None:
        remote_cfg = lookup.remote_for_address(self.config, remote.addr, Kmp.IKEV2)
        if remote_cfg is None and self.config.default_remote is None:
            self.drop(remote, DropReason.NO_REMOTE, str(remote.addr))
            return
        kmps = lookup.acceptable_kmp(self.config, remote_cfg)
        if kmps and Kmp.IKEV2 not in kmps:
            # Only the default remote can get here: the others are looked up among the remotes
            # that accept ikev2.
            self.drop(remote, DropReason.NO_REMOTE, f"{remote.addr}: remote "
                      f"{remote_cfg.name if remote_cfg else 'default'} does not accept ikev2")
            return
        try:
            peer = self._peer(remote_cfg.name if remote_cfg else None)
        except Racoon2Error as e:
            self.drop(remote, DropReason.NO_REMOTE, str(e))
            return
        assert peer is not None
        nonce = first(msg.payloads, Nonce)
        ke = first(msg.payloads, KE)
        if nonce is None or ke is None:
            self.drop(remote, DropReason.MALFORMED, "IKE_SA_INIT without Nonce or KE")
            return
        if cookie_needed(peer.cookie_required, len(self._half_open)):
            cookie = next((p.data for p in msg.payloads
                           if isinstance(p, Notify) and p.type == NotifyType.COOKIE), b"")
            if not self._cookies.check(cookie, nonce.data, remote.addr, msg.spi_i, now):
                if cookie:
                    self.drop(remote, DropReason.BAD_COOKIE, "wrong cookie")
                made = self._cookies.make(nonce.data, remote.addr, msg.spi_i, now)
                reply = Message(msg.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                                (Notify(0, NotifyType.COOKIE, b"", made),), FLAG_RESPONSE)
                self._out.append(Datagram(message.encode(reply), local, remote))
                return
        sa = IkeSa(self, peer, local, remote, False, msg.spi_i, now)
        with self._guard(sa):
            ike_init.respond(sa, msg, data, now)
        if sa.state is not State.DEAD:
            self.sas[sa.local_spi] = sa
            self._half_open[(remote, msg.spi_i)] = sa
            self._after(sa)

    def initiate(self, selector_name: str, now: Now, peer_addr: Address | None = None,
                 local_addr: Address | None = None) -> IkeSa | None:
        """Start an IKE SA (and its first CHILD_SA) for the policy of ``selector_name``."""
        sel = self.config.selector(selector_name)
        if sel is None or sel.policy is None:
            self.emit(NegotiationFailed("-", "initiate", f"no selector {selector_name!r} "
                                        "with a policy in the configuration"))
            return None
        try:
            return self._initiate(sel, now, peer_addr, local_addr)
        except Racoon2Error as e:
            self.emit(NegotiationFailed("-", "initiate", str(e)))
            return None

    def _initiate(self, sel: Selector, now: Now, peer_addr: Address | None,
                  local_addr: Address | None) -> IkeSa | None:
        assert sel.policy is not None
        policy = sel.policy
        name = policy.remote_index
        remote_cfg = self.config.remote(name) if name else None
        peer = self._peer(remote_cfg.name if remote_cfg else None)
        assert peer is not None
        kmps = lookup.acceptable_kmp(self.config, remote_cfg)
        if kmps and kmps[0] is not Kmp.IKEV2:
            # The first of acceptable_kmp is the protocol that initiates (doc/config.md, remote).
            raise SettingsError(f"remote {peer.remote} initiates with {kmps[0].value} "
                                "(the first of its acceptable_kmp), not ikev2")
        if peer.passive or (peer.provide is not None and peer.provide.pools):
            # As the original: a passive remote, or one that leases addresses, only answers.
            raise SettingsError(f"remote {peer.remote} is passive: it does not initiate")
        child = child_settings(self.config, policy, self._local_addresses)
        target = initiator_target(self.config, remote_cfg, Kmp.IKEV2, peer_addr,
                                  self.target_port)
        if target is None:
            raise SettingsError(f"remote {peer.remote}: no peers_ipaddr to send IKE_SA_INIT to")
        for sa in self.sas.values():
            if sa.state is not State.DEAD and (sa.remote.addr == target.addr and any(
                    c.settings.policy == child.policy for c in sa.children) or
                    child.policy in sa.tasks.policies()):
                return sa  # already negotiating or up: one ACQUIRE per packet burst is enough
        for sa in self.sas.values():
            # Another policy for a peer we already have an IKE SA with: CREATE_CHILD_SA.
            if sa.remote.addr == target.addr and sa.peer.remote == peer.remote and \
                    sa.state is State.ESTABLISHED and create_child.start_new(sa, child, now):
                self._after(sa)
                return sa
        local = local_endpoint(self.config, self._local_addresses, target.addr, local_addr,
                               self.ike_port)
        if local is None:
            raise SettingsError(f"no interface ike address of IPv{target.addr.version} to "
                                f"reach {target.addr}")
        sa = IkeSa(self, peer, local, target, True, self.new_spi(), now)
        self.sas[sa.local_spi] = sa
        ike_init.start(sa, now, child)
        self._after(sa)
        return sa

    def addresses_changed(self, now: Now) -> None:
        """This host's addresses changed: an IKE SA we initiated with MOBIKE whose address
        is gone moves to another ``interface ike`` address (RFC 4555 §3.5, the rules of
        :func:`~iked.endpoints.local_endpoint`)."""
        for sa in list(self.sas.values()):
            if sa.mobike is None or not sa.initiator or sa.state is not State.ESTABLISHED or \
                    any(e.addr == sa.local.addr for e in ike_endpoints(
                        self.config, self._local_addresses, sa.remote.addr, self.ike_port)):
                continue
            # Never an address a peer leased us (CFG_REPLY): it lives inside a tunnel.
            leased = {a for o in self.sas.values() if o.cfg_reply is not None
                      for a in config_payload.leases(o.cfg_reply)}
            new = local_endpoint(self.config, self._local_addresses, sa.remote.addr, None,
                                 self.ike_port, leased)
            if new is not None and mobike.roam(sa, new.addr, now):
                self._after(sa)

    def kernel_event(self, event: api.KernelEvent, now: Now) -> bool:
        """A kernel EXPIRE for one of our CHILD_SAs' SAs (either direction, or IPComp); True
        when it was ours.

        Soft: the CHILD_SA is rekeyed.  Hard: it is deleted (the peer told).
        """
        self.clock = now
        if not isinstance(event, api.Expire):
            return False
        sa = self._by_child_sa.get(event.key)
        child = next((c for c in sa.children if c.negotiated is not None and
                      event.key in {s.key for s in c.negotiated.specs}), None) if sa else None
        if sa is None or child is None:
            return False
        dispatch.expire_child(sa, child, event.hard, now)
        self._after(sa)
        return True

    def handle_timer(self, now: Now) -> None:
        """Run every SA whose deadline has come."""
        self.clock = now
        while self._timers and self._timers[0][0] <= now:
            sa = self._pop_timer()
            deadline = sa.deadline()
            if deadline is not None and deadline <= now:
                dispatch.on_timer(sa, now)
                self._after(sa)
            elif deadline is not None and sa.state is not State.DEAD:
                self._queue_timer(sa)

    def reconfigure(self, config: Config, now: Now, stop_wait: float = 3.0) -> int:
        """SIGHUP: run ``config`` from now on, keeping every SA it still describes alike.

        An IKE SA whose remote is gone, or whose effective settings (:class:`PeerSettings`)
        differ, is deleted (INFORMATIONAL Delete, after an exchange in flight; its kernel SAs
        go when the peer answers, or ``stop_wait`` seconds from now).  Of the others, a
        CHILD_SA whose policy is gone or whose :class:`ChildSettings` differ is deleted; the
        next ACQUIRE (spmd's policy is still there) negotiates it again with the new
        settings.  Everything else is untouched: same SPIs, no message, no kernel request.
        Renegotiation rather than a rekey because a rekey keeps the old authentication and
        IKE SA, which a changed key, identity or proposal must not inherit (RFC 7296 §2.18
        rekeys keep the IKE SA's peer).  Returns how many IKE SAs it deletes.
        """
        self.config = config
        self.clock = now
        self._peers.clear()
        self._children.clear()
        # The leases of the SAs that stay must stay leased.
        self.pools.reconfigure(self._ranges)
        deleted = 0
        for sa in list(self.sas.values()):
            if sa.state is State.DEAD:
                continue
            if not self._same_peer(sa.peer.remote, sa.peer):
                deleted += 1
                sa.delete(now, stop_wait)
            elif sa.state is State.ESTABLISHED:
                wanted = {c.policy: c for c in self.children(sa.peer.remote)}
                for c in list(sa.children):
                    if not _same_child(sa, c.settings, wanted.get(c.settings.policy)):
                        sa.delete_child(c, now, "configuration changed")
            self._after(sa)
        return deleted

    def operate(self, sa: IkeSa, child: Child | None, rekey: bool, now: Now) -> None:
        """ikedctl's rekey or terminate of ``sa``, or of its CHILD_SA ``child``: queued as
        the SA's own would be (RFC 7296 §2.3: after an exchange in flight)."""
        if rekey and child is not None:
            create_child.start_rekey(sa, child, now)
        elif rekey:
            sa.tasks.want(Task(Kind.REKEY_IKE), now)
        elif child is not None:
            sa.delete_child(child, now, "terminated by ikedctl")
        else:
            sa.delete(now)
        self._after(sa)

    def _same_peer(self, name: str, old: PeerSettings) -> bool:
        if name != "default" and self.config.remote(name) is None:
            return False
        try:
            new = self._peer(None if name == "default" else name)
        except Racoon2Error:
            return False
        return new is not None and _comparable(new) == _comparable(old)

    def shutdown(self, now: Now, stop_wait: float = 3.0, force: bool = False) -> None:
        """Delete every IKE SA (INFORMATIONAL Delete to each established peer, after an
        exchange of ours in flight), each ending ``stop_wait`` seconds from now at the latest;
        ``force`` ends those still waiting for the answer at once (their kernel SAs
        removed)."""
        for sa in list(self.sas.values()):
            if force:
                sa.die("shut down")
            else:
                sa.delete(now, stop_wait)
            self._after(sa)

    def keep(self, clock: snapshot.Clock) -> bytes:
        """A stop that keeps the tunnels (iked --keep-sas): the saved state of every IKE SA
        that can be kept (:func:`snapshot.keepable`); those stay as they are, kernel SAs
        and all, and report nothing (no hook sees them go down).  The others end as with
        :meth:`shutdown`'s ``force``."""
        kept = [sa for sa in self.sas.values() if snapshot.keepable(sa)]
        for sa in list(self.sas.values()):
            if sa not in kept:
                sa.die("shut down")
                self._after(sa)
        return snapshot.dump(kept, clock, self.config.file)

    def restore(self, data: bytes, kernel: Sequence[api.SaInfo], clock: snapshot.Clock
                ) -> list[tuple[str, str]]:
        """Start from a keeping stop's saved state ``data``: each IKE SA carries on over its
        kernel SAs among ``kernel`` (no hook runs: nothing went down), or is deleted (its
        Delete queued) when its remote or a policy is no longer configured or its kernel SAs
        are gone.  Returns (IKE SA, "" or why it is deleted); StateError when ``data`` is
        unusable (nothing restored)."""
        saved_sas = snapshot.load(data, self.config.file)
        by_ref = {(i.spec.src, i.spec.dst, i.spec.proto, i.spec.spi): i for i in kernel}
        out = []
        for saved in saved_sas:
            name, peer = saved.remote, None
            if name == "default" or self.config.remote(name) is not None:
                # Settings that no longer load: deleted as a removed remote.
                with contextlib.suppress(Racoon2Error):
                    peer = self._peer(None if name == "default" else name)
            sa, why = snapshot.revive(self, peer or snapshot.farewell(name),
                                      self.children(name) if peer else None, saved, by_ref,
                                      clock)
            self.sas[sa.local_spi] = sa
            for name, addr in sa.leased:
                self.pools.claim(name, addr, sa.peer_id)
            if why:
                sa.delete(clock.mono)
            for c in list(sa.children):
                if snapshot.overdue(c, by_ref, clock.wall):
                    dispatch.expire_child(sa, c, False, clock.mono)
            self._after(sa)
            out.append((sa.name, why))
        return out

    # -- outputs ------------------------------------------------------------------------------

    def next_timer(self) -> Now | None:
        """When :meth:`handle_timer` must run next."""
        # The heap holds stale entries too (an SA's deadline moved or it died): drop them
        # here, so the answer is exact and the cost stays O(log n) per SA event.
        while self._timers:
            deadline, _, sa = self._timers[0]
            if sa.state is not State.DEAD and sa.deadline() == deadline:
                return deadline
            self._pop_timer()
        return None

    def status(self) -> dict[str, object]:
        """Counters and SAs for logs and ``--json`` status."""
        kernel: dict[int, list[str]] = collections.defaultdict(list)
        for rid, (sa, op, _) in self._waiting.items():
            kernel[id(sa)].append(f"{rid} {type(op).__name__}")
        return {
            "ike_sas": [{"sa": sa.name, "remote": sa.peer.remote, "peer": str(sa.remote),
                         "state": sa.state.value, "initiator": sa.initiator,
                         "key_exchanges": [intauth.name(i) for i in sa.key_exchanges()],
                         "ppk": ppk.show(sa.ppk_id) if sa.ppk_id is not None else None,
                         "children": [{"policy": c.settings.policy, "spi_in": f"{c.spi_in:08x}",
                                       "spi_out": f"{c.spi_out:08x}",
                                       "key_exchanges": [intauth.name(k)
                                                         for k in c.key_exchanges]}
                                      for c in sa.children],
                         "exchanges": sa.tasks.show(), "kernel_requests": kernel[id(sa)]}
                        for sa in self.sas.values()],
            "dropped": {r.name.lower(): n for r, n in self.dropped.items()},
            # RFC 7383 reassembly: half-assembled messages and the octets they hold
            "fragments": {"pending": self.fragments.pending, "held": self.fragments.held},
            "leases": {name: [{"address": str(addr), "owner": id_text(*owner) if owner else None,
                               "online": online,
                               "reserved_for": None if math.isinf(left) else round(left)}
                              for addr, owner, online, left in table]
                       for name, table in self.pools.tables(self.clock).items()},
        }
