"""ikedctl and kinkdctl: one request to a daemon's control socket, its answer as a table, as
JSON (``--json``: the answer's result, schema in doc/ikedctl.md) or, for ``stats``, in the
Prometheus text format (``--prometheus``)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from racoon2.control import client, tables
from racoon2.control.protocol import Command
from racoon2.errors import ControlError


def usage(program: str, commands: Sequence[Command]) -> str:
    """The usage text: the options, then every command with its arguments."""
    lines = [f"usage: {program} [-s SOCKET] [--json] COMMAND [ARGS]",
             f"       {program} [-s SOCKET] stats --prometheus"]
    lines += [f"  {(c.name + ' ' + c.usage).strip():<34} {c.help}" for c in commands]
    return "\n".join(lines)


def make(program: str, daemon: str, default_socket: str, commands: Sequence[Command]
         ) -> Callable[..., Any]:
    """The click command of ``program`` (talking to ``daemon``'s socket)."""
    text = usage(program, commands)

    @click.command(context_settings={"ignore_unknown_options": True,
                                     "help_option_names": ["-h", "--help"]}, help=text)
    @click.option("-s", "--socket", "path", default=default_socket, show_default=True,
                  help=f"{daemon}'s control socket ({daemon} --ctl-socket).")
    @click.option("--json", "as_json", is_flag=True, help="The answer as one JSON document.")
    @click.option("--prometheus", is_flag=True,
                  help="stats in the Prometheus text exposition format.")
    @click.argument("words", nargs=-1, type=click.UNPROCESSED)
    def main(path: str, as_json: bool, prometheus: bool, words: tuple[str, ...]) -> None:
        if not words:
            click.echo(f"{program}: no command\n{text}", err=True)
            sys.exit(1)
        try:
            command, result = client.request(path, words)
        except ControlError as e:
            if as_json:
                click.echo(json.dumps({"ok": False, "error": str(e)}, indent=2))
            else:
                click.echo(f"{program}: {' '.join(words)}: {e}", err=True)
            sys.exit(1)
        if not isinstance(result, dict):
            result = {"result": result}
        if prometheus:
            if command != "stats":
                click.echo(f"{program}: --prometheus is for stats, not {command}", err=True)
                sys.exit(1)
            click.echo("\n".join(tables.prometheus(daemon, result)))
        elif as_json:
            click.echo(json.dumps(result, indent=2, sort_keys=True))
        else:
            table = tables.TABLES.get(command, tables.generic)
            click.echo("\n".join(table(result, time.time())))

    return main
