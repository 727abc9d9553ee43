"""``spmd -n``: what spmd needs of the selectors and policies it installs, resolver { }, the
spmif addresses and the selectors' ``tagged`` and ``order`` (pure)."""

from __future__ import annotations

from typing import Final

from racoon2.config.model import AddrKind, Config, ConfigWarning
from racoon2.errors import ConfigError
from racoon2.ipsec import Action, Mode


def check_spmd(config: Config, warnings: list[ConfigWarning]) -> None:
    """spmd -n: each selector spmd installs has what its kernel policy needs."""
    # A policy's own checks name the first selector that reaches it when they fail; once it
    # passed they would pass for every other (10,000 selectors usually share a few).
    complete: set[int] = set()
    for sel in config.selectors:
        policy = sel.policy
        if policy is None:
            raise ConfigError(f"selector {sel.name!r} has no policy_index, expected one",
                              sel.where, "spmd installs a selector through its policy")
        if policy.install is False or policy.action in (None, Action.NONE, Action.DISCARD):
            continue
        if not sel.src or not sel.dst:
            raise ConfigError(f"selector {sel.name!r} lacks {'src' if not sel.src else 'dst'}, "
                              "expected both src and dst", sel.where)
        if sel.src[0].kind is AddrKind.MACRO and sel.dst[0].kind is AddrKind.MACRO:
            raise ConfigError(f"selector {sel.name!r} has macros for both src and dst, "
                              "expected a concrete address on at least one side", sel.where)
        for side, addrs in (("src", sel.src), ("dst", sel.dst)):
            if len(addrs) > 1:
                warnings.append(ConfigWarning(sel.where_of(side) or sel.where,
                                              f"spmd uses only the first {side} address"))
        if id(policy) in complete:
            continue
        for name in ("ipsec_mode", "ipsec_level"):
            if getattr(policy, name) is None:
                raise ConfigError(f"policy {policy.name!r} lacks {name}, expected it for spmd "
                                  f"to install selector {sel.name!r}", policy.where)
        if policy.ipsec_mode is Mode.TUNNEL:
            for name in ("my_sa_ipaddr", "peers_sa_ipaddr"):
                addr = getattr(policy, name)
                if addr is None:
                    raise ConfigError(f"tunnel policy {policy.name!r} lacks {name}, expected "
                                      "the tunnel endpoint", policy.where)
                if addr.kind is AddrKind.FQDN:
                    raise ConfigError(f"found host name {addr.text!r} in {name}, expected an "
                                      "address (tunnel endpoints cannot be names)", addr.where)
        if not policy.ipsecs:
            raise ConfigError(f"policy {policy.name!r} lacks ipsec_index, expected the SAs "
                              "that protect its traffic", policy.where)
        complete.add(id(policy))


#: Distinct selector ``order`` values spmd's kernel priorities tell apart (spmd/policies.py).
MAX_ORDER: Final = 7


def check_spmd_resolver_and_tags(config: Config, warnings: list[ConfigWarning]) -> None:
    """What spmd alone reads: resolver { }, spmif TCP addresses, selector tagged and order."""
    res = config.resolver
    if res is not None:
        for spec in res.nameserver:
            if spec.address is None:
                warnings.append(ConfigWarning(spec.where, f"nameserver {spec.text} is not a "
                                              "numeric address, skipped"))
        for spec in res.dns_query:
            if spec.address is None:
                warnings.append(ConfigWarning(spec.where, f"dns_query {spec.text} is not a "
                                              "numeric address, skipped"))
            elif res.resolver and not spec.address.is_loopback:
                warnings.append(ConfigWarning(spec.where, f"dns_query {spec.address} relays "
                                              "DNS for anyone who reaches it; prefer "
                                              "127.0.0.1 or ::1"))
        if res.resolver and not any(s.address for s in res.nameserver):
            raise ConfigError("found resolver on without a numeric nameserver, expected "
                              "nameserver ADDRESS;", res.where_of("resolver") or res.where,
                              "the DNS proxy forwards queries to it")
        if res.resolver and not any(s.address for s in res.dns_query):
            warnings.append(ConfigWarning(res.where_of("resolver") or res.where,
                                          "resolver on without a numeric dns_query: the DNS "
                                          "proxy has nowhere to listen"))
    for spec in config.interface.spmd if config.interface else ():
        if spec.kind is AddrKind.MACRO:
            warnings.append(ConfigWarning(spec.where, f"spmd {spec.text}: spmif cannot listen "
                                          "on a macro, skipped; give an address"))
        elif spec.address is not None and not spec.address.is_loopback:
            warnings.append(ConfigWarning(spec.where, f"spmif over TCP on {spec.address} is "
                                          "clear text guarded only by the password; use "
                                          "127.0.0.1 or ::1"))
    for sel in config.selectors:
        if sel.tagged is not None:
            raise ConfigError(f"found tagged {sel.tagged!r}, expected no pf tag: Linux XFRM "
                              "policies cannot match BSD pf tags (an XFRM mark is not the "
                              "same), and without the tag the policy would cover more traffic",
                              sel.where_of("tagged") or sel.where,
                              "remove tagged and narrow the selector with src, dst and "
                              "upper_layer_protocol")
        if sel.order is not None and sel.order > MAX_ORDER:
            warnings.append(ConfigWarning(sel.where_of("order") or sel.where,
                                          f"order {sel.order} ranks like {MAX_ORDER}: spmd "
                                          f"tells orders 0 to {MAX_ORDER} apart"))
