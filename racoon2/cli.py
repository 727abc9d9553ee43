"""Pieces every command line shares: check mode (-n), click error handling, the version."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from racoon2 import RACOON2_RELEASE
from racoon2.confcache import load_checked
from racoon2.config import Config
from racoon2.config.model import ConfigWarning
from racoon2.errors import ConfigError, Racoon2Error
from racoon2.paths import LAYOUT

DEFAULT_CONFIG = LAYOUT.config  # racoon2.paths: /etc/racoon2 or /usr/local/etc/racoon2
VERSION = RACOON2_RELEASE


#: A daemon's own check beyond :func:`check_config` (iked: the XAuth users files).
Extra = Callable[[Config, list[ConfigWarning]], None]


def check(path: str, daemon: str, extra: Extra | None = None) -> int:
    """``-n``: load and check ``path`` as ``daemon`` reads it; print the verdict; exit status.

    Success prints ``FILE: configuration OK`` on stdout (warnings first, on stderr); an error
    prints ``FILE:LINE: …`` on stderr.  Nothing a configuration holds may cause a traceback.
    """
    try:
        config, warnings = load_checked(path, daemon, freeze=True, background=True)
        if extra is not None:
            extra(config, warnings)
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

