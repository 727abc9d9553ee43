"""Daemon logging: syslog (facility daemon) by default, stdout in the foreground, or a file.

One line per event.  Lines to stdout or a file carry a local timestamp, as the original's did;
syslog adds its own.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

FORMAT = "%(asctime)s [%(levelname)s]: %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"
SYSLOG = "/dev/log"


def setup(ident: str, *, foreground: bool = False, debug: bool = False,
          logfile: str | None = None) -> logging.Logger:
    """Configure the root logger for daemon ``ident``; returns the daemon's logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    stamped = logging.Formatter(FORMAT, DATEFMT)
    if logfile is not None:
        file_handler = logging.FileHandler(logfile)
        file_handler.setFormatter(stamped)
        root.addHandler(file_handler)
    elif os.path.exists(SYSLOG) and not foreground:
        syslog = logging.handlers.SysLogHandler(SYSLOG, logging.handlers.SysLogHandler.LOG_DAEMON)
        syslog.setFormatter(logging.Formatter(f"{ident}[{os.getpid()}]: [%(levelname)s]: "
                                              "%(message)s"))
        root.addHandler(syslog)
    if foreground or (logfile is None and not os.path.exists(SYSLOG)):
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(stamped)
        root.addHandler(stream)
    return logging.getLogger(ident)

