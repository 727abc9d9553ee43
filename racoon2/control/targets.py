"""What ``initiate TARGET`` names (pure), for ikedctl and kinkdctl alike: a selector, a
remote (its first selector), or an address in a remote's ``peers_ipaddr``."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from racoon2.config.model import Config, Kmp
from racoon2.errors import ControlError
from racoon2.net import Address

#: iked's blocks of a remote (its ``peers_ipaddr``); kinkd passes ``(Kmp.KINK,)``.
IKE = (Kmp.IKEV2, Kmp.IKEV1)


def peer_selector(config: Config, addr: Address | None, remote: str | None = None,
                  kmps: Sequence[Kmp] = IKE) -> str:
    """The first selector whose policy's remote is ``remote``, or has ``addr`` in the
    ``peers_ipaddr`` of its ``kmps`` blocks (iked -I, ikedctl initiate); ControlError when
    none."""
    for sel in config.selectors:
        policy = sel.policy
        if policy is None or policy.remote_index is None:
            continue
        if policy.remote_index == remote:
            return sel.name
        r = config.remote(policy.remote_index)
        blocks = [r.block(k) for k in kmps] if r else []
        if addr is not None and any(p.address == addr for b in blocks if b is not None
                                    for p in b.peers_ipaddr or ()):
            return sel.name
    raise ControlError(f"no selector for {remote or addr} in {config.file}")


def initiate_target(config: Config, target: str, kmps: Sequence[Kmp] = IKE
                    ) -> tuple[str, Address | None]:
    """What ``initiate TARGET`` starts: (selector, peer address or None)."""
    if config.selector(target) is not None:
        return target, None
    try:
        addr: Address | None = ipaddress.ip_address(target)
    except ValueError:
        addr = None
    try:
        return peer_selector(config, addr, None if addr else target, kmps), addr
    except ControlError:
        raise ControlError(f"no selector, remote or peers_ipaddr {target!r} in "
                           f"{config.file}") from None
