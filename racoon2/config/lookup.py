"""Configuration queries iked and kinkd make while negotiating (pure; doc/iked.md, doc/kinkd.md).

Which ``remote`` an incoming request belongs to (by the peer's address, falling back to the
``default`` remote), which one IKE_AUTH's IDi names (``peers_id``), which selector an ACQUIRE
is for (spmd's SLID answer, else the packet's addresses), and which selectors belong to a
remote.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from racoon2.config.effective import EffectivePolicy, effective
from racoon2.config.effective import policy as effective_policy
from racoon2.config.model import (
    AddrKind,
    AddrSpec,
    Config,
    IdType,
    Kmp,
    Policy,
    Remote,
    Selector,
)
from racoon2.errors import SettingsError
from racoon2.ipsec import Action, Direction
from racoon2.net import Address

#: How a macro (MY_IP…) expands on this host; IP_ANY/IP_RW never need it.
Expand = Callable[[str, str | None], Sequence[Address]]


def _no_expand(macro: str, ifname: str | None) -> Sequence[Address]:
    return ()


def address_matches(spec: AddrSpec, addr: Address, expand: Expand = _no_expand) -> bool:
    """Whether ``addr`` is the address ``spec`` names (ports are not compared, as in iked)."""
    if spec.kind is AddrKind.MACRO:
        if spec.text in ("IP_ANY", "IP_RW", "IP_UNSPECIFIED"):
            return True
        return addr in expand(spec.text, spec.ifname)
    if spec.kind is AddrKind.INET and spec.address is not None:
        plen = spec.prefixlen if spec.prefixlen is not None else spec.address.max_prefixlen
        if spec.address.version != addr.version:
            return False
        return addr in ipaddress.ip_network((int(spec.address), plen), strict=False)
    return False


def acceptable_kmp(config: Config, remote: Remote | None) -> tuple[Kmp, ...]:
    """``remote``'s acceptable_kmp, else the default remote's (the first one initiates)."""
    default = config.default_remote
    for r in (remote, default):
        if r is not None and r.acceptable_kmp:
            return r.acceptable_kmp
    return ()


def remotes_for(config: Config, kmp: Kmp) -> Iterable[Remote]:
    """The remotes that accept ``kmp`` (their own acceptable_kmp, else the default's)."""
    default = config.default_remote
    for remote in config.remotes:
        accepted = remote.acceptable_kmp or (default.acceptable_kmp if default else ())
        if kmp in accepted:
            yield remote


def remote_for_address(config: Config, peer: Address, kmp: Kmp = Kmp.IKEV2,
                       expand: Expand = _no_expand) -> Remote | None:
    """The remote whose ``peers_ipaddr`` holds ``peer``: exact addresses before wildcards
    (IP_RW, IP_ANY), configuration order within each; else the default remote."""
    wildcard = None
    for remote in remotes_for(config, kmp):
        for spec in effective(config, remote, kmp).peers_ipaddr:
            if not address_matches(spec, peer, expand):
                continue
            if spec.kind is AddrKind.MACRO and spec.text in ("IP_ANY", "IP_RW",
                                                              "IP_UNSPECIFIED"):
                wildcard = wildcard or remote
            else:
                return remote
    return wildcard or config.default_remote


def remote_for_id(config: Config, id_type: IdType, value: str, kmp: Kmp = Kmp.IKEV2
                  ) -> Remote | None:
    """The first remote whose ``peers_id`` is (``id_type``, ``value``) — the responder's pick
    once IKE_AUTH has told who the initiator is."""
    for remote in remotes_for(config, kmp):
        for ident in effective(config, remote, kmp).peers_id:
            if ident.type is id_type and _same_id(id_type, ident.value, value):
                return remote
    return None


def _same_id(id_type: IdType, configured: str, received: str) -> bool:
    if id_type is IdType.IPADDR:
        try:
            return ipaddress.ip_address(configured) == ipaddress.ip_address(received)
        except ValueError:
            return False
    if id_type in (IdType.FQDN, IdType.EMAIL):
        return configured.rstrip(".").lower() == received.rstrip(".").lower()
    return configured == received


def acquire_selector(config: Config, slid: str | None, src: Address | None = None,
                     dst: Address | None = None) -> Selector | None:
    """The selector an ACQUIRE is for: the one spmd named for its policy (``SLID <policy
    id>``, None when the configuration has no such selector); without a name and given the
    packet's ``src`` and ``dst``, the first selector with a policy whose first src and dst
    cover them (iked does that without spmd; kinkd gives no addresses, so does not guess)."""
    if slid is not None:
        return config.selector(slid)
    if src is None or dst is None:
        return None
    for sel in config.selectors:
        if sel.policy is None or not sel.src or not sel.dst:
            continue
        # prefixes(): the address/prefix, or the prefixes covering a range START-END.
        if any(src in n for n in sel.src[0].prefixes()) and \
                any(dst in n for n in sel.dst[0].prefixes()):
            return sel
    return None


def selectors_of(config: Config, remote: Remote, direction: Direction | None = None
                 ) -> list[Selector]:
    """The auto_ipsec selectors whose policy names ``remote``, optionally of one direction."""
    return [s for s in config.selectors
            if s.policy is not None and s.policy.action is Action.AUTO_IPSEC
            and s.policy.remote_index == remote.name
            and (direction is None or s.direction is direction)]


def initiator_target(config: Config, remote: Remote, kmp: Kmp = Kmp.IKEV2
                     ) -> AddrSpec | None:
    """Where to send the first message: the first numeric or FQDN ``peers_ipaddr``."""
    for spec in effective(config, remote, kmp).peers_ipaddr:
        if spec.kind in (AddrKind.INET, AddrKind.FQDN):
            return spec
    return None


def negotiable(config: Config, policy: Policy, daemon: str) -> tuple[EffectivePolicy, Selector]:
    """``policy`` with the default section applied, and its outbound selector, for iked or
    kinkd (``daemon``) to negotiate: only an ``auto_ipsec`` policy (doc/config.md §6, policy)
    whose outbound selector has src and dst; SettingsError naming the policy otherwise."""
    eff = effective_policy(config, policy)
    if eff.action is not Action.AUTO_IPSEC:
        action = eff.action.value if eff.action else "no action"
        raise SettingsError(f"{policy.where_of('action') or policy.where}: policy "
                            f"{policy.name} is {action}, not auto_ipsec: {daemon} negotiates "
                            "auto_ipsec policies only")
    out = next((s for s in config.selectors
                if s.policy is policy and s.direction is Direction.OUTBOUND), None)
    if out is None or not out.src or not out.dst:
        raise SettingsError(f"{policy.where}: policy {policy.name} has no outbound selector "
                            "with src and dst")
    return eff, out
