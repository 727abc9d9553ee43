"""iked's command line (doc/iked.md), plus -n (check the configuration).

    iked [-46hvFVn] [-f config] [-l logfile] [-p port] [-t port] [-I address]
         [-S selector-index] [-d...] [-D flags] [-P pcapfile] [--stop-wait seconds]
         [--keep-sas] [--state-file path] [--ctl-socket path] [-j workers]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from iked.steering import MAX_WORKERS
from racoon2 import cli
from racoon2.config.model import Config, ConfigWarning
from racoon2.paths import LAYOUT

USAGE = f"""\
usage: iked [-46hvFVn] [-f config] [-l logfile] [-p port] [-t port] [-I address]
            [-S selector-index] [-d...] [-D flags] [-P pcapfile] [--stop-wait seconds]
            [--keep-sas] [--state-file path] [--ctl-socket path] [-j workers]
  -f specify the configuration file.
  -p specify the local IKE port (default 500).
  -t specify the destination port when initiating (default 500).
  -4 use IPv4 only.  -6 use IPv6 only.
  -I initiate to the address immediately.
  -S initiate with the selector immediately.
  -d increase the debug level.  -D specify the debug flags (0x1 debug, 0x2 trace,
  0x4 config, 0x8 no PF_KEY/spmif).
  -F run in the foreground.  -v copy the log to stdout.  -l log to the file.
  -P write decrypted IKE packets to the pcap file ('+' prefix appends).
  -n check the configuration file and exit.
  --stop-wait how long SIGTERM waits for the peers to answer the Deletes (default 3).
  --keep-sas SIGTERM saves the IKE SAs and keeps the tunnels; the next start restores them.
  --state-file where --keep-sas saves them (default {LAYOUT.iked_state}).
  --ctl-socket the control socket for ikedctl (default /var/run/racoon2/iked.ctl;
  '' for none).
  -j worker processes sharing the IKE ports (default 1, a single process, as --keep-sas
  and -P need; 0: one per core).
  -V show the version.  -h show this help.
"""


@dataclass(frozen=True, slots=True)
class Options:
    """iked's settings from the command line."""

    config: str
    port: int = 500
    target_port: int = 500
    family: int | None = None  # 4 or 6
    initiate: str | None = None
    initiate_selector: str | None = None
    debug_flags: int = 0
    foreground: bool = False
    verbose: bool = False
    logfile: str | None = None
    pcapfile: str | None = None
    stop_wait: float = 3.0
    keep_sas: bool = False
    state_file: str = LAYOUT.iked_state
    ctl_socket: str = "/var/run/racoon2/iked.ctl"
    workers: int = 1


def _workers(text: str | None, keep_sas: bool, pcapfile: str | None) -> int:
    """-j: a single process unless told (doc/iked.md "Workers": INITIAL_CONTACT and address
    pools do not cross workers yet), 0 for one per core this process may run on; --keep-sas
    and -P work in a single process (one state file, one capture)."""
    single = "--keep-sas" if keep_sas else "-P" if pcapfile else None
    if text is None:
        return 1
    if not text.isdigit() or not 0 <= int(text) <= MAX_WORKERS:
        raise click.UsageError(f"-j {text}: expected a number of workers 1-{MAX_WORKERS}, "
                               "or 0 for one per core")
    workers = int(text) or len(os.sched_getaffinity(0))
    if workers > 1 and single:
        raise click.UsageError(f"{single} needs a single process: -j 1")
    return workers


def _seconds(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise click.UsageError(f"{flag} {text}: expected seconds 0-3600")
    return value


def _port(text: str, flag: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise click.UsageError(f"{flag} {text}: expected a port number 1-65535")
    return int(text)


@click.command(add_help_option=False)
@click.option("-f", "--config-file", "config", default=cli.DEFAULT_CONFIG)
@click.option("-p", "--port", "port", default="500")
@click.option("-t", "--targetport", "target_port", default="500")
@click.option("-4", "--ipv4", "ipv4", is_flag=True)
@click.option("-6", "--ipv6", "ipv6", is_flag=True)
@click.option("-I", "--initiate", "initiate", default=None)
@click.option("-S", "--initiate-selector", "selector", default=None)
@click.option("-d", "debug", count=True)
@click.option("-D", "--debug", "flags", default="0")
@click.option("-F", "--foreground", is_flag=True)
@click.option("-v", "--verbose", is_flag=True)
@click.option("-l", "--logfile", default=None)
@click.option("-P", "--pcapfile", default=None)
@click.option("-V", "--version", "version", is_flag=True)
@click.option("-h", "--help", "help_", is_flag=True)
@click.option("-n", "--check", "check", is_flag=True)
@click.option("--stop-wait", "stop_wait", default="3")
@click.option("--keep-sas", "keep_sas", is_flag=True)
@click.option("--state-file", "state_file", default=LAYOUT.iked_state)
@click.option("--ctl-socket", "ctl_socket", default="/var/run/racoon2/iked.ctl")
@click.option("-j", "--workers", "workers", default=None)
@click.argument("extra", nargs=-1)
def command(config: str, port: str, target_port: str, ipv4: bool, ipv6: bool,
            initiate: str | None, selector: str | None, debug: int, flags: str,
            foreground: bool, verbose: bool, logfile: str | None, pcapfile: str | None,
            version: bool, help_: bool, check: bool, stop_wait: str, keep_sas: bool,
            state_file: str, ctl_socket: str, workers: str | None, extra: tuple[str, ...]
            ) -> int:
    """iked (see the module docstring)."""
    if help_:
        click.echo(USAGE, err=True, nl=False)
        return 0
    if extra:
        raise click.UsageError(f"unexpected argument {extra[0]!r}")
    if ipv4 and ipv6:
        raise click.UsageError("-4 and -6 cannot be used together")
    try:
        mask = int(flags, 0)
    except ValueError:
        raise click.UsageError(f"-D {flags}: expected a number such as 0x8") from None
    if version:
        click.echo(f"iked version {cli.VERSION}", err=True)  # and go on, as the original did
    options = Options(config, _port(port, "-p"), _port(target_port, "-t"),
                      4 if ipv4 else 6 if ipv6 else None, initiate, selector,
                      mask | ((1 << debug) - 1), foreground, verbose, logfile, pcapfile,
                      _seconds(stop_wait, "--stop-wait"), keep_sas, state_file, ctl_socket,
                      _workers(workers, keep_sas, pcapfile))
    if check:
        return cli.check(options.config, "iked", _own_checks)
    from iked.launch import run
    from iked.process import Settings
    from racoon2 import log

    log.setup("iked", foreground=foreground or verbose, debug=bool(options.debug_flags & 1),
              logfile=logfile)
    return run(options.config, Settings(options.port, options.target_port, options.family,
                                        options.initiate_selector, options.initiate,
                                        bool(options.debug_flags & 0x8), options.pcapfile,
                                        options.stop_wait, options.keep_sas,
                                        options.state_file, options.ctl_socket,
                                        options.workers,
                                        (foreground or verbose, bool(options.debug_flags & 1),
                                         logfile)),
               foreground=foreground)


def _own_checks(config: Config, warnings: list[ConfigWarning]) -> None:
    """iked's own -n checks: the XAuth and EAP users files, PAM services, the EAP server's
    certificate."""
    from iked.eap_check import check_server_certificates
    from iked.users import check_users
    from iked.xauth_pam import check_pam
    check_users(config, warnings)
    check_pam(config, warnings)
    check_server_certificates(config, warnings)


def _usage_error(message: str) -> int:
    click.echo(f"iked: {message}\n{USAGE}", err=True, nl=False)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return cli.run_click(command, argv, "iked", _usage_error)


if __name__ == "__main__":
    sys.exit(main())
