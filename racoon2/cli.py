"""Pieces every command line shares: check mode (-n), click error handling, the version."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from racoon2 import RACOON2_RELEASE
from racoon2.config import load_config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError, Racoon2Error

DEFAULT_CONFIG = "/usr/local/etc/racoon2/racoon2.conf"
VERSION = RACOON2_RELEASE


def check(path: str, daemon: str) -> int:
    """``-n``: load and check ``path`` as ``daemon`` reads it; print the verdict; exit status.

    Success prints ``FILE: configuration OK`` on stdout (warnings first, on stderr); an error
    prints ``FILE:LINE: …`` on stderr.  Nothing a configuration holds may cause a traceback.
    """
    try:
        warnings = check_config(load_config(path), daemon)
    except ConfigError as e:
        click.echo(str(e) if e.where else f"{path}: {e}", err=True)
        return 1
    except (Racoon2Error, OSError) as e:
        click.echo(f"{path}: {e}", err=True)
        return 1
    for warning in warnings:
        click.echo(f"{warning}", err=True)
    click.echo(f"{path}: configuration OK")
    return 0


def run_click(command: click.Command, argv: Sequence[str] | None, prog: str,
              on_usage_error: Callable[[str], int]) -> int:
    """Run a click command without click's own exits; map errors as the original did."""
    try:
        result = command.main(args=list(argv) if argv is not None else None, prog_name=prog,
                              standalone_mode=False)
    except click.UsageError as e:
        return on_usage_error(e.format_message())
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.Abort:
        return 1
    return int(result or 0)

