"""racoon2-setup: a few answers (YAML, options or prompts) -> a checked racoon2.conf and its
keys, certificates and the other side's configuration (doc/setup.md, racoon2-setup(8)).

    racoon2-setup [FILE.yaml] [--set KEY=VALUE ...] [-o DIR] [--force] [--diff] [--schema]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import yaml

from racoon2.cli import run_click
from racoon2.errors import ConfigError, Racoon2Error
from racoon2.setup import writer
from racoon2.setup.model import load
from racoon2.setup.schema import CASES, SCHEMA


def _options_yaml(sets: tuple[str, ...]) -> str:
    """``--set KEY=VALUE`` as YAML lines, one per option (so an error's line is the
    option's position); VALUE is YAML (``[a, b]`` is a list)."""
    lines = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.UsageError(f"--set {item}: expected KEY=VALUE")
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def _prompted() -> str:
    """Ask for the case and its required answers (a terminal without a file)."""
    case = click.prompt("case", type=click.Choice(CASES))
    branch = next(b for b in SCHEMA["oneOf"] if b["properties"]["case"]["const"] == case)
    answers = {"case": case}
    for key in branch["required"][1:]:
        prop = branch["properties"][key]
        text = click.prompt(f"{key} ({prop.get('description', prop.get('format', ''))})")
        answers[key] = yaml.safe_load(text) if prop.get("type") == "array" else text
    for key in ("auth",):
        if key in branch["properties"] and "enum" in branch["properties"][key]:
            answers[key] = click.prompt(key, type=click.Choice(branch["properties"][key]["enum"]),
                                        default="psk")
    return yaml.safe_dump(answers, sort_keys=False)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", required=False)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="an answer (instead of, or after, the file's)")
@click.option("-o", "--output", metavar="DIR", help="where to write (default: confdir)")
@click.option("--force", is_flag=True, help="replace files whose contents differ")
@click.option("--diff", "show_diff", is_flag=True, help="show what would change; write nothing")
@click.option("--schema", "show_schema", is_flag=True, help="print the YAML's JSON schema")
def command(file: str | None, sets: tuple[str, ...], output: str | None, force: bool,
            show_diff: bool, show_schema: bool) -> int:
    """Write a checked racoon2.conf, its keys and certificates for one common case."""
    if show_schema:
        click.echo(json.dumps(SCHEMA, indent=2))
        return 0
    if file is not None:
        name = file
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text()
        except OSError as e:
            raise Racoon2Error(f"cannot read {file}: {e.strerror}") from None
        if sets:  # an option replaces the file's top-level answer of that name
            keys = {item.partition("=")[0] for item in sets}
            text = "".join(line for line in text.splitlines(True)
                           if line.partition(":")[0] not in keys) + _options_yaml(sets)
    elif sets:
        name, text = "--set", _options_yaml(sets)
    elif sys.stdin.isatty():
        name, text = "<answers>", _prompted()
    else:
        raise click.UsageError("give a YAML file, --set KEY=VALUE answers, or run on a terminal")
    setup = load(text, name)
    plan = writer.plan(setup, Path(output or setup.confdir))
    if show_diff:
        click.echo(writer.diff(plan), nl=False)
        return 0
    clashes = writer.conflicts(plan)
    if clashes and not force:
        raise Racoon2Error("these files exist with other contents: " + ", ".join(clashes),
                           "look with --diff, replace them with --force")
    for warning in writer.check(plan):
        click.echo(f"racoon2-setup: {warning}", err=True)
    written = writer.write(plan)
    click.echo(plan.files["SUMMARY.txt"].decode(), nl=False)
    click.echo(f"racoon2-setup: {len(written)} files written, {len(plan.files) - len(written)} "
               f"unchanged; every racoon2.conf passed the daemons' -n checks")
    return 0


def _usage_error(message: str) -> int:
    click.echo(f"racoon2-setup: {message} (racoon2-setup --help)", err=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 when the answers or a check fail, 2 on usage errors."""
    os.umask(0o022)
    try:
        return run_click(command, argv, "racoon2-setup", _usage_error)
    except ConfigError as e:  # the answers' FILE:LINE: … as racoon2.conf's errors look
        click.echo(str(e) if e.where else f"racoon2-setup: {e}", err=True)
        return 1
    except Racoon2Error as e:
        click.echo(f"racoon2-setup: {e}", err=True)
        return 1
