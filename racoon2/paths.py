"""Where the daemons look by default: the configuration, pid files, saved state.

Two layouts (README, "Installation"):

``local``
    the original's ``make install``: /usr/local/etc/racoon2, pid files and state in /var/run.
    What a pip or source install (into /usr/local or a virtualenv) gets.
``fhs``
    a distribution package's (Debian policy, FHS 3.0): /etc/racoon2, /run/racoon2 and
    /var/lib/racoon2.  What the code gets when it is installed under /usr/lib (dpkg's
    dist-packages).

``RACOON2_LAYOUT=local|fhs`` in the environment chooses either.  Under systemd the unit's
``RuntimeDirectory=`` and ``StateDirectory=`` (``$RUNTIME_DIRECTORY``, ``$STATE_DIRECTORY``,
systemd.exec(5)) take precedence for pid files and state.  A path given on the command line
or in racoon2.conf always wins: an existing installation's explicit paths work unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import racoon2


@dataclass(frozen=True, slots=True)
class Layout:
    """One layout's directories and files."""

    name: str
    confdir: str
    #: pid files of detached daemons
    rundir: str
    #: what must survive a restart of the daemon: iked's --keep-sas state, kinkd's replay cache
    iked_state: str
    kinkd_replay: str

    @property
    def config(self) -> str:
        """The default racoon2.conf."""
        return f"{self.confdir}/racoon2.conf"

    def pid_file(self, daemon: str) -> str:
        """The pid file of a detached ``daemon``."""
        return f"{self.rundir}/{daemon}.pid"


LOCAL = Layout("local", "/usr/local/etc/racoon2", "/var/run", "/var/run/racoon2/iked.state",
               "/var/run/kinkd.rc")
FHS = Layout("fhs", "/etc/racoon2", "/run/racoon2", "/var/lib/racoon2/iked.state",
             "/var/lib/racoon2/kinkd.rc")
LAYOUTS = {layout.name: layout for layout in (LOCAL, FHS)}


def detect(environ: Mapping[str, str] | None = None,
           package_dir: str | None = None) -> Layout:
    """The layout of this installation (module docstring); ``package_dir`` is where the
    racoon2 package lives."""
    env = os.environ if environ is None else environ
    here = package_dir if package_dir is not None else os.path.dirname(racoon2.__file__)
    chosen = env.get("RACOON2_LAYOUT")
    if chosen in LAYOUTS:
        layout = LAYOUTS[chosen]
    else:
        layout = FHS if here.startswith("/usr/lib/") else LOCAL
    # Several RuntimeDirectory= (or StateDirectory=) are joined with ':': ours is the first.
    if rundir := env.get("RUNTIME_DIRECTORY", "").split(":")[0]:
        layout = dataclasses.replace(layout, rundir=rundir)
    if statedir := env.get("STATE_DIRECTORY", "").split(":")[0]:
        layout = dataclasses.replace(layout, iked_state=f"{statedir}/iked.state",
                                     kinkd_replay=f"{statedir}/kinkd.rc")
    return layout


#: This process's layout (read once: click's option defaults are fixed at import).
LAYOUT = detect()
