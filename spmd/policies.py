"""The policies spmd installs for a configuration (pure; doc/spmd.md).

Per selector: skip those without a policy, with ``install off``, tunnel policies whose peer is
``IP_RW`` and remotes that lease addresses from a pool (iked asks for those at run time); expand
macros to this host's addresses and host names through the FQDN cache (an unresolved name is
reported as pending, not an error); then one kernel policy per direction (inbound tunnel
policies also get a ``fwd`` twin on Linux, as the original did).
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from racoon2.config.check_spmd import MAX_ORDER
from racoon2.config.model import AddrKind, AddrSpec, Config, Policy, SaProtocol, Selector
from racoon2.ipsec import Action, Direction, Level, Mode
from racoon2.kernel import api
from racoon2.net import Address, Prefix

#: Addresses of this host: ``local(macro, ifname)`` → the addresses MY_IP… stand for.
LocalAddresses = Callable[[str, str | None], Sequence[Address]]
#: The FQDN cache: ``resolve(name)`` → addresses, or None when not resolved yet.
Resolve = Callable[[str], Sequence[Address] | None]

PROTOS = {SaProtocol.ESP: api.Proto.ESP, SaProtocol.AH: api.Proto.AH,
          SaProtocol.IPCOMP: api.Proto.IPCOMP}
#: Applied innermost first on output (the order XFRM templates are listed in).
TEMPLATE_ORDER = (SaProtocol.IPCOMP, SaProtocol.ESP, SaProtocol.AH)
ANY_V4 = ipaddress.ip_network("0.0.0.0/0")
ANY_V6 = ipaddress.ip_network("::/0")
NO_LIFETIME = api.Lifetime()
#: Templates by (id(policy), reqid, inbound, ends, tunnel) for one configuration: an
#: lru_cache keyed by the Policy itself hashed its whole ipsec/sa tree on every call, a
#: quarter of the time of 10,000 selectors, and kept old configurations alive.
Templates = dict[tuple[int, int, bool, tuple[Address | None, Address | None], bool],
                 tuple[api.Template, ...]]


@dataclass(frozen=True, slots=True)
class Desired:
    """One kernel policy spmd wants, and the selector (SLID) it comes from."""

    spec: api.PolicySpec
    selector: str


@dataclass(slots=True)
class Plan:
    """What the configuration asks for: policies, and what had to wait or was left out;
    ``by_selector`` has the policies of each selector planned, in the same order."""

    policies: list[Desired] = field(default_factory=list)
    pending_fqdn: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (selector, why)
    by_selector: list[list[Desired]] = field(default_factory=list)


def no_local(macro: str, ifname: str | None) -> Sequence[Address]:
    """A LocalAddresses for hosts whose addresses do not matter (tests, -n)."""
    return ()


def plan(config: Config, local: LocalAddresses = no_local,
         resolve: Resolve = lambda name: None, *, fwd: bool = True) -> Plan:
    """The policies for every selector of ``config`` (see the module docstring)."""
    return plan_selectors(config, enumerate(config.selectors), local, resolve, fwd=fwd)


def plan_selectors(config: Config, selectors: Iterable[tuple[int, Selector]],
                   local: LocalAddresses = no_local, resolve: Resolve = lambda name: None,
                   *, fwd: bool = True) -> Plan:
    """The policies of some selectors of ``config``, each given with its position in
    ``config.selectors`` (which ranks it, :func:`rank`): a reload plans only those that
    changed."""
    out = Plan()
    pooled = _pooled_remotes(config)
    memo: Templates = {}
    skips: dict[int, str | None] = {}  # by id(policy): thousands of selectors share a few
    inet = AddrKind.INET
    for position, sel in selectors:
        found: list[Desired] = []
        out.by_selector.append(found)
        policy = sel.policy
        if policy is None:
            out.skipped.append((sel.name, "no policy to install"))
            continue
        if id(policy) not in skips:
            skips[id(policy)] = _skip(policy, pooled)
        why = skips[id(policy)]
        if why is not None:
            out.skipped.append((sel.name, why))
            continue
        if not sel.src or not sel.dst:
            out.skipped.append((sel.name, "no src or dst"))
            continue
        s, d = sel.src[0], sel.dst[0]
        # A numeric address, by far the most common, without the general expansion's calls.
        srcs = [_network(s.address, s.prefixlen)] if s.kind is inet and s.address is not None \
            else _expand(s, local, resolve, out.pending_fqdn)
        dsts = [_network(d.address, d.prefixlen)] if d.kind is inet and d.address is not None \
            else _expand(d, local, resolve, out.pending_fqdn)
        for src, dst in itertools.product(srcs, dsts):
            if src.version == dst.version:
                found.extend(_specs(sel, policy, src, dst, position, fwd, memo))
        out.policies.extend(found)
    return out


def _skip(policy: Policy, pooled: set[str]) -> str | None:
    """Why no selector of ``policy`` gets a kernel policy from the configuration, or None."""
    if policy.install is False or policy.action is None:
        return "no policy to install"
    if policy.ipsec_mode is Mode.TUNNEL and policy.peers_sa_ipaddr is not None and \
            policy.peers_sa_ipaddr.is_rw:
        return "tunnel to IP_RW: installed when iked asks"
    if policy.remote_index in pooled:
        return "remote leases addresses: installed when iked asks"
    return None


def rank(position: int) -> int:
    """What a selector's position in the configuration adds to its policies' priority: the
    first 15 are told apart, the rest rank alike."""
    return min(position, 15)


def _pooled_remotes(config: Config) -> set[str]:
    names = set()
    for remote in config.remotes:
        if remote.ikev2 and remote.ikev2.provide and remote.ikev2.provide.addresspool:
            names.add(remote.name)
    default = config.default_remote
    if default and default.ikev2 and default.ikev2.provide and \
            default.ikev2.provide.addresspool:
        names.update(p.remote_index for p in config.policies
                     if p.remote_index and config.remote(p.remote_index) is None)
    return names


def _expand(spec: AddrSpec, local: LocalAddresses, resolve: Resolve,
            pending: set[str]) -> list[Prefix]:
    if spec.kind is AddrKind.INET and spec.address is not None:
        return [_network(spec.address, spec.prefixlen)]
    if spec.kind is AddrKind.RANGE:
        return spec.prefixes()  # XFRM policies are prefixes: one per covering prefix
    if spec.kind is AddrKind.FQDN:
        found = resolve(spec.text)
        if found is None:
            pending.add(spec.text)
            return []
        return [ipaddress.ip_network(a) for a in found]
    if spec.kind is AddrKind.MACRO:
        if spec.text in ("IP_ANY", "IP_RW", "IP_UNSPECIFIED"):
            return [ANY_V4, ANY_V6]
        return [_with_prefix(a, spec.prefixlen) for a in local(spec.text, spec.ifname)]
    return []


def _with_prefix(addr: Address, prefixlen: int | None) -> Prefix:
    return _network(addr, addr.max_prefixlen if prefixlen is None else prefixlen)


@functools.lru_cache(maxsize=4096)
def _network(addr: Address, prefixlen: int | None) -> Prefix:
    # From the integer: ipaddress would otherwise reparse the address text (slow at 10,000
    # selectors); many selectors share one side, hence the cache.
    plen = addr.max_prefixlen if prefixlen is None else prefixlen
    if addr.version == 4:
        return ipaddress.IPv4Network((int(addr), plen), strict=False)
    return ipaddress.IPv6Network((int(addr), plen), strict=False)


def _specs(sel: Selector, policy: Policy, src: Prefix, dst: Prefix, position: int,
           fwd: bool, memo: Templates) -> Iterable[Desired]:
    mine = policy.my_sa_ipaddr.address if policy.my_sa_ipaddr else None
    peer = policy.peers_sa_ipaddr.address if policy.peers_sa_ipaddr else None
    return specs_for(sel, policy, src, dst, (mine, peer), position=position, fwd=fwd,
                     memo=memo)


def specs_for(sel: Selector, policy: Policy, src: Prefix, dst: Prefix,
              ends: tuple[Address | None, Address | None], *, position: int = 0,
              fwd: bool = True,
              lifetime: int = 0, tunnel: bool | None = None,
              memo: Templates | None = None) -> list[Desired]:
    """The kernel policies of ``sel`` for one src/dst pair; ``ends`` = (my, peer) tunnel ends.

    Also used for spmif POLICY ADD, where iked supplies addresses learnt at run time and the
    mode (``tunnel``; None: the policy's ipsec_mode).  ``memo`` keeps the templates computed
    for one configuration (:func:`plan`: thousands of selectors usually share a few policies).
    """
    if tunnel is None:
        tunnel = policy.ipsec_mode is Mode.TUNNEL
    selector = _kernel_selector(sel, src, dst)
    inbound = sel.direction is Direction.INBOUND
    action = api.Verdict.BLOCK if policy.action is Action.DISCARD else api.Verdict.ALLOW
    templates: tuple[api.Template, ...] = ()
    if policy.action in (Action.AUTO_IPSEC, Action.STATIC_IPSEC):
        key = (id(policy), sel.reqid or 0, inbound, ends, tunnel)
        found = memo.get(key) if memo is not None else None
        if found is None:
            found = _templates(policy, sel.reqid or 0, inbound, ends, tunnel)
            if memo is not None:
                memo[key] = found
        templates = found
    priority = _priority(selector, sel.order or 0, position)
    directions = [api.Direction.INBOUND if inbound else api.Direction.OUTBOUND]
    if inbound and fwd and tunnel:
        directions.append(api.Direction.FORWARD)
    life = api.Lifetime(hard_add_seconds=lifetime) if lifetime else NO_LIFETIME
    return [Desired(api.PolicySpec(selector, direction, api.Owner.SPMD, action, templates,
                                   priority, lifetime=life), sel.name)
            for direction in directions]


def _kernel_selector(sel: Selector, src: Prefix, dst: Prefix) -> api.Selector:
    proto = sel.upper_layer_protocol
    proto = 0 if proto is None or proto == 255 else proto
    sport = sel.src[0].port or 0
    dport = sel.dst[0].port or 0
    if sel.icmp_type is not None:
        sport = sel.icmp_type
        dport = sel.icmp_code or 0
    return api.Selector(src, dst, proto, sport, dport)


def _templates(policy: Policy, reqid: int, inbound: bool,
               ends: tuple[Address | None, Address | None], tunnel: bool
               ) -> tuple[api.Template, ...]:
    if not policy.ipsecs:
        return ()
    first = policy.ipsecs[0]
    by_proto = {sa.sa_protocol: sa for sa in first.sas}
    mine, peer = ends
    src_dst = (peer, mine) if inbound else (mine, peer)
    level = policy.ipsec_level or Level.REQUIRE
    out: list[api.Template] = []
    for proto in TEMPLATE_ORDER:
        if proto not in by_proto:
            continue
        mode = api.Mode.TUNNEL if tunnel and not out else api.Mode.TRANSPORT
        src, dst = src_dst if mode is api.Mode.TUNNEL else (None, None)
        # A sender leaves uncompressed what compression would not shrink (RFC 3173 §2.2):
        # inbound, the IPComp template is optional or those packets would be dropped.
        lvl = api.Level.USE if proto is SaProtocol.IPCOMP and inbound else level
        out.append(api.Template(PROTOS[proto], mode, src, dst, reqid, lvl))
    return tuple(out)


def _priority(selector: api.Selector, order: int, position: int) -> int:
    """The selector's ``order`` first (lower wins, as kinkd ranked selectors by it;
    doc/spmd.md), then more specific selectors, then configuration order (lower values win)."""
    specificity = selector.src.prefixlen + selector.dst.prefixlen
    specificity += 8 if selector.proto else 0
    specificity += 4 if selector.sport or selector.dport else 0
    return (min(order, MAX_ORDER) << 13) | ((300 - specificity) << 4) | rank(position)
