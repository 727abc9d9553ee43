"""What the per-daemon checks share: secret files, the selectors a daemon negotiates, the
kmp blocks (pure but for the file checks: -n looks at the files the configuration names).

Secret files are checked as the daemon would: regular, owned by the running user, mode 0600.
One that does not exist yet is a warning (a configuration is often checked before its keys are
deployed); the daemon itself refuses to start without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from racoon2.config.effective import policy as effective_policy
from racoon2.config.files import check_safe_file, exists, read_secret
from racoon2.config.model import INFINITE, Config, ConfigWarning, Kmp, KmpBlock, Remote, Selector
from racoon2.errors import ConfigError
from racoon2.ipsec import Action

#: Adds a warning at ``file:line``; None (the directive is not written) adds nothing.
Warn = Callable[[str | None, str], None]


def secret(path: str, where: str | None, warnings: list[ConfigWarning],
            what: str = "key file") -> None:
    """A secret file must be safe (0600, ours); one not made yet is only a warning here."""
    if not exists(path):
        warnings.append(ConfigWarning(where or path, f"{what} {path} does not exist yet; "
                                      f"create it with: pskgen -r -o {path}"))
        return
    read_secret(path, where)


def key_file(path: str, where: str | None, warnings: list[ConfigWarning], what: str, *,
             private: bool) -> None:
    """A certificate or key file must be safe (ours; 0600 if ``private``); one not deployed
    yet is only a warning here, as for :func:`secret`."""
    if not exists(path):
        warnings.append(ConfigWarning(where or path, f"{what} file {path} does not exist yet; "
                                      "deploy it before iked negotiates with it"))
        return
    check_safe_file(path, secret=private, where=where)


def selectors_of(config: Config, kmp: Kmp | None) -> Iterable[tuple[Selector, Remote | None]]:
    """The selectors iked (``kmp``: of remotes that accept it) or kinkd negotiate: those of an
    auto_ipsec policy, ``default { policy { } }`` applied."""
    for sel in config.selectors:
        policy = sel.policy
        if policy is None or effective_policy(config, policy).action is not Action.AUTO_IPSEC:
            continue
        remote = policy.remote
        if kmp is not None and kmp not in acceptable(config, remote):
            continue
        yield sel, remote


def acceptable(config: Config, remote: Remote | None) -> tuple[Kmp, ...]:
    """``remote``'s acceptable_kmp, else the default remote's."""
    for r in (remote, config.default_remote):
        if r is not None and r.acceptable_kmp:
            return r.acceptable_kmp
    return ()


def kmp_blocks(config: Config) -> Iterable[tuple[Remote, Kmp, KmpBlock]]:
    """Every written ikev1/ikev2/kink block, the default remote's last."""
    default = config.default_remote
    for remote in (*config.remotes, *((default,) if default else ())):
        for kmp in Kmp:
            block = remote.block(kmp)
            if block is not None:
                yield remote, kmp, block


#: Time and size directives for which ``infinite`` (or 0) has no meaning.
_FINITE: Final = ("interval_to_send", "nonce_size", "dpd_retry")


def check_measures(config: Config) -> None:
    """``infinite`` is no limit for lifetimes and time limits; elsewhere it is refused."""
    for _, kmp, block in kmp_blocks(config):
        for name in _FINITE:
            value = getattr(block, name, None)
            if value is INFINITE or (name == "interval_to_send" and value == 0):
                kind = "size" if name == "nonce_size" else "time"
                raise ConfigError(f"found {name} {'infinite' if value else 0}, expected a "
                                  f"positive {kind} in {kmp.value}",
                                  block.where_of(name) or block.where)


def require_sockets(config: Config, kind: str, daemon: str, hint: str) -> None:
    """iked and kinkd bind only their ``interface { ike|kink … }`` addresses, as the original
    (doc/iked.md, doc/kinkd.md): without any the daemon cannot start, so -n says so rather
    than promise a wildcard socket."""
    iface = config.interface
    if iface is None or not getattr(iface, kind):
        raise ConfigError(f"found no 'interface {{ {kind} … }}', expected the addresses "
                          f"{daemon} listens on", iface.where if iface else config.file,
                          f"add {hint} to the interface section")
