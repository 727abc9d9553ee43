"""racoon2-convert's command line (doc/convert.md, racoon2-convert(8)): reads racoon.conf (its
includes) and the SPD, converts, checks the result as ``spmd -n`` and ``iked -n`` do, writes
racoon2.conf and the report."""

from __future__ import annotations

import glob
import os
import sys

import click

from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.convert.mapper import Options, Result, convert_text
from racoon2.convert.psk import keys_for, parse_psk
from racoon2.convert.spd import parse_spd
from racoon2.errors import Racoon2Error, RacoonConfError

CHECKED_BY = ("spmd", "iked")


def read_glob(pattern: str) -> list[tuple[str, str]]:
    """The files an ``include`` names (a glob, as racoon's), sorted, with their text."""
    return [(path, _read(path)) for path in sorted(glob.glob(pattern))]


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise RacoonConfError(f"found {path!r} unreadable ({e.strerror}), expected a file "
                              "to convert") from e


def check_result(text: str, file: str) -> list[str]:
    """The daemons' own checks (``spmd -n``, ``iked -n``) on the converted text; returns
    their warnings, raises ConfigError (``file:line`` of the converted text)."""
    config = loads(text, file)
    warnings: list[str] = []
    for daemon in CHECKED_BY:
        warnings += [f"{daemon}: {w.where}: {w.message}" for w in check_config(config, daemon)]
    return warnings


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("racoon_conf", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="write racoon2.conf here (default: standard output)")
@click.option("-r", "--report", "report_file", type=click.Path(dir_okay=False),
              help="write the report here (default: standard error)")
@click.option("-s", "--spd", type=click.Path(dir_okay=False),
              help="the SPD racoon relied on: a setkey.conf or `setkey -DP` output")
@click.option("--psk-dir", default=Options.psk_dir, show_default=True,
              help="directory of the per-remote pre-shared key files")
@click.option("--spmd-password", default=Options.spmd_password, show_default=True,
              help="spmd's password file named in interface { }")
@click.option("--spmd-socket", default=Options.spmd_socket, show_default=True,
              help="spmd's unix socket named in interface { }")
@click.option("-k", "--psk", "psk_file", type=click.Path(dir_okay=False),
              help="racoon's psk.txt: write each remote's key file (mode 0600) from it")
@click.option("--xauth-users", type=click.Path(dir_okay=False),
              help="XAuth gateways check passwords in this users file (doc/iked.md), not PAM")
@click.option("--no-check", is_flag=True, help="do not run spmd's and iked's -n checks")
@click.option("--force", is_flag=True, help="overwrite an existing output file")
def main(racoon_conf: str, output: str | None, report_file: str | None, spd: str | None,
         psk_dir: str, spmd_password: str, spmd_socket: str, psk_file: str | None,
         xauth_users: str | None, no_check: bool, force: bool) -> None:
    """Convert RACOON_CONF (ipsec-tools racoon) to racoon2.conf."""
    try:
        entries = parse_spd(_read(spd), spd) if spd else None
        result = convert_text(_read(racoon_conf), racoon_conf, reader=read_glob, spd=entries,
                              options=Options(spmd_socket, spmd_password, psk_dir,
                                              xauth_users))
        written = _write_keys(result, psk_file, force) if psk_file else []
        warnings = [] if no_check else check_result(result.text, output or "<converted>")
    except (Racoon2Error, OSError) as e:  # what the daemons' -n also reports (racoon2/cli.py)
        click.echo(f"racoon2-convert: {e}", err=True)
        sys.exit(1)
    _write(output, result.text, force)
    _write_report(report_file, result, written, warnings, no_check, force)


def _write_keys(result: Result, psk_file: str, force: bool) -> list[str]:
    """Each PSK remote's key file from racoon's psk.txt; returns the report lines."""
    keys = parse_psk(_read(psk_file), psk_file)
    lines = []
    for remote in result.remotes:
        file, key = keys_for(remote, keys)
        if not file or not remote.usable:
            continue
        if key is None:
            lines.append(f"psk: no key for remote {remote.name!r} in {psk_file}: write {file}")
            continue
        if os.path.exists(file) and not force:
            lines.append(f"psk: {file} exists, not overwritten (give --force)")
            continue
        os.makedirs(os.path.dirname(file) or ".", mode=0o700, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(key.key)
        lines.append(f"psk: wrote {file} for remote {remote.name!r} from {key.where}")
    return lines


def _write(path: str | None, text: str, force: bool) -> None:
    if path is None:
        click.echo(text, nl=False)
        return
    if os.path.exists(path) and not force:
        click.echo(f"racoon2-convert: {path} exists, not overwritten (give --force)", err=True)
        sys.exit(1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _write_report(path: str | None, result: Result, keys: list[str], warnings: list[str],
                  no_check: bool, force: bool) -> None:
    text = result.report.render() + "".join(f"{k}\n" for k in keys)
    if no_check:
        text += "checks: not run (--no-check)\n"
    else:
        text += f"checks: spmd -n and iked -n accept the result ({len(warnings)} warnings)\n"
        text += "".join(f"    {w}\n" for w in warnings)
    if path is None:
        click.echo(text, err=True, nl=False)
    else:
        _write(path, text, force)
