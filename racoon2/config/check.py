"""Per-daemon checks of a loaded configuration: what ``iked -n``, ``spmd -n``, ``kinkd -n`` do.

``check_config`` raises :class:`ConfigError` (``file:line:``) for what would stop the daemon or
make it fail later in an obscure way, and returns warnings for what it will run with but ignore.
The checks of one daemon are in :mod:`~racoon2.config.check_spmd`,
:mod:`~racoon2.config.check_iked` and :mod:`~racoon2.config.check_kinkd`; what they share
(secret files among them) in :mod:`~racoon2.config.check_common`.
"""

from __future__ import annotations

from typing import Final

from racoon2.config.check_common import secret
from racoon2.config.check_iked import check_iked, iked_unread
from racoon2.config.check_kinkd import check_kinkd, kinkd_unread
from racoon2.config.check_spmd import check_spmd, check_spmd_resolver_and_tags
from racoon2.config.model import Config, ConfigWarning
from racoon2.errors import ConfigError
from racoon2.ipsec import Action

DAEMONS: Final = ("spmd", "iked", "kinkd", "spmdctl")


def check_config(config: Config, daemon: str) -> list[ConfigWarning]:
    """Check ``config`` as ``daemon`` reads it; raises ConfigError, returns warnings."""
    if daemon not in DAEMONS:
        raise ValueError(f"unknown daemon {daemon!r}")
    warnings: list[ConfigWarning] = list(config.notes)
    _check_spmif(config, daemon, warnings)
    _check_unused_directives(config, daemon, warnings)
    _check_unread(config, daemon, warnings)
    if daemon == "spmd":
        check_spmd(config, warnings)
        check_spmd_resolver_and_tags(config, warnings)
    elif daemon == "iked":
        check_iked(config, warnings)
    elif daemon == "kinkd":
        check_kinkd(config, warnings)
    return warnings


def _check_spmif(config: Config, daemon: str, warnings: list[ConfigWarning]) -> None:
    iface = config.interface
    where = iface.where if iface else config.file
    if iface is None or not iface.spmd:
        if daemon == "spmd":
            raise ConfigError("found no 'interface { spmd … }', expected where spmd listens",
                              where, 'add spmd { unix "/var/run/racoon2/spmif"; };')
        return
    if iface.spmd_password is None:
        raise ConfigError("found no spmd_password, expected the spmif password file", where,
                          "create one with: pskgen -r -o /usr/local/etc/racoon2/spmd.pwd")
    secret(iface.spmd_password, iface.where_of("spmd_password"), warnings,
            "spmif password file")


def _check_unused_directives(config: Config, daemon: str,
                             warnings: list[ConfigWarning]) -> None:
    """Directives no daemon acts on (the original parsed and dropped them too)."""
    if daemon == "spmdctl":
        return
    for remote in (*config.remotes, *((config.default_remote,) if config.default_remote else ())):
        if (at := remote.where_of("selector_index")) is not None:
            warnings.append(ConfigWarning(at, "selector_index in a remote is never used (the "
                                              "original never read it either); remove it"))
    for sel in config.selectors:
        if (at := sel.where_of("next_header_including")) is not None:
            warnings.append(ConfigWarning(at, "next_header_including (Mobile IPv6 extension "
                                              "headers) is not supported, ignored: the policy "
                                              "matches on src, dst and upper_layer_protocol"))


def _check_unread(config: Config, daemon: str, warnings: list[ConfigWarning]) -> None:
    """Directives accepted that no code of ``daemon`` reads, found by doc/config.md §6."""
    def warn(at: str | None, message: str) -> None:
        if at is not None:
            warnings.append(ConfigWarning(at, message))

    if daemon == "spmdctl":
        return
    for sa in config.sas:
        warn(sa.where_of("spi"), "spi is not used: no daemon installs manually keyed SAs")
    for policy in {s.policy.name: s.policy for s in config.selectors if s.policy}.values():
        if policy.action is Action.STATIC_IPSEC:
            warn(policy.where_of("action"), f"policy {policy.name!r} is static_ipsec: no daemon "
                 "installs manually keyed SAs: spmd installs its kernel policy, iked and kinkd "
                 "negotiate auto_ipsec policies only, so its traffic finds no SA; write "
                 "auto_ipsec")
    if daemon == "iked":
        iked_unread(config, warn)
    elif daemon == "kinkd":
        kinkd_unread(config, warn)
