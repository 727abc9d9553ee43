"""What every daemon does around its main loop: detach, pid file, signals into the loop, and
what iked and kinkd share inside it: their sockets, spmd's name for an ACQUIRE, SIGHUP's
rereading of the configuration."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from racoon2 import sdnotify
from racoon2.addrwatch import AddressWatch
from racoon2.confcache import load_cached, load_checked
from racoon2.config import Config
from racoon2.errors import Racoon2Error
from racoon2.kernel import api
from racoon2.net import Endpoint, HostAddresses

if TYPE_CHECKING:  # iked's and kinkd's: spmd's start does not import them
    from racoon2 import udp
    from racoon2.spmif.client import Spmd


class PidFileError(Racoon2Error):
    """The pid file is locked by a running instance, or cannot be written."""


@contextlib.contextmanager
def pid_file(path: str) -> Iterator[None]:
    """Hold ``path`` locked with our pid in it; refuse when another instance holds it."""
    try:
        # /run/racoon2 (racoon2.paths' fhs layout) is on a tmpfs: gone after each boot.
        os.makedirs(os.path.dirname(path) or ".", 0o755, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise PidFileError(f"{path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise PidFileError(f"already running? <pid={other}> holds {path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def daemonize() -> None:
    """Detach from the terminal like daemon(0, 0): new session, cwd /, stdio on /dev/null."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    sys.stdout = open(os.devnull, "w")  # lives as long as the process
    sys.stderr = sys.stdout


def on_signals(loop: asyncio.AbstractEventLoop,
               handlers: dict[signal.Signals, Callable[[], object]]) -> None:
    """Run each handler in the loop when its signal arrives."""
    for sig, handler in handlers.items():
        loop.add_signal_handler(sig, handler)


def read_pid(path: str) -> int | None:
    """The pid in a pid file, None when absent or unreadable."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_pid(path: str, unit: str) -> int | None:
    """The pid of the running daemon: its pid file's, else the main PID of its systemd
    ``unit`` (a daemon under a service manager writes no pid file, as in the foreground);
    None when neither knows one."""
    pid = read_pid(path)
    if pid is not None:
        return pid
    try:
        out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                             capture_output=True, text=True, timeout=10, check=False).stdout
        pid = int(out.strip() or 0)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return pid or None  # 0: the unit is not running


def run_daemon(name: str, config_path: str,
               main: Callable[[Config], Coroutine[Any, Any, int]], *, foreground: bool,
               pid_path: str, defer_save: bool = False) -> int:
    """Load and check the configuration as daemon ``name`` reads it, detach unless
    ``foreground``, hold the pid file and run ``main(config)`` to its end: the exit status
    (1 when the daemon cannot start).

    Under a service manager (``NOTIFY_SOCKET``, :mod:`racoon2.sdnotify`) the daemon stays in
    the foreground without a pid file (the manager knows its pid), and the watchdog pings
    from the event loop while ``main`` runs; ``main`` sends READY=1 itself when it serves.
    ``defer_save``: a new cache entry is left to ``main``'s :func:`racoon2.confcache.save`.
    """
    log = logging.getLogger(name)
    notifier = sdnotify.current()
    foreground = foreground or notifier.enabled
    try:
        config, warnings = load_checked(config_path, name, freeze=True,
                                         background=True, defer=defer_save)
        for warning in warnings:
            log.warning("%s", warning)
    except Racoon2Error as e:
        log.error("%s", e)
        if not foreground:
            print(e, file=sys.stderr)  # syslog may be all the admin watches: say it here too
        return 1
    if not foreground:
        daemonize()
    try:
        with contextlib.ExitStack() as stack:
            if not foreground:
                stack.enter_context(pid_file(pid_path))
            return asyncio.run(_watched(main(config), notifier))
    except PidFileError as e:
        log.error("%s %s", name, e)
        return 1
    except Racoon2Error as e:
        log.error("%s", e)
        return 1


async def _watched(main: Coroutine[Any, Any, int], notifier: sdnotify.Notifier) -> int:
    watchdog = asyncio.create_task(notifier.watchdog())
    try:
        return await main
    finally:
        watchdog.cancel()
        notifier.stopping()  # also when main failed to start: the manager is told at once


def application_bypass(config: Config) -> bool:
    """Whether the daemon's sockets get their own bypass policies (``interface {
    application_bypass off; }`` says no)."""
    iface = config.interface
    return not (iface is not None and iface.application_bypass is False)


async def open_sockets(sockets: udp.Sockets, watch: AddressWatch | None,
                       wanted: Callable[[HostAddresses], list[Endpoint]], section: str,
                       logger: logging.Logger) -> AddressWatch:
    """Bind every endpoint of ``interface <section>`` with this host's addresses now (``watch``
    follows them; opened when None, and returned); :class:`Racoon2Error` when none binds."""
    if watch is None:
        watch = await AddressWatch.open()
    await sync_sockets(sockets, watch, wanted, section, logger)
    if not sockets.bound:
        raise Racoon2Error(f"no {section.upper()} socket could be opened",
                           hint=f"check the interface {section} addresses in racoon2.conf")
    return watch


async def sync_sockets(sockets: udp.Sockets, watch: AddressWatch,
                       wanted: Callable[[HostAddresses], list[Endpoint]], section: str,
                       logger: logging.Logger) -> None:
    """Open the sockets ``wanted`` names with this host's addresses and close the others (a
    changed ``interface <section>`` after SIGHUP), one log line each."""
    opened, closed = await sockets.sync(wanted(watch.current))
    for ep in opened:
        logger.info("listening on %s", ep)
    for ep in closed:
        logger.info("closed %s: no longer in interface %s", ep, section)


async def acquire_slid(spmif: Spmd | None, policy_index: int,
                       logger: logging.Logger) -> str | None:
    """spmd's name for the selector of the kernel policy an ACQUIRE comes from (``SLID``):
    None without spmd, or when spmd cannot say (logged)."""
    if spmif is None:
        return None
    try:
        return await spmif.slid(policy_index)
    except Racoon2Error as e:
        logger.warning("spmd cannot name policy %d: %s", policy_index, e)
        return None


def reload_config(config: Config, logger: logging.Logger) -> Config | None:
    """SIGHUP: ``config``'s file read again; None when it does not load (logged as ``reload
    refused: FILE:LINE: found X, expected Y``) and the daemon keeps the one it runs."""
    try:
        return load_cached(config.file, background=True)
    except Racoon2Error as e:
        logger.error("reload refused: %s; still running the previous configuration", e)
        return None


async def remove_own_sas(kernel: api.KernelBackend, owner: api.Owner, why: str,
                         log: logging.Logger, spare: Collection[api.SaKey] = ()) -> None:
    """Delete every kernel SA that ``owner`` installed (:func:`racoon2.kernel.api.owned_sas`)
    but those in ``spare``, one log line: at start the SAs of a daemon that died without its
    shutdown (``kill -9``, a crash) belong to no SA of the new one (iked's restored SAs
    excepted), and at stop those its Deletes left."""
    try:
        keys = [k for k in api.owned_sas(await kernel.dump_sas(), owner) if k not in spare]
    except Racoon2Error as e:
        log.warning("cannot list the kernel's SAs: %s", e)
        return
    for key in keys:
        with contextlib.suppress(Racoon2Error):  # gone meanwhile: fine
            await kernel.del_sa(key)
    if keys:
        log.info("removed %d %s kernel SA(s) of %s", len(keys), why, owner.name.lower())
