"""spmdctl: inspect and change a running spmd over spmif (doc/spmdctl.md).

    spmdctl [-d] [-f CONFIG] [--json] COMMAND ...

Command words match case-insensitively by prefix, as in the original (``p s`` is ``policy
show``).  Every command prints a table or a line, or one JSON document with ``--json`` (its
shape for each command in doc/spmdctl.md), a failure too.  Unlike the original, a refused
operation exits 1 (it exited 0 and printed "operation failed"), so scripts can tell.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from racoon2.config import load_config
from racoon2.daemon import running_pid
from racoon2.errors import Racoon2Error, SpmifError
from racoon2.ipsec import Mode
from racoon2.net import Address, Prefix
from racoon2.paths import LAYOUT
from racoon2.spmif.client import SpmifClient, Target, connect, targets
from racoon2.spmif.commands import Rejected, parse_command
from racoon2.spmif.secret import read_password

DEFAULT_CONFIG = LAYOUT.config
PID_FILE = LAYOUT.pid_file("spmd")
USAGE = """\
usage: spmdctl [-d] [-f CONFIG] [--json] COMMAND
  status
  policy show
  policy add SELECTOR_INDEX LIFETIME transport SP_SRC SP_DST
  policy add SELECTOR_INDEX LIFETIME tunnel SP_SRC SP_DST SA_SRC SA_DST
  policy delete SELECTOR_INDEX [transport|tunnel SP_SRC SP_DST [SA_SRC SA_DST]]
  migrate SELECTOR_INDEX SRC0 DST0 SRC DST
  ns list | ns add ADDR | ns delete ADDR | ns change ADDR
  fqdn list | fqdn query ADDR | fqdn add NAME | fqdn delete NAME
  reload
  sc_interactive"""


class Usage(Exception):
    """Bad command words: print the usage and exit 1."""


@dataclass
class Ctx:
    """Per-invocation settings."""

    as_json: bool
    debug: bool


def _match(word: str, choices: Sequence[str]) -> str:
    """The choice that ``word`` abbreviates (case-insensitive prefix), else Usage."""
    found = [c for c in choices if c.startswith(word.lower())] if word else []
    if len(found) != 1:
        raise Usage(f"unknown or ambiguous word {word!r} (expected one of {', '.join(choices)})")
    return found[0]


def _addr(text: str) -> Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise Usage(f"{text!r} is not a numeric address") from None


def _prefix(text: str) -> Prefix:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Usage(f"{text!r} is not an address or prefix") from None


def _int(text: str) -> int:
    if not text.isdigit():
        raise Usage(f"{text!r} is not a number")
    return int(text)


def _out(ctx: Ctx, data: Any, table: Callable[[], None]) -> None:
    if ctx.as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        table()


def _done(ctx: Ctx, data: dict[str, Any], text: str) -> None:
    """What a changing command prints: ``text``, or with --json ``data`` (``"ok": true``)."""
    _out(ctx, {"ok": True, **data}, lambda: click.echo(text))


Action = Callable[[SpmifClient, Ctx], Coroutine[Any, Any, None]]


def parse(words: Sequence[str]) -> tuple[str, Action | None]:
    """Command words → (canonical name, coroutine over a logged-in client; None: local)."""
    if not words:
        raise Usage("no command")
    head = _match(words[0], ["status", "policy", "migrate", "ns", "fqdn", "reload",
                             "sc_interactive"])
    rest = list(words[1:])
    if head == "status":
        return head, _status
    if head == "reload":
        return head, None
    if head == "sc_interactive":
        return head, _interactive
    if head == "migrate":
        if len(rest) != 5:
            raise Usage("migrate takes SELECTOR_INDEX SRC0 DST0 SRC DST")
        slid, *addrs = rest
        a = [_addr(x) for x in addrs]

        async def migrate(client: SpmifClient, ctx: Ctx) -> None:
            await client.migrate(slid, a[0], a[1], a[2], a[3])
            _done(ctx, {"migrated": slid, "from": [str(a[0]), str(a[1])],
                        "to": [str(a[2]), str(a[3])]}, f"migrated {slid}")
        return head, migrate
    if not rest:
        raise Usage(f"{head} needs a sub-command")
    sub = _match(rest[0], {"policy": ["show", "add", "delete"],
                           "ns": ["list", "add", "delete", "change"],
                           "fqdn": ["list", "query", "add", "delete"]}[head])
    return f"{head} {sub}", _sub(head, sub, rest[1:])


def _sub(head: str, sub: str, args: list[str]) -> Action:
    if head == "policy":
        if sub == "show":
            return _policy_show
        if sub == "add":
            return _policy_add(args)
        return _policy_delete(args)
    if sub in ("list",):
        return _ns_list if head == "ns" else _fqdn_list
    if len(args) != 1:
        raise Usage(f"{head} {sub} takes one argument")
    arg = args[0]
    if head == "fqdn":
        if sub == "query":
            addr = _addr(arg)

            async def query(client: SpmifClient, ctx: Ctx) -> None:
                names = await client.fqdn_query(addr)
                _out(ctx, {"address": str(addr), "names": names},
                     lambda: click.echo("\n".join(names) or "not cached"))
            return query

        async def fqdn(client: SpmifClient, ctx: Ctx) -> None:
            await (client.fqdn_add(arg) if sub == "add" else client.fqdn_delete(arg))
            what = "registered" if sub == "add" else "deregistered"
            _done(ctx, {"fqdn": arg, what: True}, f"{arg}: {what}")
        return fqdn
    addr = _addr(arg)

    async def ns(client: SpmifClient, ctx: Ctx) -> None:
        call = {"add": client.ns_add, "delete": client.ns_delete, "change": client.ns_change}
        await call[sub](addr)
        past = f"{sub}{'d' if sub.endswith('e') else 'ed'}"
        _done(ctx, {"ns": str(addr), past: True}, f"{addr}: {past}")
    return ns


def _policy_add(args: list[str]) -> Action:
    if len(args) not in (5, 7):
        raise Usage("policy add SELECTOR_INDEX LIFETIME MODE SP_SRC SP_DST [SA_SRC SA_DST]")
    slid, lifetime, mode_word, src, dst, *sa = args
    mode = Mode(_match(mode_word, ["transport", "tunnel"]))
    if mode is Mode.TUNNEL and not sa:
        raise Usage("tunnel mode needs SA_SRC SA_DST")
    ends: list[Address | None] = [_addr(x) for x in sa] if mode is Mode.TUNNEL else [None, None]
    life, p_src, p_dst = _int(lifetime), _prefix(src), _prefix(dst)

    async def add(client: SpmifClient, ctx: Ctx) -> None:
        reply = await client.policy_add(slid, life, mode, p_src, p_dst, ends[0], ends[1])
        _done(ctx, {"selector": slid, "added": reply}, reply)
    return add


def _policy_delete(args: list[str]) -> Action:
    if len(args) not in (1, 4, 6):
        raise Usage("policy delete SELECTOR_INDEX [MODE SP_SRC SP_DST [SA_SRC SA_DST]]")
    slid = args[0]
    mode = Mode(_match(args[1], ["transport", "tunnel"])) if len(args) > 1 else None
    pre: list[Prefix | None] = [_prefix(x) for x in args[2:4]] or [None, None]
    ends: list[Address | None] = [_addr(x) for x in args[4:6]] or [None, None]

    async def delete(client: SpmifClient, ctx: Ctx) -> None:
        await client.policy_delete(slid, mode, pre[0], pre[1], ends[0], ends[1])
        _done(ctx, {"selector": slid, "deleted": True}, f"policies of {slid} deleted")
    return delete


async def _status(client: SpmifClient, ctx: Ctx) -> None:
    counters = await client.stat()
    _out(ctx, counters, lambda: click.echo("\n".join(f"{k:<22} {v}" for k, v in counters.items())))


async def _policy_show(client: SpmifClient, ctx: Ctx) -> None:
    entries = await client.policy_dump()
    data = [{"selector": slid, "spid": spid} for slid, spid in entries]

    def table() -> None:
        if not entries:
            click.echo("no policy installed by spmd")
            return
        click.echo(f"{'SELECTOR':<32} SPID")
        for slid, spid in entries:
            click.echo(f"{slid:<32} {spid}")
    _out(ctx, data, table)


async def _ns_list(client: SpmifClient, ctx: Ctx) -> None:
    servers = [str(a) for a in await client.ns_list()]
    _out(ctx, servers, lambda: click.echo("\n".join(servers) or "no name server"))


async def _fqdn_list(client: SpmifClient, ctx: Ctx) -> None:
    names = await client.fqdn_list()
    _out(ctx, names, lambda: click.echo("\n".join(names) or "no FQDN registered"))


async def _interactive(client: SpmifClient, ctx: Ctx) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        words = line.split()
        if not words:
            continue
        try:
            command = parse_command(words, True)
        except Rejected as e:
            reply = e.reply
        else:
            reply = await client.request(command)
        # --json: one object a line (JSON Lines), as each command's reply comes.
        click.echo(json.dumps({"request": line.strip(), "ok": reply.ok, "code": reply.code,
                               "reply": str(reply)}) if ctx.as_json else reply)


def _socket_and_password(config_path: str) -> tuple[list[Target], bytes]:
    config = load_config(config_path)
    iface = config.interface
    if iface is None or iface.spmd_password is None:
        raise Racoon2Error(f"{config_path}: needs interface {{ spmd …; spmd_password …; }}")
    return targets(iface.spmd), read_password(iface.spmd_password)


async def _run(action: Action, config_path: str, ctx: Ctx) -> None:
    paths, password = _socket_and_password(config_path)
    client = await connect(paths, password)
    if ctx.debug:
        click.echo(f"[connected to {client.path}, challenge {client.challenge}]", err=True)
    try:
        await action(client, ctx)
    finally:
        await client.quit()


def _reload(ctx: Ctx) -> None:
    pid = running_pid(PID_FILE, "spmd.service")
    if pid is None:
        raise Racoon2Error(f"spmd is not running: no {PID_FILE}, no active spmd.service")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        # a pid file left by an spmd that was killed (-9): say so, not "No such process"
        raise Racoon2Error(f"spmd is not running: no process {pid} ({PID_FILE} is stale)"
                           ) from None
    _done(ctx, {"reload": "SIGHUP", "pid": pid}, f"sent SIGHUP to spmd (pid {pid})")


@click.command(context_settings={"ignore_unknown_options": True,
                                 "help_option_names": ["-h", "--help"]}, add_help_option=True,
               help=USAGE)
@click.option("-d", "debug", is_flag=True, help="Show the spmif exchange.")
@click.option("-f", "config", default=DEFAULT_CONFIG, show_default=True,
              help="Configuration file (interface spmd and spmd_password).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
def main(debug: bool, config: str, as_json: bool, words: tuple[str, ...]) -> None:
    """spmdctl entry point."""
    ctx = Ctx(as_json, debug)
    try:
        name, action = parse(words)
    except Usage as e:
        _fail(ctx, str(e), "spmdctl: ", f"\n{USAGE}")
    if os.geteuid() != 0:
        _fail(ctx, "you should run this program as root.")
    try:
        if action is None:
            _reload(ctx)
        else:
            asyncio.run(_run(action, config, ctx))
    except SpmifError as e:
        _fail(ctx, f"{name}: operation failed: {e}", "spmdctl: ")
    except (Racoon2Error, OSError) as e:
        _fail(ctx, str(e), "spmdctl: ")


def _fail(ctx: Ctx, message: str, prefix: str = "", more: str = "") -> NoReturn:
    """Exit 1 saying why: on stderr (``more`` after it there: the usage), and with --json
    also as ``{"ok": false, "error": …}`` on stdout, so a script reading JSON always gets a
    document, a usage error's too."""
    if ctx.as_json:
        click.echo(json.dumps({"ok": False, "error": message}, indent=2))
    click.echo(prefix + message + more, err=True)
    sys.exit(1)

