"""What every daemon does around its main loop: detach, pid file, signals into the loop."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from racoon2.config import Config, load_config
from racoon2.config.check import check_config
from racoon2.errors import Racoon2Error


class PidFileError(Racoon2Error):
    """The pid file is locked by a running instance, or cannot be written."""


@contextlib.contextmanager
def pid_file(path: str) -> Iterator[None]:
    """Hold ``path`` locked with our pid in it; refuse when another instance holds it."""
    try:
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


def run_daemon(name: str, config_path: str,
               main: Callable[[Config], Coroutine[Any, Any, int]], *, foreground: bool,
               pid_path: str) -> int:
    """Load and check the configuration as daemon ``name`` reads it, detach unless
    ``foreground``, hold the pid file and run ``main(config)`` to its end: the exit status
    (1 when the daemon cannot start)."""
    log = logging.getLogger(name)
    try:
        config = load_config(config_path)
        for warning in check_config(config, name):
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
            return asyncio.run(main(config))
    except PidFileError as e:
        log.error("%s %s", name, e)
        return 1
    except Racoon2Error as e:
        log.error("%s", e)
        return 1
