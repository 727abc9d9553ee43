"""Daemon logging: syslog (facility daemon) by default, stdout in the foreground, a file, or
the systemd journal.

One line per event.  Lines to stdout or a file carry a local timestamp, as the original's did;
syslog adds its own.  Under systemd (``JOURNAL_STREAM`` names our stderr, systemd.exec(5))
each line goes to journald's native socket with PRIORITY and SYSLOG_IDENTIFIER and the fields
the log call knows (:func:`fields`: IKE_SA=, PEER=, CHILD_SA=), so that ``journalctl -u iked
-p warning`` and ``journalctl -u iked IKE_SA=…`` select them.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import os
import socket
import struct
import sys
import types
from collections.abc import Iterator, Mapping

from racoon2 import sdnotify

FORMAT = "%(asctime)s [%(levelname)s]: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
SYSLOG = "/dev/log"
JOURNAL_SOCKET = "/run/systemd/journal/socket"

#: syslog(3) priorities of the logging levels (journald's PRIORITY=).
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
              logging.DEBUG: 7}

_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "journal_fields", default=types.MappingProxyType({}))
#: Where logging finds a record's caller (file and line): looked up only for the journal.
_SRCFILE = logging._srcfile
_journal = False


def journal_active() -> bool:
    """Whether records go to the journal, the only reader of :func:`fields` (callers skip
    working out the fields otherwise)."""
    return _journal


def _journal_records(on: bool) -> None:
    # The logging HOWTO's "Optimization": every record walks the stack for its caller's file,
    # line and function and notes its thread and process.  Only the journal's CODE_FILE=,
    # CODE_LINE= and CODE_FUNC= read any of it; the other formats spare each line the work.
    global _journal
    _journal = on
    logging._srcfile = _SRCFILE if on else None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = on


@contextlib.contextmanager
def fields(**values: str | None) -> Iterator[None]:
    """Journal fields (upper-case names, e.g. ``IKE_SA``) for the lines logged inside;
    None values are left out.  Other handlers ignore them."""
    token = _fields.set({**_fields.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def journal_stream(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """Whether ``fd`` is the stream systemd connected to the journal: ``JOURNAL_STREAM`` is
    its ``st_dev:st_ino`` (a redirected stderr no longer matches)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return value == f"{st.st_dev}:{st.st_ino}"


class JournalHandler(logging.Handler):
    """Records to journald's native protocol: one datagram of fields per record."""

    def __init__(self, ident: str, path: str = JOURNAL_SOCKET) -> None:
        super().__init__()
        self.ident = ident
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` (a failure goes to :meth:`handleError`, as other handlers')."""
        try:
            values = {"MESSAGE": self.format(record),
                      "PRIORITY": str(PRIORITIES.get(record.levelno, 6)),
                      "SYSLOG_IDENTIFIER": self.ident, "CODE_FILE": record.pathname,
                      "CODE_LINE": str(record.lineno), "CODE_FUNC": record.funcName,
                      **_fields.get()}
            self.sock.sendto(encode(values), self.path)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
        super().close()


def encode(values: Mapping[str, str]) -> bytes:
    """The native protocol's datagram: ``NAME=value`` lines, and a value with a newline as
    NAME, newline, its length as 64-bit little-endian, the value, newline (systemd's
    "Native Journal Protocol")."""
    out = bytearray()
    for name, value in values.items():
        data = value.encode(errors="replace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


class StampFormatter(logging.Formatter):
    """A formatter whose time stamp of whole seconds (a ``datefmt`` such as :data:`DATEFMT`)
    is formatted once per second: a busy responder logs a few lines per SA, thousands a
    second."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as ``datefmt`` (or the default, with milliseconds) gives it."""
        if datefmt is None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, super().formatTime(record, datefmt))
        return self._second[1]


def setup(ident: str, *, foreground: bool = False, debug: bool = False,
          logfile: str | None = None) -> logging.Logger:
    """Configure the root logger for daemon ``ident``; returns the daemon's logger.

    Under a service manager (:mod:`racoon2.sdnotify`) the daemon stays in the foreground and
    logs as there: to the journal when stderr is its stream, else to stdout."""
    foreground = foreground or sdnotify.current().enabled
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    stamped = StampFormatter(FORMAT, DATEFMT)
    if logfile is not None:
        file_handler = logging.FileHandler(logfile)
        file_handler.setFormatter(stamped)
        root.addHandler(file_handler)
    elif journal_stream() and os.path.exists(JOURNAL_SOCKET):
        # journald stamps and prioritises each line itself: the message alone.
        root.addHandler(JournalHandler(ident))
        _journal_records(True)
        return logging.getLogger(ident)
    elif os.path.exists(SYSLOG) and not foreground:
        syslog = logging.handlers.SysLogHandler(SYSLOG, logging.handlers.SysLogHandler.LOG_DAEMON)
        syslog.setFormatter(logging.Formatter(f"{ident}[{os.getpid()}]: [%(levelname)s]: "
                                              "%(message)s"))
        root.addHandler(syslog)
    if foreground or (logfile is None and not os.path.exists(SYSLOG)):
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(stamped)
        root.addHandler(stream)
    _journal_records(False)
    return logging.getLogger(ident)
