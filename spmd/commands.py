"""spmif commands against spmd's state (pure; doc/spmif.md §4).

``State.handle(command)`` answers at once with a Reply, or with :class:`KernelWork`: kernel
operations to run, the reply when they all succeed, the reply when one fails.  The shell runs
the operations and calls ``State.commit`` with their results, so the table of installed
policies (for POLICY DUMP and SLID) only ever holds what the kernel accepted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace

from racoon2.config.model import AddrSpec, Config, Selector
from racoon2.ipsec import Direction, Mode
from racoon2.kernel import api
from racoon2.net import Address
from racoon2.spmif import commands as c
from racoon2.spmif import replies
from racoon2.spmif.replies import Reply
from spmd.dns import Resolver
from spmd.fqdn import FqdnCache
from spmd.policies import Desired, specs_for
from spmd.reconcile import Key, key_of

PolicyOp = api.AddPolicy | api.UpdatePolicy | api.DelPolicy | api.Migrate


@dataclass(slots=True)
class Installed:
    """A policy spmd put in the kernel: its selector (SLID), spec and kernel index (spid)."""

    selector: str
    spec: api.PolicySpec
    spid: int = 0
    generated: bool = False  # by POLICY ADD, rather than from the configuration


@dataclass(frozen=True, slots=True)
class KernelWork:
    """Operations to perform; ``desired[i]`` is recorded for ``ops[i]`` on success."""

    ops: tuple[PolicyOp, ...]
    ok: Reply
    fail: Reply
    desired: tuple[Desired | None, ...] = ()
    generated: bool = True


class State:
    """Everything spmif commands read and change."""

    def __init__(self, config: Config, *, fwd: bool = True) -> None:
        self.config = config
        self.fwd = fwd
        self.table: dict[Key, Installed] = {}
        self.fqdn = FqdnCache()
        self.resolver = Resolver()

    # -- the table --------------------------------------------------------------------------

    def record(self, desired: Desired, key: api.PolicyKey, generated: bool = False) -> None:
        """Remember a policy the kernel accepted (``key.index`` is its spid)."""
        self.table[key_of(desired.spec)] = Installed(desired.selector, desired.spec, key.index,
                                                     generated)

    def forget(self, key: api.PolicyKey) -> None:
        """Drop a policy that is no longer in the kernel."""
        self.table.pop((key.direction, key.selector, key.mark, key.if_id), None)

    def commit(self, work: KernelWork, results: Sequence[object]) -> None:
        """Apply the table changes of ``work`` whose operations all succeeded."""
        for op, desired, result in zip(work.ops, work.desired, results, strict=False):
            if isinstance(op, api.DelPolicy):
                self.forget(op.key)
            elif isinstance(op, api.Migrate):
                self._migrated(op.migration)
            elif desired is not None and isinstance(result, api.PolicyKey):
                self.record(desired, result, work.generated)

    def _migrated(self, m: api.Migration) -> None:
        """The kernel moved the templates ``m`` names: so does the table, or the next
        MIGRATE (the peer moves again) would look for the old ends."""
        for key, e in self.table.items():
            if (e.spec.direction, e.spec.selector) != (m.direction, m.selector):
                continue
            moved = []
            for t in e.spec.templates:
                ends = (t.src, t.dst)
                for entry in m.entries:
                    if (entry.proto, entry.mode, entry.reqid) == (t.proto, t.mode, t.reqid) \
                            and _as_kernel_has(t, (entry.old_src, entry.old_dst)) == \
                            (entry.old_src, entry.old_dst):
                        ends = (entry.new_src, entry.new_dst)
                moved.append(replace(t, src=ends[0], dst=ends[1]))
            self.table[key] = replace(e, spec=replace(e.spec, templates=tuple(moved)))

    def slid(self, spid: int) -> str | None:
        """The selector index of kernel policy ``spid``."""
        for entry in self.table.values():
            if entry.spid == spid:
                return entry.selector
        return None

    # -- commands ---------------------------------------------------------------------------

    def handle(self, cmd: c.Command) -> Reply | KernelWork:
        """The answer to one logged-in command (LOGIN and QUIT are the protocol's)."""
        match cmd:
            case c.Stat():
                return replies.stat([*self.resolver.counters, self.fqdn.address_count,
                                     self.fqdn.name_count, len(self.fqdn.registered())])
            case c.PolicyAdd():
                return self._policy_add(cmd)
            case c.PolicyDelete():
                return self._policy_delete(cmd)
            case c.PolicyDump():
                return replies.policy_dump(
                    [(e.selector, e.spid) for e in self.table.values() if e.spid])
            case c.Slid(spid):
                found = self.slid(spid)
                return replies.slid(found) if found is not None else replies.no_such_spid(spid)
            case c.Migrate():
                return self._migrate(cmd)
            case c.NsList() | c.NsAdd() | c.NsDelete() | c.NsChange():
                return self._ns(cmd)
            case c.FqdnList():
                return replies.fqdn_list(self.fqdn.registered())
            case c.FqdnQuery(addr):
                return replies.fqdn_query(self.fqdn.names_of(addr))
            case c.FqdnAdd(name):
                ok = self.fqdn.register(name)
                return replies.fqdn_registered() if ok else replies.fqdn_already_registered()
            case c.FqdnDelete(name):
                ok = self.fqdn.deregister(name)
                return replies.fqdn_deregistered() if ok else replies.fqdn_no_such()
        return replies.not_implemented()

    def _policy_add(self, cmd: c.PolicyAdd) -> Reply | KernelWork:
        sel = self.config.selector(cmd.selector_index)
        if sel is None or sel.policy is None:
            return replies.selector_not_found()
        rev = self.reverse_of(sel)
        if rev is None or rev.policy is None:
            return replies.reverse_selector_not_found()
        if rev.direction is sel.direction:
            return replies.reverse_selector_same_direction()
        tunnel = cmd.mode is Mode.TUNNEL
        ends: tuple[Address | None, Address | None] = (None, None)
        if tunnel:
            outbound = sel.direction is not Direction.INBOUND
            ends = (cmd.sa_src, cmd.sa_dst) if outbound else (cmd.sa_dst, cmd.sa_src)
        desired = [
            *specs_for(sel, sel.policy, cmd.src, cmd.dst, ends, fwd=self.fwd,
                       lifetime=cmd.lifetime, tunnel=tunnel),
            *specs_for(rev, rev.policy, cmd.dst, cmd.src, ends, fwd=self.fwd,
                       lifetime=cmd.lifetime, tunnel=tunnel),
        ]
        return KernelWork(tuple(api.UpdatePolicy(d.spec) for d in desired),
                          replies.policy_added(sel.name, rev.name),
                          replies.operation_failed_for(sel.name), tuple(desired))

    def reverse_of(self, sel: Selector) -> Selector | None:
        """The first selector of the same remote whose src/dst are this one's dst/src."""
        remote = sel.policy.remote_index if sel.policy else None
        for other in self.config.selectors:
            if other is sel or other.policy is None or other.policy.remote_index != remote:
                continue
            if _same(other.src, sel.dst) and _same(other.dst, sel.src):
                return other
        return None

    def _policy_delete(self, cmd: c.PolicyDelete) -> Reply | KernelWork:
        sel = self.config.selector(cmd.selector_index)
        if sel is None:
            return replies.selector_not_found()
        rev = self.reverse_of(sel)
        names = {sel.name} | ({rev.name} if rev else set())
        pairs = {(cmd.src, cmd.dst), (cmd.dst, cmd.src)} if cmd.src and cmd.dst else None
        keys = [
            e.spec.key for e in self.table.values()
            if e.generated and e.selector in names
            and (pairs is None or (e.spec.selector.src, e.spec.selector.dst) in pairs)
        ]
        if not keys:
            return replies.operation_failed()
        return KernelWork(tuple(api.DelPolicy(k) for k in keys), replies.policy_deleted(),
                          replies.operation_failed_for(sel.name), (None,) * len(keys))

    def _migrate(self, cmd: c.Migrate) -> Reply | KernelWork:
        sel = self.config.selector(cmd.selector_index)
        if sel is None:
            return replies.selector_not_found()
        rev = self.reverse_of(sel)
        names = {sel.name} | ({rev.name} if rev else set())
        ops: list[PolicyOp] = []
        for e in self.table.values():
            if e.selector not in names:
                continue
            moves = tuple(
                api.MigrateEntry(t.proto, t.mode, t.reqid, *ends, *_moved(old, cmd))
                for t in e.spec.templates
                if t.mode is api.Mode.TUNNEL and (old := _old_ends(t, cmd)) is not None
                for ends in dict.fromkeys((old, _as_kernel_has(t, old)))
            )
            if moves:
                ops.append(api.Migrate(api.Migration(e.spec.selector, e.spec.direction, moves)))
        if not ops:
            return replies.operation_failed_for(cmd.selector_index)
        return KernelWork(tuple(ops), replies.migrated(cmd.selector_index),
                          replies.operation_failed_for(cmd.selector_index), (None,) * len(ops))

    def _ns(self, cmd: c.NsList | c.NsAdd | c.NsDelete | c.NsChange) -> Reply:
        res = self.resolver
        if not res.nsswitch_dns:
            return replies.ns_check_nsswitch()
        match cmd:
            case c.NsList():
                return replies.ns_list([str(a) for a in res.servers] if res.enabled else [])
            case c.NsAdd(addr):
                if not res.enabled:
                    return replies.ns_resolver_off()
                if addr in res.servers:
                    return replies.ns_already_exists(str(addr))
                res.servers.insert(0, addr)
                return replies.ns_added(str(addr))
            case c.NsDelete(addr):
                if addr not in res.servers:
                    return replies.ns_does_not_exist()
                if len(res.servers) == 1:
                    return replies.ns_delete_refused()
                res.servers.remove(addr)
                res.ports.pop(addr, None)
                return replies.ns_deleted(str(addr))
            case c.NsChange(addr):
                if addr not in res.servers:
                    return replies.ns_not_in_list(str(addr))
                res.servers.remove(addr)
                res.servers.insert(0, addr)
                return replies.ns_changed(str(addr))


def _old_ends(t: api.Template, cmd: c.Migrate) -> tuple[Address, Address] | None:
    """The command's old ends (either way round) that template ``t`` stands for, or None.
    Only the templates between them move: an IP_RW selector's policies for other peers
    keep theirs.  An end a ``MY_IP`` macro left open (the kernel's wildcard) matches any: the
    kernel then moves the SAs and leaves the template as it is."""
    for src, dst in ((cmd.old_src, cmd.old_dst), (cmd.old_dst, cmd.old_src)):
        if t.src in (None, src) and t.dst in (None, dst) and (t.src, t.dst) != (None, None):
            return src, dst
    return None


def _as_kernel_has(t: api.Template, old: tuple[Address, Address]) -> tuple[Address, Address]:
    """``t``'s ends as the kernel holds them: a wildcard end is the unspecified address.  The
    kernel moves a template only when an entry names exactly those (and refuses a MIGRATE
    that moves none, ENODATA), the SAs only by their real ends: a template with a wildcard
    gets two entries, and its wildcard end becomes the new address."""
    any_addr = ipaddress.ip_address(0 if old[0].version == 4 else "::")
    return (t.src or any_addr, t.dst or any_addr)


def _moved(old: tuple[Address, Address], cmd: c.Migrate) -> tuple[Address, Address]:
    """New endpoints for the old ends ``old``: the command's, swapped for the reverse
    direction."""
    if old == (cmd.old_dst, cmd.old_src):
        return cmd.new_dst, cmd.new_src
    return cmd.new_src, cmd.new_dst


def _same(a: Sequence[AddrSpec], b: Sequence[AddrSpec]) -> bool:
    def shape(s: AddrSpec) -> tuple[object, ...]:
        return (s.kind, s.text, s.prefixlen, s.port, s.ifname)
    return [shape(x) for x in a] == [shape(y) for y in b]

