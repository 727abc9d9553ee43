"""The service manager's notification protocol (sd_notify(3)): READY, STATUS, RELOADING,
STOPPING and the watchdog, one AF_UNIX datagram each, to the socket ``NOTIFY_SOCKET`` names.

Nothing here needs libsystemd: the protocol is one ``KEY=value`` line per field in a datagram
(systemd's docs, "sd_notify").  Without ``NOTIFY_SOCKET`` every call does nothing, so the
daemons call it unconditionally.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import MutableMapping

log = logging.getLogger("racoon2")

#: The variables the protocol reads; removed from the environment once read, as
#: sd_notify(unset_environment=1) does, so that hook scripts do not inherit them.
VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Notifications to one service manager socket (or none: ``path`` None)."""

    def __init__(self, path: str | None, watchdog_usec: int | None = None) -> None:
        self.path = path
        #: How often :meth:`watchdog` pings, in seconds: half of WatchdogSec= (the margin
        #: sd_watchdog_enabled(3) recommends); None without a watchdog.
        self.watchdog_interval = watchdog_usec / 2e6 if watchdog_usec else None
        self._sock: socket.socket | None = None
        self._status: str | None = None
        self._stopping = False

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None,
                     pid: int | None = None) -> Notifier:
        """The notifier the environment describes; the variables are removed from it.

        ``WATCHDOG_PID``, when set, names the process the watchdog is for: another process
        (a child that inherited the variables) gets no watchdog.
        """
        env = os.environ if environ is None else environ
        values = {name: env.pop(name, None) for name in VARIABLES}
        path = values["NOTIFY_SOCKET"] or None
        usec = _positive(values["WATCHDOG_USEC"])
        wd_pid = values["WATCHDOG_PID"]
        if wd_pid is not None and _positive(wd_pid) != (os.getpid() if pid is None else pid):
            usec = None
        return cls(path, usec)

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens (the daemons then stay in the foreground)."""
        return self.path is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; False when not sent (logged at debug
        level: a manager that went away must not stop the daemon)."""
        if self.path is None:
            return False
        # A leading '@' names an address in the abstract namespace (unix(7)).
        address = "\0" + self.path[1:] if self.path.startswith("@") else self.path
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode() + b"\n", address)
        except OSError as e:
            log.debug("cannot notify %s: %s", self.path, e)
            return False
        return True

    def ready(self, status: str | None = None) -> None:
        """Start-up (or a reload) is complete."""
        self._status = status if status is not None else self._status
        self.send("READY=1", *([f"STATUS={status}"] if status is not None else []))

    def status(self, text: str) -> None:
        """``systemctl status``'s one line; sent only when it changes."""
        if text != self._status:
            self._status = text
            self.send(f"STATUS={text}")

    def reloading(self) -> None:
        """A reload begins; :meth:`ready` ends it.  MONOTONIC_USEC is what systemd 253's
        Type=notify-reload requires with RELOADING=1; older managers ignore the field."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        """Shutdown begins (sent once: the daemon's shutdown and run_daemon's end both say
        so)."""
        if not self._stopping:
            self._stopping = self.send("STOPPING=1")

    async def watchdog(self) -> None:
        """Ping the watchdog at :attr:`watchdog_interval` until cancelled.  It runs in the
        event loop on purpose: a loop that no longer turns stops pinging and the manager
        restarts the daemon (WatchdogSec=)."""
        if self.path is None or self.watchdog_interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)

    def close(self) -> None:
        """Close the socket (a later send opens it again)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _positive(text: str | None) -> int | None:
    if text is None or not text.isdigit() or int(text) == 0:
        return None
    return int(text)


_current: Notifier | None = None


def current() -> Notifier:
    """This process's notifier, read from the environment at the first call."""
    global _current
    if _current is None:
        _current = Notifier.from_environ()
    return _current
