"""spmif commands: one frozen dataclass per request, parsed from and formatted to a line.

Parsing follows ``spmd/shell.c``: command and sub-command words match case-insensitively when the
typed word *begins with* the command name (``STATUS`` is ``STAT``); the login check comes before
the argument check; argument errors are ``500 Syntax Error`` and non-numeric addresses
``550 Operation Failed``.  Where the C server had bugs (MIGRATE arity, TUNNEL ADD with six
arguments, spmdctl's one-argument POLICY DELETE) this module does what the syntax says; see
doc/spmif.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from racoon2.errors import SpmifError
from racoon2.ipsec import Mode
from racoon2.net import Address, Prefix
from racoon2.spmif import replies
from racoon2.spmif.replies import Reply

MAX_FQDN = 255  # characters including the trailing dot, as the C MAX_NAME_LEN buffer allows


@dataclass(frozen=True, slots=True)
class Login:
    """``LOGIN <response>``: see :func:`racoon2.spmif.protocol.login_response`."""

    response: str


@dataclass(frozen=True, slots=True)
class Quit:
    """``QUIT`` (or ``EXIT``): the server answers ``250 BYE`` and closes."""


@dataclass(frozen=True, slots=True)
class Stat:
    """``STAT``: DNS proxy and FQDN cache counters."""


@dataclass(frozen=True, slots=True)
class PolicyAdd:
    """``POLICY ADD``: install a generated policy for a selector and its reverse."""

    selector_index: str
    lifetime: int
    mode: Mode
    src: Prefix
    dst: Prefix
    sa_src: Address | None = None
    sa_dst: Address | None = None


@dataclass(frozen=True, slots=True)
class PolicyDelete:
    """``POLICY DELETE``: with ``mode`` None, every policy spmd installed for the selector."""

    selector_index: str
    mode: Mode | None = None
    src: Prefix | None = None
    dst: Prefix | None = None
    sa_src: Address | None = None
    sa_dst: Address | None = None


@dataclass(frozen=True, slots=True)
class PolicyDump:
    """``POLICY DUMP``: ``<selector_index> <spid>`` for every policy spmd installed."""


@dataclass(frozen=True, slots=True)
class Migrate:
    """``MIGRATE``: move a selector's tunnel endpoints (PF_KEY SADB_X_MIGRATE)."""

    selector_index: str
    old_src: Address
    old_dst: Address
    new_src: Address
    new_dst: Address


@dataclass(frozen=True, slots=True)
class Slid:
    """``SLID <spid>``: the selector index of a kernel policy id."""

    spid: int


@dataclass(frozen=True, slots=True)
class NsList:
    """``NS LIST``: the DNS proxy's upstream servers, current first."""


@dataclass(frozen=True, slots=True)
class NsAdd:
    """``NS ADD <addr>``: add an upstream server and make it current."""

    addr: Address


@dataclass(frozen=True, slots=True)
class NsDelete:
    """``NS DELETE <addr>``."""

    addr: Address


@dataclass(frozen=True, slots=True)
class NsChange:
    """``NS CHANGE <addr>``: make a listed server the current one."""

    addr: Address


@dataclass(frozen=True, slots=True)
class FqdnList:
    """``FQDN LIST``: the registered names."""


@dataclass(frozen=True, slots=True)
class FqdnQuery:
    """``FQDN QUERY <addr>``: the cached names of an address."""

    addr: Address


@dataclass(frozen=True, slots=True)
class FqdnAdd:
    """``FQDN ADD <name>``; ``name`` always ends in a dot."""

    name: str


@dataclass(frozen=True, slots=True)
class FqdnDelete:
    """``FQDN DELETE <name>``; ``name`` always ends in a dot."""

    name: str


Command = (
    Login | Quit | Stat | PolicyAdd | PolicyDelete | PolicyDump | Migrate | Slid
    | NsList | NsAdd | NsDelete | NsChange | FqdnList | FqdnQuery | FqdnAdd | FqdnDelete
)


# --- formatting (client side) -------------------------------------------------------------------


def _prefix(p: Prefix) -> str:
    return f"{p.network_address}/{p.prefixlen}"


def _sa(mode: Mode, sa_src: Address | None, sa_dst: Address | None) -> str:
    if mode is Mode.TUNNEL:
        if sa_src is None or sa_dst is None:
            raise SpmifError("a tunnel-mode policy needs both SA endpoints")
        return f" {sa_src} {sa_dst}"
    return ""


def _token(text: str, what: str) -> str:
    if not text or any(c in text for c in " \t\r\n") or not text.isprintable():
        raise SpmifError(f"{what} {text!r} is not a single printable word")
    return text


def format_command(cmd: Command) -> str:
    """The request line for ``cmd`` without CR LF, in the exact form the C clients send;
    SpmifError when ``cmd`` cannot be said on one line (a word with spaces, a tunnel without
    its SA endpoints)."""
    match cmd:
        case Login(response):
            return f"LOGIN {_token(response, 'LOGIN response')}"
        case Quit():
            return "QUIT"
        case Stat():
            return "STAT"
        case PolicyAdd(idx, lifetime, mode, src, dst, sa_src, sa_dst):
            return (
                f"POLICY ADD {_token(idx, 'selector index')} {lifetime} {mode.value} "
                f"{_prefix(src)} {_prefix(dst)}{_sa(mode, sa_src, sa_dst)}"
            )
        case PolicyDelete(idx, None, _, _, _, _):
            return f"POLICY DELETE {_token(idx, 'selector index')}"
        case PolicyDelete(idx, Mode() as mode, src, dst, sa_src, sa_dst):
            if src is None or dst is None:
                raise SpmifError("POLICY DELETE with a mode needs both SP prefixes")
            return (
                f"POLICY DELETE {_token(idx, 'selector index')} {mode.value} "
                f"{_prefix(src)} {_prefix(dst)}{_sa(mode, sa_src, sa_dst)}"
            )
        case PolicyDump():
            return "POLICY DUMP"
        case Migrate(idx, old_src, old_dst, new_src, new_dst):
            idx = _token(idx, "selector index")
            return f"MIGRATE {idx} {old_src} {old_dst} {new_src} {new_dst}"
        case Slid(spid):
            return f"SLID {spid}"
        case NsList():
            return "NS LIST"
        case NsAdd(addr):
            return f"NS ADD {addr}"
        case NsDelete(addr):
            return f"NS DELETE {addr}"
        case NsChange(addr):
            return f"NS CHANGE {addr}"
        case FqdnList():
            return "FQDN LIST"
        case FqdnQuery(addr):
            return f"FQDN QUERY {addr}"
        case FqdnAdd(name):
            return f"FQDN ADD {_token(name, 'FQDN')}"
        case FqdnDelete(name):
            return f"FQDN DELETE {_token(name, 'FQDN')}"
    raise SpmifError(f"not an spmif command: {cmd!r}")


# --- parsing (server side) ----------------------------------------------------------------------


class Rejected(Exception):
    """Internal: a request line that gets an error reply instead of reaching the handler."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


def _word(typed: str, name: str) -> bool:
    # The C server compares only strlen(name) characters: the typed word must start with it.
    return typed[: len(name)].upper() == name


def _address(text: str) -> Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise Rejected(replies.operation_failed()) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        raise Rejected(replies.operation_failed())
    return addr


def _prefix_arg(text: str) -> Prefix:
    addr_text, slash, plen_text = text.partition("/")
    plen = 0
    if slash and plen_text:
        # strtol semantics: optional sign and digits, nothing after them.
        digits = plen_text[1:] if plen_text[0] in "+-" else plen_text
        if not digits.isascii() or not digits.isdigit():
            raise Rejected(replies.syntax_error())
        plen = int(plen_text)
    addr = _address(addr_text)
    if plen <= 0 or plen > addr.max_prefixlen:
        plen = addr.max_prefixlen
    if plen == addr.max_prefixlen and addr.is_unspecified:
        plen = 0
    return ipaddress.ip_network((addr, plen), strict=False)


def _mode(text: str) -> Mode:
    if _word(text, "TUNNEL"):
        return Mode.TUNNEL
    if _word(text, "TRANSPORT"):
        return Mode.TRANSPORT
    raise Rejected(replies.syntax_error())


def _decimal(text: str, bits: int) -> int:
    if not text.isascii() or not text.isdigit() or int(text) >= 1 << bits:
        raise Rejected(replies.syntax_error())
    return int(text)


def _sp_args(
    args: Sequence[str], with_lifetime: bool
) -> tuple[str, int, Mode, Prefix, Prefix, Address | None, Address | None]:
    """``idx [lifetime] mode src dst [sa_src sa_dst]`` (arity already checked)."""
    idx = args[0]
    rest = list(args[1:])
    lifetime = _decimal(rest.pop(0), 64) if with_lifetime else 0
    mode = _mode(rest[0])
    if mode is Mode.TUNNEL and len(rest) != 5:
        # The C server read past its argument array here; a tunnel needs its endpoints.
        raise Rejected(replies.syntax_error())
    src = _prefix_arg(rest[1])
    dst = _prefix_arg(rest[2])
    sa_src = sa_dst = None
    if mode is Mode.TUNNEL:
        sa_src = _address(rest[3])
        sa_dst = _address(rest[4])
    return idx, lifetime, mode, src, dst, sa_src, sa_dst


def _fqdn(text: str) -> str:
    name = text if text.endswith(".") else text + "."
    if len(name) > MAX_FQDN:
        raise Rejected(replies.syntax_error())
    return name


def _policy(args: Sequence[str]) -> Command:
    if not args:
        raise Rejected(replies.syntax_error())
    sub, rest = args[0], args[1:]
    if _word(sub, "ADD"):
        if len(rest) not in (5, 7):
            raise Rejected(replies.syntax_error())
        idx, lifetime, mode, src, dst, sa_src, sa_dst = _sp_args(rest, with_lifetime=True)
        return PolicyAdd(idx, lifetime, mode, src, dst, sa_src, sa_dst)
    if _word(sub, "DEL"):
        if len(rest) == 1:
            return PolicyDelete(rest[0])
        if len(rest) not in (4, 6):
            raise Rejected(replies.syntax_error())
        idx, _, mode, src, dst, sa_src, sa_dst = _sp_args(rest, with_lifetime=False)
        return PolicyDelete(idx, mode, src, dst, sa_src, sa_dst)
    if _word(sub, "DUMP"):
        return PolicyDump()
    raise Rejected(replies.syntax_error())


def _migrate(args: Sequence[str]) -> Command:
    if len(args) != 5:
        raise Rejected(replies.syntax_error())
    return Migrate(args[0], *(_address(a) for a in args[1:]))


def _slid(args: Sequence[str]) -> Command:
    if len(args) != 1:
        raise Rejected(replies.syntax_error())
    return Slid(_decimal(args[0], 32))


def _stat(args: Sequence[str]) -> Command:
    if args:
        raise Rejected(replies.syntax_error())
    return Stat()


def _ns(args: Sequence[str]) -> Command:
    if len(args) == 1 and _word(args[0], "LIST"):
        return NsList()
    if len(args) == 2:
        sub = args[0]
        if _word(sub, "ADD"):
            return NsAdd(_address(args[1]))
        if _word(sub, "DEL"):
            return NsDelete(_address(args[1]))
        if _word(sub, "CHANGE"):
            return NsChange(_address(args[1]))
    raise Rejected(replies.syntax_error())


def _fqdn_cmd(args: Sequence[str]) -> Command:
    if len(args) == 1 and _word(args[0], "LIST"):
        return FqdnList()
    if len(args) == 2:
        sub = args[0]
        if _word(sub, "QUERY"):
            return FqdnQuery(_address(args[1]))
        if _word(sub, "ADD"):
            return FqdnAdd(_fqdn(args[1]))
        if _word(sub, "DEL"):
            return FqdnDelete(_fqdn(args[1]))
    raise Rejected(replies.syntax_error())


# Order matters (prefix matching): the C table order, LOGIN first, QUIT/EXIT last.
_TABLE: tuple[tuple[str, Callable[[Sequence[str]], Command], bool], ...] = (
    ("NS", _ns, True),
    ("FQDN", _fqdn_cmd, True),
    ("POLICY", _policy, True),
    ("MIGRATE", _migrate, True),
    ("SLID", _slid, True),
    ("STAT", _stat, True),
    ("QUIT", lambda _args: Quit(), False),
    ("EXIT", lambda _args: Quit(), False),
)


def parse_command(tokens: Sequence[str], authenticated: bool) -> Command:
    """Turn a tokenised request line into a command, or raise :class:`Rejected` with its reply.

    LOGIN is returned whatever its arguments (a wrong count fails like a wrong password); the
    login check precedes argument checks, as in the C server.
    """
    if not tokens:
        raise Rejected(replies.not_implemented())
    verb, args = tokens[0], tokens[1:]
    if _word(verb, "LOGIN"):
        return Login(args[0] if len(args) == 1 else "")
    for name, parse, needs_login in _TABLE:
        if _word(verb, name):
            if needs_login and not authenticated:
                raise Rejected(replies.need_login(ns=name == "NS"))
            return parse(args)
    raise Rejected(replies.not_implemented())
