"""kinkd's command line (doc/kinkd.md), plus -n (check the configuration) and the
files the original fixed at build time.

    kinkd [-dhFVn] [-f config] [-D level|category] [--replay-cache FILE] [--pid-file FILE]
             [--kdc-timeout SECS] [--ctl-socket PATH]
"""

from __future__ import annotations

import sys

import click

from racoon2 import cli
from racoon2.paths import LAYOUT

#: -D categories and the debug level that turns each on with -d (None: by name only).
CATEGORIES: dict[str, int | None] = {
    "krb5": 2, "ticketing": 2, "peer": 2, "payload": 2, "pfkey": 2, "spmif": 2, "isakmp": 3,
    "packet": None, "crypt": None, "parse": None,
}
USAGE = f"""\
usage: kinkd [-dhFVn] [-f config] [-D level|category] [--replay-cache FILE] [--pid-file FILE]
             [--kdc-timeout SECS] [--ctl-socket PATH]
  -d increase the debug level.
  -D set the debug level (1, 2, 3, all) or enable one category:
  krb5 ticketing peer payload pfkey spmif isakmp packet crypt parse
  -f specify the configuration file.
  -F run in the foreground.
  -n check the configuration file and exit.
  -V show the version.
  -h show this help.
  --replay-cache FILE  where seen authenticators survive a restart ({LAYOUT.kinkd_replay}).
  --pid-file FILE      the pid file of a detached kinkd ({LAYOUT.pid_file("kinkd")}).
  --kdc-timeout SECS   how long one exchange waits for the KDC (10).
  --ctl-socket PATH    the control socket for kinkdctl (/var/run/racoon2/kinkd.ctl; '' none).
"""


@click.command(add_help_option=False)
@click.option("-f", "config", default=cli.DEFAULT_CONFIG)
@click.option("-d", "debug", count=True)
@click.option("-D", "debug_arg", multiple=True)
@click.option("-F", "foreground", is_flag=True)
@click.option("-V", "version", is_flag=True)
@click.option("-h", "help_", is_flag=True)
@click.option("-n", "check", is_flag=True)
@click.option("--replay-cache", "replay_cache", default=LAYOUT.kinkd_replay)
@click.option("--pid-file", "pid_file", default=LAYOUT.pid_file("kinkd"))
@click.option("--kdc-timeout", "kdc_timeout", type=click.FloatRange(min=1.0), default=10.0)
@click.option("--ctl-socket", "ctl_socket", default="/var/run/racoon2/kinkd.ctl")
def command(config: str, debug: int, debug_arg: tuple[str, ...], foreground: bool,
            version: bool, help_: bool, check: bool, replay_cache: str, pid_file: str,
            kdc_timeout: float, ctl_socket: str) -> int:
    """kinkd (see the module docstring)."""
    if help_:
        click.echo(USAGE, nl=False)
        return 1
    if version:
        click.echo(f"kinkd {cli.VERSION}")
        return 1
    level = debug
    categories: set[str] = set()
    for arg in debug_arg:
        if arg in ("1", "2", "3"):
            level = int(arg)
        elif arg == "all":
            level = 3
        elif arg in CATEGORIES:
            categories.add(arg)
        else:
            raise click.UsageError(f"-D {arg}: expected 1, 2, 3, all or a category")
    categories |= {c for c, t in CATEGORIES.items() if t is not None and level >= t}
    if check:
        return cli.check(config, "kinkd")
    from kinkd.shell import run
    from racoon2 import log

    log.setup("kinkd", foreground=foreground, debug=level >= 1 or bool(categories))
    return run(config, foreground=foreground, pid_path=pid_file, replay_path=replay_cache,
               kdc_timeout=kdc_timeout, ctl_socket=ctl_socket)


def _usage_error(message: str) -> int:
    click.echo(f"kinkd: {message}\n{USAGE}", nl=False)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return cli.run_click(command, argv, "kinkd", _usage_error)


if __name__ == "__main__":
    sys.exit(main())
