"""The security policies racoon relied on, from setkey(8) input or ``setkey -DP`` output.

racoon negotiated what the kernel's SPD asked for; racoon2 keeps the policies in racoon2.conf
(selector → policy → ipsec → sa), so the converter needs them.  Two forms are read:

* setkey.conf: ``spdadd SRC[/plen][[port]] DST[…] UPPER -P in|out|fwd [prio N]
  none|discard|ipsec PROTO/MODE/SRC-DST/LEVEL … ;`` (``add``/``delete``/``flush`` … are
  manual SAs: kept as :class:`Skipped` for the report);
* ``setkey -DP``: one entry per policy, its first line ``SRC[port] DST[port] UPPER``, then
  ``in|out|fwd [prio …] ipsec|none|discard``, the requests, and counters that are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from racoon2.errors import RacoonConfError

_LEVELS = ("default", "use", "require", "unique")


@dataclass(frozen=True, slots=True)
class Request:
    """One ``proto/mode/src-dst/level`` of an ipsec policy."""

    proto: str            # esp, ah, ipcomp
    mode: str             # transport, tunnel
    src: str | None       # tunnel endpoints (None in transport mode)
    dst: str | None
    level: str            # default, use, require, unique
    reqid: int | None


@dataclass(frozen=True, slots=True)
class SpdEntry:
    """One kernel policy: selector, direction, action and its requests."""

    where: str
    src: str              # address/prefix
    dst: str
    sport: str            # a number or "any"
    dport: str
    upper: str            # any, tcp, icmp, a number …
    direction: str        # in, out, fwd
    action: str           # ipsec, none, discard
    requests: tuple[Request, ...]
    text: str = ""        # the entry as written, for the report


@dataclass(frozen=True, slots=True)
class Skipped:
    """A setkey statement that is no policy (manual SAs, flushes), for the report."""

    where: str
    text: str


def parse_spd(text: str, file: str) -> list[SpdEntry | Skipped]:
    """setkey.conf or ``setkey -DP`` output, whichever ``text`` is."""
    if re.search(r"^\s*(spdadd|spdupdate|add|flush|spdflush)\b", text, re.MULTILINE):
        return _setkey_conf(text, file)
    return _dump(text, file)


def _statements(text: str, file: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r'#.*', "", raw).strip() if '"' not in raw else raw.strip()
        if not line:
            continue
        if not buf:
            start = number
        buf.append(line)
        if line.endswith(";"):
            out.append((" ".join(buf)[:-1].strip(), start))
            buf = []
    if buf:
        raise RacoonConfError("found the end of the file, expected ';'", f"{file}:{start}")
    return out


def _setkey_conf(text: str, file: str) -> list[SpdEntry | Skipped]:
    out: list[SpdEntry | Skipped] = []
    for stmt, line in _statements(text, file):
        where = f"{file}:{line}"
        words = stmt.split()
        if words[0] not in ("spdadd", "spdupdate"):
            out.append(Skipped(where, stmt))
            continue
        words = [w for w in words[1:] if w not in ("-4", "-6", "-n")]
        if "-P" not in words or words.index("-P") < 3:
            raise RacoonConfError(f"found {stmt!r}, expected spdadd SRC DST UPPER -P DIR "
                                  "ACTION …", where)
        p = words.index("-P")
        src, dst, upper = words[0], words[1], " ".join(words[2:p])
        out.append(_entry(where, src, dst, upper, words[p + 1:], " ".join(stmt.split())))
    return out


def _dump(text: str, file: str) -> list[SpdEntry | Skipped]:
    out: list[SpdEntry | Skipped] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        head = lines[i].split()
        if not head or lines[i][:1].isspace():
            i += 1
            continue
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i][:1].isspace():
            line = lines[i].strip()
            if line and not re.match(r"(created|lifetime|spid|refcnt|lastused)", line):
                body.extend(line.split())
            i += 1
        if head[0].startswith("(per-socket"):
            out.append(Skipped(f"{file}:{start}", "(per-socket policy)"))
            continue
        if len(head) < 3 or not body:
            raise RacoonConfError(f"found {' '.join(head)!r}, expected a `setkey -DP` entry "
                                  "(SRC DST UPPER, then the direction line)", f"{file}:{start}")
        out.append(_entry(f"{file}:{start}", head[0], head[1], " ".join(head[2:]), body,
                          " ".join(head + body)))
    return out


def _entry(where: str, src: str, dst: str, upper: str, policy: list[str], text: str
           ) -> SpdEntry:
    if not policy or policy[0] not in ("in", "out", "fwd"):
        raise RacoonConfError(f"found {' '.join(policy[:1]) or 'nothing'!r}, expected the "
                              "direction in, out or fwd", where)
    direction = policy[0]
    rest = policy[1:]
    if rest[:1] == ["prio"] or rest[:1] == ["priority"]:
        # prio N | prio def | prio low|def|high + N
        rest = rest[4:] if len(rest) > 2 and rest[2] in ("+", "-") else rest[2:]
    if not rest or rest[0] not in ("ipsec", "none", "discard", "entrust", "bypass"):
        raise RacoonConfError(f"found {' '.join(rest[:1]) or 'nothing'!r}, expected ipsec, "
                              "none or discard", where)
    action = {"bypass": "none", "entrust": "none"}.get(rest[0], rest[0])
    requests = tuple(_request(r, where) for r in rest[1:])
    if action == "ipsec" and not requests:
        raise RacoonConfError("found ipsec without a request, expected PROTO/MODE/SRC-DST/LEVEL",
                              where)
    (s, sp), (d, dp) = _addr_port(src, where), _addr_port(dst, where)
    return SpdEntry(where, s, d, sp, dp, upper, direction, action, requests, text)


def _addr_port(text: str, where: str) -> tuple[str, str]:
    m = re.fullmatch(r"([^\[\]]+?)(?:\[(\w+|\*)\])?", text)
    if m is None:
        raise RacoonConfError(f"found {text!r}, expected ADDRESS[/PREFIX][[PORT]]", where)
    port = m.group(2) or "any"
    return m.group(1), "any" if port == "*" else port


def _request(text: str, where: str) -> Request:
    parts = text.split("/")
    if len(parts) < 3 or parts[0] not in ("esp", "ah", "ipcomp") or \
            parts[1] not in ("transport", "tunnel"):
        raise RacoonConfError(f"found {text!r}, expected PROTO/MODE/SRC-DST/LEVEL (esp, ah or "
                              "ipcomp; transport or tunnel)", where)
    proto, mode, ends = parts[0], parts[1], parts[2]
    level, reqid = (parts[3] if len(parts) > 3 and parts[3] else "default"), None
    if ":" in level:
        level, _, number = level.partition(":")
        if not number.isdigit():
            raise RacoonConfError(f"found {text!r}, expected unique:NUMBER", where)
        reqid = int(number)
    if level not in _LEVELS:
        raise RacoonConfError(f"found level {level!r}, expected one of {', '.join(_LEVELS)}",
                              where)
    src = dst = None
    if mode == "tunnel":
        if ends.count("-") != 1:
            raise RacoonConfError(f"found {text!r}, expected tunnel endpoints SRC-DST", where)
        src, dst = ends.split("-")
    return Request(proto, mode, src, dst, level, reqid)
