"""``kinkd -n``: kinkd's own principal, its sockets, and the kink directives it never reads."""

from __future__ import annotations

from typing import Final

from racoon2.config.check_common import (
    Warn,
    check_measures,
    kmp_blocks,
    require_sockets,
    selectors_of,
)
from racoon2.config.model import Config, ConfigWarning, Kmp, SaProtocol
from racoon2.errors import ConfigError


def check_kinkd(config: Config, warnings: list[ConfigWarning]) -> None:
    """kinkd -n: its own principal, the kink blocks' measures, its sockets."""
    default = config.default_remote
    kink = default.kink if default else None
    if kink is None or kink.my_principal is None:
        raise ConfigError("found no my_principal in default { remote { kink { … } } }, "
                          "expected kinkd's own principal", config.default.where
                          if config.default else config.file,
                          'add my_principal "kink/host.example.com@EXAMPLE.COM";')
    for remote in config.remotes:
        if remote.kink is not None and (at := remote.kink.where_of("my_principal")):
            warnings.append(ConfigWarning(at, "kinkd reads my_principal only from the default "
                                              "remote; this one is ignored"))
    check_measures(config)
    _check_kink_unused(config, warnings)
    require_sockets(config, "kink", "kinkd", "kink { MY_IP; };")


#: Directives of a kink block that kinkd reads nowhere, as the original (doc/config.md §6).
KINK_IGNORED: Final = ("times_per_send", "verify_id")


def _check_kink_unused(config: Config, warnings: list[ConfigWarning]) -> None:
    for _, kmp, block in kmp_blocks(config):
        for name in KINK_IGNORED if kmp is Kmp.KINK else ():
            if (at := block.where_of(name)) is not None:
                warnings.append(ConfigWarning(at, f"{name} is not used by kinkd, ignored"
                                              + (" (the peer is known by its principal)"
                                                 if name == "verify_id" else "")))


#: What kinkd reads of a kink block (kinkd/settings.py); the rest is parsed and dropped.
KINK_READ: Final = ("passive", "peers_ipaddr", "peers_kmp_port", "nonce_size",
                    "interval_to_send", "max_retry_to_send", "proposal_check", "my_principal",
                    "peers_principal", *KINK_IGNORED)


def kinkd_unread(config: Config, warn: Warn) -> None:
    """kinkd -n: kink directives kinkd never reads, and what KINK does not negotiate."""
    for _, kmp, block in kmp_blocks(config):
        for name in dict(block.at) if kmp is Kmp.KINK else ():
            if name not in KINK_READ:
                warn(block.where_of(name), f"{name} is not used by kinkd, ignored")
    default = config.default.ipsec if config.default else None
    if default is not None and next(iter(selectors_of(config, Kmp.KINK)), None) is not None:
        warn(default.where_of("ext_sequence"), "ext_sequence is not negotiated by kinkd, ignored")
    seen: set[str] = set()
    for sel, _ in selectors_of(config, Kmp.KINK):
        for ipsec in sel.policy.ipsecs if sel.policy else ():
            if ipsec.name in seen:
                continue
            seen.add(ipsec.name)
            warn(ipsec.where_of("ext_sequence"), "ext_sequence is not negotiated by kinkd, ignored")
            for sa in ipsec.sas:
                if sa.sa_protocol is not SaProtocol.ESP and sa.sa_protocol is not None:
                    warn(ipsec.where_of("sa_index") or ipsec.where, f"kinkd keys ESP only (RFC "
                         f"4430): it negotiates no {sa.sa_protocol.value} SA for sa {sa.name!r}")
