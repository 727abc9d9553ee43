"""Addresses, ports and protocols of racoon2.conf (doc/config.md, "Values").

``addr_spec`` as cfparse.y reads it (``STRING``, ``STRING port STRING``, ``unix STRING``), the
conversion rcs_getaddrlist did (macro, numeric address/prefix, host name; here also a selector
range), and ``upper_layer_protocol``.  Conversion errors raise :class:`FixError`.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from typing import Final

from racoon2.config.lexer import KEYWORD, Token, describe
from racoon2.config.model import MACROS, Address, AddrKind, AddrSpec, ConfigWarning
from racoon2.config.names import protocol_number, service_port
from racoon2.config.parser import Statement
from racoon2.config.values import Ctx, FixError, args, found, items, number, single
from racoon2.errors import ConfigError

_DECIMAL = re.compile(r"[0-9]+")
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?\Z"
)


def addr_spec(ctx: Ctx, s: Statement, words: Sequence[Token], *, default_port: int = 0,
              unix_ok: bool = False, port_ok: bool = True, range_ok: bool = False) -> AddrSpec:
    """``ADDR``, ``ADDR port PORT`` or (where allowed) ``unix PATH`` (doc/config.md, "Values")."""
    where = s.at(words[0]) if words else s.where
    if words and words[0][0] == KEYWORD and words[0][1] == "unix":
        if not unix_ok:
            raise found(s, words[0], "an address ('unix PATH' is for the spmd interface only)")
        if len(words) != 2:
            raise found(s, words[2] if len(words) > 2 else None, "a socket path after 'unix'")
        return AddrSpec(AddrKind.UNIX, ctx.text(s, words[1], "a socket path"), where)
    if not words:
        raise found(s, None, "an address")
    port = default_port
    if len(words) > 1:
        if not port_ok:
            raise found(s, words[1], "';' after the address (no port here)")
        if words[1][0] != KEYWORD or words[1][1] != "port" or len(words) != 3:
            raise found(s, words[1], "'port PORT' or ';' after the address")
        port = _port(ctx, s, words[2])
    text = ctx.text(s, words[0], "an address")
    return parse_address(text, where, port, range_ok=range_ok)


def _port(ctx: Ctx, s: Statement, token: Token) -> int:
    text = ctx.text(s, token, "a port")
    if text == "any":
        return 0
    # rcs_getport: a service name first, then strtol base 10 (ASCII digits only: str.isdigit
    # would let int() see other scripts' digits).
    if _DECIMAL.fullmatch(text):
        if len(text.lstrip("0")) <= 5 and int(text.lstrip("0") or "0") <= 65535:
            return int(text.lstrip("0") or "0")
    elif (value_or_none := service_port(text)) is not None:
        return value_or_none
    raise FixError(f"found {describe(token) if len(text) <= 24 else repr(text[:12] + '…')}, "
                   "expected a port: a number up to 65535, a service name or 'any'", s.at(token))


def parse_address(text: str, where: str, port: int = 0, *, range_ok: bool = False) -> AddrSpec:
    """Classify an expanded address text: macro, numeric address/prefix, host name, or (where
    ``range_ok``: selectors) a range ``START-END``.  Errors are FixErrors (rcs_getaddrlist)."""
    addr, slash, plen_text = text.partition("/")
    prefixlen = None
    if slash:
        if not _DECIMAL.fullmatch(plen_text) or len(plen_text.lstrip("0")) > 3:
            raise FixError(f"found {_short(text)}, expected a decimal prefix length after '/'",
                           where)
        prefixlen = int(plen_text.lstrip("0") or "0")
    base, pct, ifname = addr.rpartition("%")
    if pct and ifname and base in MACROS:
        return AddrSpec(AddrKind.MACRO, base, where, prefixlen=prefixlen, port=port,
                        ifname=ifname)
    if addr in MACROS:
        return AddrSpec(AddrKind.MACRO, addr, where, prefixlen=prefixlen, port=port)
    ip = numeric_address(addr)
    if ip is not None:
        full = ip.max_prefixlen
        if prefixlen is not None and prefixlen > full:
            raise FixError(f"found prefix length {prefixlen}, expected at most {full}", where)
        return AddrSpec(AddrKind.INET, addr, where, address=ip,
                        prefixlen=full if prefixlen is None else prefixlen, port=port,
                        ifname=getattr(ip, "scope_id", None))
    if prefixlen is None and _is_hostname(addr):
        return AddrSpec(AddrKind.FQDN, addr, where, port=port)
    if range_ok and prefixlen is None and "-" in addr[1:]:
        return _range(text, where, port)
    hint = "ranges a-b are for selector src and dst only" if "-" in addr[1:] else None
    raise FixError(
        f"found {_short(text)}, expected an IPv4/IPv6 address or prefix, a macro such as MY_IP, "
        "or a host name", where, hint,
    )


def _short(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:40] + "…")


def _range(text: str, where: str, port: int) -> AddrSpec:
    # cftoken.l's {string} swallows "A-B" as one word (the lone '-' token is for addresspool);
    # the C loader then kept it as a host name nobody could resolve.  Here it is a range.
    first, _, last = text.partition("-")
    start, end = numeric_address(first), numeric_address(last)
    if start is None or end is None or start.version != end.version or int(start) > int(end):
        raise FixError(f"found {_short(text)}, expected an address range START-END of one "
                       "family with START not above END", where)
    return AddrSpec(AddrKind.RANGE, text, where, address=start, port=port, end=end)


def _is_hostname(text: str) -> bool:
    # RFC 1123 §2.1: a top-level label is never all digits, which rules out "10.0.0.1-10.0.0.9".
    return bool(_HOSTNAME.match(text)) and not text.rstrip(".").rsplit(".", 1)[-1].isdigit()


def numeric_address(text: str) -> Address | None:
    """``text`` as an IPv4/IPv6 address (IPv6 may carry ``%zone``), or None."""
    # inet_pton is several times faster than ipaddress's parser, which matters at 10,000 peers.
    try:
        if ":" not in text:
            return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
        if "%" not in text:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
        return ipaddress.IPv6Address(text)
    except (OSError, ValueError):
        return None


def addr_list(default_port: int = 0, *, unix_ok: bool = False, range_ok: bool = False
              ) -> Callable[[Ctx, Statement], tuple[AddrSpec, ...]]:
    """A parser for one ``addr_spec`` or a braced list of them."""

    def parse(ctx: Ctx, s: Statement) -> tuple[AddrSpec, ...]:
        return tuple(
            addr_spec(ctx, item, item.words, default_port=default_port, unix_ok=unix_ok,
                      range_ok=range_ok)
            for item in items(s, "an address")
        )

    return parse


def one_addr(ctx: Ctx, s: Statement) -> AddrSpec:
    """A single address without port (``my_sa_ipaddr``, ``mip6_home_prefix``)."""
    return addr_spec(ctx, s, args(s), port_ok=False)


def port(ctx: Ctx, s: Statement) -> int:
    """``peers_kmp_port PORT;`` (the documented intent; the C loader refused every value)."""
    return _port(ctx, s, single(s, "a port"))


#: Protocols whose numbers after ``upper_layer_protocol`` mean something (cfsetup.c
#: rcf_fix_upper_layer_protocol): ICMP and ICMPv6 take type and code, MH (135) a type.
ICMP_PROTOCOLS: Final = frozenset({1, 58})
MH: Final = 135
# strtol base 0; int() limits only non-power-of-two bases, so only the decimal part is bounded.
_STRTOL_AUTO = re.compile(r"(-?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]{0,9}))")


def protocol(ctx: Ctx, s: Statement) -> tuple[int, int | None, int | None]:
    """``upper_layer_protocol PROTO [N1 [N2]]``: (protocol, N1, N2); ``any`` is 255.

    PROTO is a string the C loader read with strtol base 0 (rcf_setproto), so unlike every other
    number ``010`` is eight and ``0X11`` is 17; N1 and N2 are the grammar's ``number``.  The
    grammar takes them after any protocol; only ICMP/ICMPv6 (type, code) and MH (type) use
    them, elsewhere they are dropped with a warning (the C loader's "spurious extra ulp
    parameter").
    """
    words = args(s)
    if not words or len(words) > 3:
        raise found(s, words[3] if words else None, "PROTO [TYPE [CODE]]")
    text = ctx.text(s, words[0], "a protocol")
    proto: int | None = None
    if text == "any":
        proto = 255
    elif (m := _STRTOL_AUTO.fullmatch(text)) is not None:
        sign, hexa, octal, dec = m.groups()
        proto = int(hexa, 16) if hexa else int(octal, 8) if octal else int(dec)
        proto = -proto if sign else proto
    elif text[:1] not in "-0123456789":
        proto = protocol_number(text)
    if proto is None or not 0 <= proto <= 255:
        raise FixError(f"found {_short(text)}, expected a protocol: 'any', a number 0-255 or a "
                       "name such as tcp", s.at(words[0]))
    if len(words) == 1:
        return proto, None, None
    extra = [number(ctx, s, w, "a type/code number") for w in words[1:]]
    for w, value in zip(words[1:], extra, strict=True):
        if not 0 <= value <= 255:
            raise FixError(f"found {value}, expected a type/code number 0-255", s.at(w))
    used = 2 if proto in ICMP_PROTOCOLS else 1 if proto == MH else 0
    if len(extra) > used:
        what = "code" if used == 1 else "type or code"
        ctx.notes.append(ConfigWarning(s.where, f"upper_layer_protocol {text} takes no {what}: "
                                       f"{' '.join(map(str, extra[used:]))} ignored"))
        extra = extra[:used]
    return proto, (extra[0] if extra else None), (extra[1] if len(extra) > 1 else None)


def prefix_list(ctx: Ctx, s: Statement) -> tuple[AddrSpec, ...]:
    """``subnet PREFIX;`` or a braced list: numeric prefixes only (INTERNAL_IP4/6_SUBNET);
    ``subnet { };`` sends none."""
    if s.block is not None and not s.block and len(s.words) == 1:
        return ()
    out = addr_list()(ctx, s)
    for spec in out:
        if spec.kind is not AddrKind.INET or spec.port:
            raise ConfigError(f"found {spec.text!r}, expected a numeric prefix such as "
                              "198.51.100.0/24 or 2001:db8:1::/48", spec.where)
    return out
