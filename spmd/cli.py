"""spmd's command line (doc/spmd.md), plus -n (check) and --keep-policies.

    spmd [-dhFVkn] [-f config] [-D level] [--keep-policies]
"""

from __future__ import annotations

import os
import signal
import sys

import click

from racoon2 import cli, log
from racoon2.daemon import running_pid
from racoon2.paths import LAYOUT

PID_FILE = LAYOUT.pid_file("spmd")
INFO_LEVEL = 7  # the original's default log level; 8 and up is debug
USAGE = """\
usage: spmd [-dhFVkn] [-f config] [-D level] [--keep-policies]
  -f specify the configuration file.
  -F run in the foreground.
  -d increase the debug level.
  -D specify the debug level (added to the current one).
  -k kill the running spmd.
  -n check the configuration file and exit.
  -V show the version.
  -h show this help.
  --keep-policies leave the installed policies in the kernel on exit.
"""


@click.command(add_help_option=False)
@click.option("-f", "--config-file", "config", default=cli.DEFAULT_CONFIG)
@click.option("-F", "--foreground", is_flag=True)
@click.option("-d", "--debug", "debug", count=True)
@click.option("-D", "--DEBUG", "debug_add", type=int, default=0)
@click.option("-k", "--kill", "kill", is_flag=True)
@click.option("-V", "--version", "version", is_flag=True)
@click.option("-h", "--help", "help_", is_flag=True)
@click.option("-p", "unused_p", default=None, hidden=True)
@click.option("-n", "--check", "check", is_flag=True)
@click.option("--keep-policies", is_flag=True)
def command(config: str, foreground: bool, debug: int, debug_add: int, kill: bool,
            version: bool, help_: bool, unused_p: str | None, check: bool,
            keep_policies: bool) -> int:
    """spmd (see the module docstring)."""
    if help_ or unused_p is not None:
        click.echo(USAGE, nl=False)
        return 0
    if version:
        click.echo(f"Version: {cli.VERSION}", err=True)
        return 0
    level = INFO_LEVEL + debug + debug_add
    if not 1 <= level <= 10:
        click.echo("Debug level is too big", err=True)
        return 1
    if kill:
        return _kill()
    if check:
        return cli.check(config, "spmd")
    from racoon2.kernel.system import open_backend
    from spmd.shell import Settings, run

    log.setup("spmd", foreground=foreground, debug=level >= 8)
    return run(Settings(config, keep_policies=keep_policies), open_backend,
               foreground=foreground, pid_path=PID_FILE)


def _kill() -> int:
    pid = running_pid(PID_FILE, "spmd.service")
    if pid is None:
        click.echo(f"spmd: no pid in {PID_FILE}, no active spmd.service", err=True)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError as e:
        click.echo(f"spmd: cannot signal pid {pid}: {e.strerror}", err=True)
        return 1
    return 0


def _usage_error(message: str) -> int:
    click.echo(f"spmd: {message}\n{USAGE}", nl=False)
    return 0  # the original's getopt default branch printed the usage and exited 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return cli.run_click(command, argv, "spmd", _usage_error)


if __name__ == "__main__":
    sys.exit(main())
