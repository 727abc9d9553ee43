"""iked's IKEv1 front door (pure): the ISAKMP SAs by cookie pair, new responders, initiation,
EXPIREs, lifetimes, shutdown.

The same interface as :class:`iked.ikev2.core.IkeCore`, so that :class:`iked.cores.Cores`
feeds both from one shell: datagrams, kernel results and the time in; datagrams, kernel
requests and events out; one timer at :meth:`next_timer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from iked.endpoints import LocalAddresses, initiator_target, local_endpoint
from iked.events import (
    Datagram,
    DropReason,
    IkeSaUp,
    NegotiationFailed,
    Now,
)
from iked.ikev1 import (
    aggressive,
    dispatch,
    dpd_exchange,
    fragment_exchange,
    informational,
    main_mode,
    nat_exchange,
    natt,
    quick_mode,
    remote_access,
)
from iked.ikev1.sa import IsakmpSa, State
from iked.ikev1.settings import Phase1Settings, phase1_settings
from iked.ikev2.child import Child
from iked.ikev2.settings import ChildSettings, ReadFile, SettingsError, child_settings
from iked.queues import Queues
from iked.steering import own_spi
from racoon2.config import lookup
from racoon2.config.model import Config, Kmp, Remote
from racoon2.crypto.rng import Rng
from racoon2.errors import ParseError, Racoon2Error
from racoon2.ikev1 import message
from racoon2.ikev1.constants import ExchangeType
from racoon2.ikev1.payloads import Fragment
from racoon2.kernel import api
from racoon2.net import Address, Endpoint

NO_COOKIE = bytes(8)
#: Responder ISAKMP SAs in phase 1 at once.  Without IKEv2's stateless cookie, the only bound
#: on what a flood of spoofed first messages costs (an SA and a retransmitted answer each);
#: far above what a VPN server's clients start together.
HALF_OPEN_LIMIT = 512
#: Seconds an ISAKMP SA that a new phase 1 replaced lives on before its Delete: time for a peer
#: to move its IPsec SAs to the new one (strongSwan does it in a job of its own, milliseconds
#: after the new SA is up), yet short, since the peer's own timers still run on the old SA
#: (strongSwan reauthenticates an IKEv1 SA at its rekey_time: a 10 s delay let that fire in the
#: VM's run, a third Main Mode and duplicate IPsec SAs).
RETIRE_DELAY = 1.0


class _NoPools:
    """No addresspool (an Ikev1Core alone, in tests): mode-config gives no address."""

    def lease(self, pools: Sequence[str], version: int, owner: tuple[int, bytes] | None
              ) -> tuple[str, Address] | None:
        return None

    def release(self, pool: str, addr: Address, keep: float) -> None:
        return None


class Ikev1Core(Queues[IsakmpSa]):
    """Every ISAKMP SA of one iked."""

    def __init__(self, config: Config, rng: Rng, read: ReadFile, now: Now,
                 local_addresses: LocalAddresses = lambda spec: (),
                 read_public: ReadFile | None = None, ports: tuple[int, int] = (500, 500),
                 pools: remote_access.Pools | None = None) -> None:
        super().__init__()
        self.config = config
        #: The addresspools mode-config leases from (the IKEv2 core's, in :class:`Cores`).
        self.pools: remote_access.Pools = pools or _NoPools()
        self.rng = rng
        #: (this worker's index, the number of workers) under iked -j (iked.steering).
        self.worker = (0, 1)
        self.ike_port, self.target_port = ports
        self._read = read
        self._read_public = read_public or read
        self._local_addresses = local_addresses
        #: By CKY-I | CKY-R; an initiator's SA is filed under CKY-I | 0 until MM2/AM2.
        self.sas: dict[bytes, IsakmpSa] = {}
        #: Our responder SAs by (peer, CKY-I), which a retransmitted first message finds them
        #: by, and those of them still in phase 1.
        self._responders: dict[tuple[Endpoint, bytes], IsakmpSa] = {}
        self._half_open: dict[tuple[Endpoint, bytes], IsakmpSa] = {}
        self._settings: dict[str, Phase1Settings] = {}
        self._children: dict[str, list[ChildSettings]] = {}
        self._fragments = fragment_exchange.Fragments()

    # -- Host (what each IsakmpSa calls) ------------------------------------------------------

    def send(self, sa: IsakmpSa, data: bytes) -> None:
        """Queue ``data`` from the SA's local endpoint to its peer, ``times_per_send``
        copies."""
        for _ in range(max(1, sa.settings.schedule.times_per_send)):
            self._out.extend(Datagram(d, sa.local, sa.remote)
                             for d in fragment_exchange.outgoing(sa, data))
        # In the clear (not a keepalive octet): iked -P records it as is.
        if self.tracing and len(data) > 19 and not data[19] & 1:
            self._traces.append(Datagram(data, sa.local, sa.remote))

    def children(self, remote: str) -> Sequence[ChildSettings]:
        """The IPsec SAs of the auto_ipsec policies that name ``remote``."""
        if remote not in self._children:
            out = []
            for policy in self.config.policies:
                if policy.remote_index == remote:
                    with contextlib.suppress(SettingsError):
                        out.append(child_settings(self.config, policy, self._local_addresses))
            self._children[remote] = out
        return self._children[remote]

    def established(self, sa: IsakmpSa, now: Now) -> None:
        """Phase 1 of ``sa`` is up: report it, take over what it replaces, start what
        waited."""
        old = sa.rekey_of
        sa.established_at = now
        # No rekey_of: IKEv1 has no phase1_rekey hook, each new SA is a phase1_up
        # (daemons.md §7).
        self.emit(IkeSaUp(sa.name, sa.settings.remote, sa.local, sa.remote, sa.initiator,
                          algorithms=sa.algs.names() if sa.algs else ()))
        if old is not None and old.state is State.ESTABLISHED:
            # Phase 1 rekey: the IPsec SAs stay as they are, under the new ISAKMP SA.
            self._hand_over(old, sa)
            old.replaced = True
            # The old SA's Delete waits: a peer that binds its IPsec SAs to an ISAKMP SA moves
            # them to the new one only after the new one is up, in a job of its own
            # (strongSwan: "detected reauth of existing IKE_SA, adopting ... children"); a
            # Delete of the old SA that overtakes it takes them down on the peer's side, while
            # our kernel keeps sending on them (a 9 s stall in the VM's rekey run, CI15).
            old.retire_at = now + RETIRE_DELAY
        dpd_exchange.start(sa, now)
        for settings in sa.pending:
            quick_mode.start(sa, settings, now)
        sa.pending = []
        remote_access.established(sa, now, self.pools)

    def first_contact(self, sa: IsakmpSa) -> bool:
        """Whether ``sa`` is our only ISAKMP SA with its peer."""
        return not any(o is not sa and o.state is not State.DEAD and
                       o.remote.addr == sa.remote.addr for o in self.sas.values())

    def initial_contact(self, sa: IsakmpSa, now: Now) -> None:
        """RFC 2407 §4.6.3.3: the peer has no other SA with us (it restarted): ours with the
        same peer end, without a Delete it could not read."""
        for other in list(self.sas.values()):
            if other is not sa and other.state is not State.DEAD and \
                    other.remote.addr == sa.remote.addr and other.peer_id == sa.peer_id:
                other.die("the peer restarted (INITIAL-CONTACT)")
                self._after(other)

    def _end(self, sa: IsakmpSa, now: Now, reason: str) -> None:
        """Delete the ISAKMP SA whose lifetime ended or that a new phase 1 replaced
        (:data:`RETIRE_DELAY` after it).  Its IPsec SAs go to another ISAKMP SA with the peer
        if there is one (RFC 2409 ties no phase 2 SA to the phase 1 SA it came from): the
        responder of a phase 1 rekey, which cannot tell it from a new phase 1, still holds
        them on the old SA when that one's lifetime ends."""
        informational.delete_sa(sa, now, reason, keep_children=self._hand_over(sa))

    def _hand_over(self, sa: IsakmpSa, heir: IsakmpSa | None = None) -> bool:
        """Move the IPsec SAs of ``sa`` to ``heir``, by default another established ISAKMP
        SA with its peer; whether there was one."""
        heir = heir or next((o for o in self.sas.values() if o is not sa and o.state is
                             State.ESTABLISHED and o.remote == sa.remote), None)
        if heir is None:
            return False
        heir.children += sa.children
        sa.children = []
        return True

    def peer_deleted(self, sa: IsakmpSa, now: Now) -> None:
        """The peer deleted the ISAKMP SA ``sa``: its IPsec SAs move to another ISAKMP SA with
        the peer (a phase 1 rekey of the peer's), else they end with it."""
        if self._hand_over(sa):
            sa.replaced = True
        sa.die("the peer deleted it")

    # -- inputs -------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, local: Endpoint, remote: Endpoint, now: Now) -> None:
        """One ISAKMP message (non-ESP marker removed)."""
        try:
            msg = message.decode(data)
        except ParseError as e:
            self.drop(remote, DropReason.MALFORMED, str(e))
            return
        if any(isinstance(p, Fragment) for p in msg.payloads):
            whole, problem = self._fragments.incoming(msg, remote, now)
            if problem is not None:
                self.drop(remote, DropReason.MALFORMED, problem)
            if whole is not None:
                self.receive_datagram(whole, local, remote, now)
            return
        if self.tracing and msg.encrypted is None:
            self._traces.append(Datagram(data, remote, local))
        sa = self.sas.get(msg.cookie_i + msg.cookie_r)
        if sa is None and msg.cookie_r != NO_COOKIE:
            sa = self.sas.get(msg.cookie_i + NO_COOKIE)
            if sa is not None and not sa.initiator:
                sa = None  # only the initiator's SA waits under CKY-I | 0
        if sa is None and msg.cookie_r == NO_COOKIE and \
                msg.exchange in (ExchangeType.MAIN_MODE, ExchangeType.AGGRESSIVE):
            sa = self._responders.get((remote, msg.cookie_i))
            if sa is None:
                self._new_responder(msg, data, local, remote, now)
                return
        if sa is None:
            self.drop(remote, DropReason.UNKNOWN_SPI,
                      f"cookies {msg.cookie_i.hex()}:{msg.cookie_r.hex()}")
            return
        dropped: list[DropReason] = []

        def drop(reason: DropReason, detail: str) -> None:
            dropped.append(reason)
            self.drop(remote, reason, detail)

        # NAT-T: the answer goes where the message came from; back if it was not the peer's.
        before = nat_exchange.follow(sa, local, remote)
        sa.arrived = (local, remote)
        with self._guard(sa):
            dispatch.receive(sa, msg, data, now, drop)
        sa.arrived = None
        if dropped:
            nat_exchange.unfollow(sa, before)
        self._after(sa)

    @contextlib.contextmanager
    def _guard(self, sa: IsakmpSa) -> Iterator[None]:
        # A configuration or key problem met mid-exchange ends that SA, not the daemon.
        try:
            yield
        except Racoon2Error as e:
            sa.fail(sa.state.value, str(e))

    def _after(self, sa: IsakmpSa) -> None:
        """Refile ``sa`` under its cookies, or remove it when dead."""
        if self.sas.get(sa.filed) is sa:
            del self.sas[sa.filed]
        # Keyed by where the first message came from: NAT-T may move sa.remote to 4500.
        key = (sa.origin, sa.cookie_i) if sa.origin is not None else None
        if sa.state is State.DEAD:
            sa.filed = b""
            if key is not None and self._responders.get(key) is sa:
                del self._responders[key]
                self._half_open.pop(key, None)
            remote_access.ended(sa)
            return
        sa.filed = sa.cookies
        self.sas[sa.filed] = sa
        if key is not None and key not in self._responders:
            self._responders[key] = self._half_open[key] = sa
        if key is not None and sa.state is State.ESTABLISHED:
            self._half_open.pop(key, None)

    def _settings_of(self, name: str | None) -> Phase1Settings:
        key = name or "default"
        if key not in self._settings:
            remote = self.config.remote(name) if name else None
            self._settings[key] = phase1_settings(self.config, remote, self._read,
                                                  self._read_public)
        return self._settings[key]

    def _new_responder(self, msg: message.Message, data: bytes, local: Endpoint,
                       remote: Endpoint, now: Now) -> None:
        remote_cfg = lookup.remote_for_address(self.config, remote.addr, Kmp.IKEV1)
        kmps = lookup.acceptable_kmp(self.config, remote_cfg)
        if (remote_cfg is None and self.config.default_remote is None) or \
                (kmps and Kmp.IKEV1 not in kmps):
            self.drop(remote, DropReason.NO_REMOTE, f"{remote.addr}: no remote accepts ikev1")
            return
        try:
            settings = self._settings_of(remote_cfg.name if remote_cfg else None)
        except Racoon2Error as e:
            self.drop(remote, DropReason.NO_REMOTE, str(e))
            return
        aggressive_mode = msg.exchange == ExchangeType.AGGRESSIVE
        if aggressive_mode != settings.aggressive:
            # racoon answers only the exchange_mode configured for the remote.
            self.drop(remote, DropReason.UNEXPECTED, f"{ExchangeType(msg.exchange).name} "
                      f"from {remote.addr}: remote {settings.remote} has exchange_mode "
                      f"{'aggressive' if settings.aggressive else 'main'}")
            return
        if len(self._half_open) >= HALF_OPEN_LIMIT:
            # IKEv1 has no stateless cookie exchange (RFC 2408 §2.5.3 leaves anti-clogging
            # to the implementation): past the limit a new peer waits for a half-open SA to
            # finish or time out, and the established SAs carry on.
            self.drop(remote, DropReason.HALF_OPEN, f"{len(self._half_open)} ISAKMP SAs in "
                      f"phase 1: {ExchangeType(msg.exchange).name} from {remote.addr} dropped")
            return
        sa = IsakmpSa(self, settings, local, remote, False, msg.cookie_i, now, origin=remote)
        with self._guard(sa):
            (aggressive.r_am1 if aggressive_mode else main_mode.r_mm1)(sa, msg, data, now)
        self._after(sa)

    def initiate(self, selector_name: str, now: Now, peer_addr: Address | None = None,
                 local_addr: Address | None = None) -> IsakmpSa | None:
        """Negotiate the IPsec SA of ``selector_name``'s policy: Quick Mode under an ISAKMP
        SA with the peer, after phase 1 if there is none."""
        sel = self.config.selector(selector_name)
        if sel is None or sel.policy is None:
            self.emit(NegotiationFailed("-", "initiate", f"no selector {selector_name!r} "
                                        "with a policy in the configuration"))
            return None
        try:
            remote_cfg = self.config.remote(sel.policy.remote_index) \
                if sel.policy.remote_index else None
            settings = self._settings_of(remote_cfg.name if remote_cfg else None)
            child = child_settings(self.config, sel.policy, self._local_addresses)
            return self._initiate(remote_cfg, settings, child, now, peer_addr, local_addr)
        except Racoon2Error as e:
            self.emit(NegotiationFailed("-", "initiate", str(e)))
            return None

    def _initiate(self, remote_cfg: Remote | None, settings: Phase1Settings,
                  child: ChildSettings, now: Now, peer_addr: Address | None,
                  local_addr: Address | None) -> IsakmpSa:
        if settings.passive:
            raise SettingsError(f"remote {settings.remote} is passive: it does not initiate")
        target = initiator_target(self.config, remote_cfg, Kmp.IKEV1, peer_addr,
                                  self.target_port)
        if target is None:
            raise SettingsError(f"remote {settings.remote}: no peers_ipaddr to send to")
        for sa in self.sas.values():
            if sa.remote.addr != target.addr or sa.state is State.DEAD or \
                    sa.retire_at is not None:
                continue  # (a replaced SA waiting for its Delete negotiates nothing new)
            busy = any(c.settings.policy == child.policy for c in sa.children) or any(
                t.child.settings.policy == child.policy for t in sa.quick.values()
                if t.state is not quick_mode.QState.DONE) or \
                any(p.policy == child.policy for p in sa.pending)
            if busy:
                return sa  # one ACQUIRE per packet burst is enough
            if sa.state is State.ESTABLISHED:
                quick_mode.start(sa, child, now)
                return sa
            sa.pending.append(child)
            return sa
        return self._phase1(settings, target, now, [child], local_addr)

    def _phase1(self, settings: Phase1Settings, target: Endpoint, now: Now,
                pending: list[ChildSettings], local_addr: Address | None = None,
                rekey_of: IsakmpSa | None = None) -> IsakmpSa:
        local = local_endpoint(self.config, self._local_addresses, target.addr, local_addr,
                               self.ike_port)
        if local is None:
            raise SettingsError(f"no interface ike address of IPv{target.addr.version} to "
                                f"reach {target.addr}")
        if rekey_of is not None and rekey_of.local.port == natt.NAT_T_PORT:
            # A phase 1 rekey behind a NAT stays on the floated ports (RFC 3947 §4).
            local = Endpoint(local.addr, natt.NAT_T_PORT)
        sa = IsakmpSa(self, settings, local, target, True,
                      own_spi(self.rng.random_bytes(8), *self.worker), now,
                      pending=pending, rekey_of=rekey_of)
        (aggressive.start if settings.aggressive else main_mode.start)(sa, now)
        self._after(sa)
        return sa

    def kernel_event(self, event: api.KernelEvent, now: Now) -> bool:
        """An EXPIRE of one of our IPsec SAs: soft starts a new Quick Mode for its policy,
        hard deletes it (peer told).  True when it was ours."""
        if not isinstance(event, api.Expire):
            return False
        for sa in list(self.sas.values()):
            for c in sa.children:
                if c.negotiated is None or event.key not in {s.key for s in
                                                             c.negotiated.specs}:
                    continue
                if event.hard:
                    informational.delete_children(sa, [c], now)
                    sa.remove_child(c, "hard lifetime reached")
                elif not c.replaced and sa.state is State.ESTABLISHED and not any(
                        t.child.rekey_of is c for t in sa.quick.values()):
                    quick_mode.start(sa, c.settings, now, rekey_of=c)
                self._after(sa)
                return True
            if any(c.negotiated is not None and event.key in {s.key for s in
                                                              c.negotiated.inbound_specs}
                   for _, c in sa.retiring):
                return True  # a rekeyed SA's inbound SA in its grace: it goes anyway
        return False

    def handle_timer(self, now: Now) -> None:
        """Run every SA whose deadline has come."""
        for sa in list(self.sas.values()):
            deadline = sa.deadline()
            if deadline is None or deadline > now:
                continue
            with self._guard(sa):
                self._timer(sa, now)
            self._after(sa)

    def _timer(self, sa: IsakmpSa, now: Now) -> None:
        expires, rekey = sa.expires_at(), sa.rekey_at()
        if sa.retire_at is not None and sa.retire_at <= now:
            self._end(sa, now, "replaced by a new phase 1")
            return
        if expires is not None and expires <= now:
            self._end(sa, now, "replaced by a new phase 1" if sa.retire_at is not None
                      else "phase 1 lifetime reached")
            return
        if rekey is not None and rekey <= now:
            sa.replaced = True  # no second rekey of this one
            self._phase1(sa.settings, sa.remote, now, [], sa.local.addr, rekey_of=sa)
        dispatch.on_timer(sa, now)

    def reconfigure(self, config: Config, now: Now) -> int:
        """SIGHUP: ISAKMP SAs whose remote is gone or changed are deleted, with their IPsec
        SAs; the others stay as they are.  Returns how many it deletes."""
        self.config = config
        old, self._settings = self._settings, {}
        self._children.clear()
        deleted = 0
        for sa in list(self.sas.values()):
            try:
                same = old.get(sa.settings.remote) == self._settings_of(
                    None if sa.settings.remote == "default" else sa.settings.remote)
            except Racoon2Error:
                same = False
            if not same:
                informational.delete_sa(sa, now, "configuration changed")
                deleted += 1
            self._after(sa)
        return deleted

    def operate(self, sa: IsakmpSa, child: Child | None, rekey: bool, now: Now) -> None:
        """ikedctl's rekey or terminate of ``sa``, or of its IPsec SA ``child``: a new
        phase 1 (the IPsec SAs move over) or Quick Mode, a Delete to the peer."""
        if rekey and child is not None:
            if sa.state is State.ESTABLISHED and not any(
                    t.child.rekey_of is child for t in sa.quick.values()):
                quick_mode.start(sa, child.settings, now, rekey_of=child)
        elif rekey:
            if sa.state is State.ESTABLISHED and not sa.replaced:
                sa.replaced = True  # as the lifetime's rekey: no second one
                self._phase1(sa.settings, sa.remote, now, [], sa.local.addr, rekey_of=sa)
        elif child is not None:
            informational.delete_children(sa, [child], now)
            sa.remove_child(child, "terminated by ikedctl")
        else:
            informational.delete_sa(sa, now, "terminated by ikedctl")
        self._after(sa)

    def shutdown(self, now: Now, force: bool = False) -> None:
        """Delete every ISAKMP SA and its IPsec SAs, each peer told (IKEv1 Deletes are not
        answered, so there is nothing to wait for: ``force`` changes nothing)."""
        for sa in list(self.sas.values()):
            informational.delete_sa(sa, now, "shut down")
            self._after(sa)

    # -- outputs ------------------------------------------------------------------------------

    def next_timer(self) -> Now | None:
        """When :meth:`handle_timer` must run next."""
        times = [d for sa in self.sas.values() if (d := sa.deadline()) is not None]
        return min(times) if times else None

    def status(self) -> dict[str, object]:
        """Counters and SAs for logs and ``--json`` status."""
        return {
            "isakmp_sas": [{"sa": sa.name, "remote": sa.settings.remote, "peer": str(sa.remote),
                            "state": sa.state.value, "initiator": sa.initiator,
                            "children": [{"policy": c.settings.policy,
                                          "spi_in": f"{c.spi_in:08x}",
                                          "spi_out": f"{c.spi_out:08x}"} for c in sa.children],
                            "quick_modes": [f"{t.mid:08x} {t.state.value}"
                                            for t in sa.quick.values()]}
                           for sa in self.sas.values()],
            "dropped": {r.name.lower(): n for r, n in self.dropped.items()},
        }
