"""iked's log lines and hook scripts for the cores' events (what the shell reports after
each input): one line per event, in the admin's terms, and the remote's ``script`` hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from iked import events as ev
from iked import hooks
from racoon2.config.effective import ikev1, ikev2
from racoon2.config.model import Config, Script, ScriptType
from racoon2.crypto.weak import weaknesses
from racoon2.log import fields as journal_fields
from racoon2.log import journal_active

if TYPE_CHECKING:
    from iked.shell import Iked

log = logging.getLogger("iked")
DROP_REPORT_INTERVAL = 60.0


class Reporter:
    """Logs the events of one :class:`~iked.shell.Iked`'s cores and runs their hooks."""

    def __init__(self, iked: Iked) -> None:
        self.iked = iked
        self._drops_reported = -DROP_REPORT_INTERVAL
        self._drops_seen: dict[ev.DropReason, int] = {}
        self._remotes_of: tuple[Config | None, dict[str, str]] = (None, {})
        self._scripts_of: tuple[Config | None, dict[str, tuple[Script, ...]]] = (None, {})

    def report(self, event: ev.Event) -> None:
        if not isinstance(event, ev.Dropped):  # counted by reason in the core
            self.iked.control.events[type(event).__name__] += 1
        if not journal_active():
            self._log(event)
            return
        with journal_fields(**ev.journal_fields(event)):
            self._log(event)

    def _log(self, event: ev.Event) -> None:
        match event:
            case ev.IkeSaUp():
                log.info("IKE SA %s established with %s (remote %s, %s%s%s%s)", event.sa,
                         event.remote, event.remote_name,
                         "initiator" if event.initiator else "responder",
                         # RFC 9370: name the key exchanges when there were additional ones
                         f", key exchanges {' '.join(event.key_exchanges)}"
                         if len(event.key_exchanges) > 1 else "",
                         f", PPK {event.ppk}" if event.ppk is not None else "",  # RFC 8784
                         f", rekey of {event.rekey_of}" if event.rekey_of else "")
                if weak := weaknesses((*event.algorithms, *event.key_exchanges)):
                    log.warning("IKE SA %s with %s: weak algorithms accepted: %s", event.sa,
                                event.remote, ", ".join(weak))
                if event.leases and not event.rekey_of:
                    log.info("IKE SA %s: leased %s to %s", event.sa,
                             " ".join(map(str, event.leases)), event.remote)
                if event.rekey_of:
                    self.iked.netlink.submit(self.iked.leased.moved, event.rekey_of, event.sa)
                kind = ScriptType.PHASE1_REKEY if event.rekey_of else ScriptType.PHASE1_UP
                self._hook(kind, event.remote_name, lambda: hooks.phase1_env(
                    event.local.addr, event.local.port, event.remote.addr, event.remote.port,
                    event.key_exchanges, event.leases, event.ppk))
            case ev.IkeSaDown():
                log.info("IKE SA %s with %s deleted: %s", event.sa, event.remote, event.reason)
                if not event.replaced:
                    self.iked.netlink.submit(self.iked.leased.remove, event.sa)
                    self._hook(ScriptType.PHASE1_DOWN, event.remote_name,
                               lambda: hooks.phase1_env(event.local.addr, event.local.port,
                                                        event.remote.addr, event.remote.port,
                                                        leases=event.leases))
            case ev.ChildSaUp():
                kex = event.hook.key_exchanges  # a CREATE_CHILD_SA's PFS, RFC 9370 ones
                # The outer protocol, as ipsec_sas.describe names an AH bundle's transforms.
                outer = "AH" if event.algorithms.startswith("AH ") else "ESP"
                log.info("CHILD_SA of policy %s %s: %s %s, spi in 0x%08x out 0x%08x, %s <=> %s"
                         " (%s%s)", event.policy, "rekeyed" if event.rekey else "up", outer,
                         event.mode.name.lower(), event.spi_in, event.spi_out, event.local_ts,
                         event.remote_ts, event.algorithms,
                         f", key exchanges {' '.join(kex)}" if kex else "")
                if weak := weaknesses((event.algorithms, *kex)):
                    log.warning("CHILD_SA of policy %s (spi in 0x%08x): weak algorithms "
                                "accepted: %s", event.policy, event.spi_in, ", ".join(weak))
                self._hook(ScriptType.PHASE2_REKEY if event.rekey else ScriptType.PHASE2_UP,
                           self._remote_of(event.policy), lambda: hooks.phase2_env(event.hook))
            case ev.ChildSaDown():
                log.info("CHILD_SA of policy %s (spi in 0x%08x out 0x%08x) deleted: %s",
                         event.policy, event.spi_in, event.spi_out, event.reason)
                if event.hook is not None and not event.replaced:
                    hook = event.hook
                    self._hook(ScriptType.PHASE2_DOWN, self._remote_of(event.policy),
                               lambda: hooks.phase2_env(hook))
            case ev.AddressLeased():
                log.info("IKE SA %s: remote %s leased us %s", event.sa, event.remote_name,
                         ", ".join(map(str, event.addresses)))
                self.iked.netlink.submit(self.iked.leased.add, event.sa, event.remote,
                                         event.addresses)
            case ev.RemoteAccess():
                log.info("%s %s with %s: %s", event.kind, event.sa, event.remote, event.what)
            case ev.NatDetected():
                where = " and ".join(w for w, b in (("this host", event.local_behind),
                                                    ("the peer", event.peer_behind)) if b)
                log.info("IKE SA %s: NAT detected in front of %s: IKE on port 4500, ESP in UDP",
                         event.sa, where)
            case ev.ProposalMatched():
                log.info("IKE SA %s: %s proposal matched %s: %s", event.sa, event.what,
                         "the remote's own lists" if event.profile == "configured" else
                         f"proposal_profile {event.profile}", event.chosen)
            case ev.IkeSaMoved():
                log.info("IKE SA %s moved from %s to %s (NAT: %s)", event.sa,
                         f"{event.old_local}<=>{event.old_remote}",
                         f"{event.local}<=>{event.remote}", event.nat)
                self._hook(ScriptType.MIGRATION, event.remote_name, lambda: hooks.migration_env(
                    event.old_local.addr, event.old_remote.addr, event.local.addr,
                    event.remote.addr))
            case ev.NegotiationFailed():
                extra = "".join(f"; {k}: {v}" for k, v in (("received", event.received),
                                                           ("configured", event.configured))
                                if v)
                log.error("IKE SA %s: %s failed: %s%s", event.sa, event.stage, event.reason,
                          extra)
            case ev.RekeyCollision():
                log.info("IKE SA %s: %s rekey collision (RFC 7296 §2.8): %s redundant "
                         "(lowest nonce)%s", event.sa, event.what,
                         "our rekey is" if event.ours_redundant else "the peer's rekey is",
                         ", its IKE_FOLLOWUP_KE exchanges not started (RFC 9370 §2.2.4)"
                         if event.followups_dropped else "")
            case ev.KernelFailed():
                log.error("IKE SA %s: cannot %s: %s", event.sa, event.what, event.error)
            case ev.InvalidSpiHint():
                log.warning("IKE SA %s: %s says it has no such IKE SA (INVALID_IKE_SPI, "
                            "unauthenticated): %s", event.sa, event.remote,
                            "checking that the peer is alive" if event.checking else
                            "ignored, the SA is not up")
            case ev.Dropped():
                log.debug("%s: dropped: %s%s", event.remote, event.reason.value,
                          f" ({event.detail})" if event.detail else "")
                self._drops()

    def _drops(self) -> None:
        # One summary line a minute at most: a flood must not flood the log too.
        now = time.monotonic()
        if now - self._drops_reported < DROP_REPORT_INTERVAL:
            return
        counts = dict(self.iked.core.dropped)
        delta = {r: n - self._drops_seen.get(r, 0) for r, n in counts.items()
                 if n != self._drops_seen.get(r, 0)}
        self._drops_reported, self._drops_seen = now, counts
        log.warning("dropped IKE messages since the last report: %s",
                    ", ".join(f"{r.value} {n}" for r, n in delta.items()))

    def _remote_of(self, policy_name: str) -> str:
        # Every CHILD_SA event asks: a name index per configuration, not a scan of its
        # policies (the first policy of a name counts, as in the configuration's lookups).
        config = self.iked.config
        if self._remotes_of[0] is not config:
            names: dict[str, str] = {}
            for p in config.policies:
                names.setdefault(p.name, p.remote_index or "")
            self._remotes_of = (config, names)
        return self._remotes_of[1].get(policy_name, "")

    def _scripts(self, remote_name: str) -> tuple[Script, ...]:
        # The remote's hooks, from its ikev2 and ikev1 blocks (a path written in both runs
        # once), looked up once per remote and configuration, not per event.
        config = self.iked.config
        if self._scripts_of[0] is not config:
            self._scripts_of = (config, {})
        known = self._scripts_of[1]
        if remote_name not in known:
            remote = config.remote(remote_name)
            known[remote_name] = tuple({(s.type, s.path): s for s in (
                *ikev2(config, remote).script, *ikev1(config, remote).script)}.values())
        return known[remote_name]

    def _hook(self, kind: ScriptType, remote_name: str,
              env: Callable[[], list[tuple[str, str]]]) -> None:
        # The environment is made only for a script that runs: most SAs have none.
        for script in self._scripts(remote_name):
            if script.type is kind:
                self.iked.hooks.submit(hooks.Hook(script.path, script.type, tuple(env())))

