"""racoon.conf (ipsec-tools / KAME racoon, racoon.conf(5)) read into a tree of statements.

The scanner follows racoon's cftoken.l in what it lets through: ``#`` and ``/* … */``
comments, ``"quoted strings"`` (no escapes), ``{ } ; ,`` as punctuation, a port written
``[500]`` (or ``[any]``) glued to an address or apart from it, and every other run of
characters as one word (``192.0.2.0/24``, ``fe80::1%eth0``, ``0x12ab``).  A statement is its
words up to ``;``, or up to a ``{ … }`` block (racoon writes no ``;`` after ``}``, a stray one
is tolerated).  What the words mean is :mod:`racoon2.convert.grammar`'s business.

``include "FILE";`` is followed here: the caller hands in a reader (file or glob → the
matching files' names and texts), so this module stays pure; the included statements keep
their own ``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from racoon2.errors import RacoonConfError

WORD = "word"
QUOTED = "quoted"
PORT = "port"
PUNCT = "punct"

#: racoon's include depth limit (cftoken.l MAX_INCLUDE_DEPTH).
MAX_INCLUDE_DEPTH = 10

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+) | (?P<nl>\n) | (?P<comment>\#[^\n]*)
  | (?P<ccomment>/\*.*?\*/) | (?P<unclosed>/\*)
  | (?P<quoted>"[^"]*") | (?P<port>\[\s*(?:\d+|any|\*)\s*\]) | (?P<punct>[{};,])
  | (?P<word>[^\s{};,"\#\[\]]+) | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)

#: include "FILE": the reader returns the files a path or glob names, as (name, text) pairs.
Reader = Callable[[str], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Tok:
    """One token: its kind (WORD, QUOTED without its quotes, PORT as the number or 'any',
    PUNCT) and where it stands."""

    kind: str
    text: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.file}:{self.line}"

    def shown(self) -> str:
        """The token as written, for messages and the report."""
        if self.kind == QUOTED:
            return f'"{self.text}"'
        if self.kind == PORT:
            return f"[{self.text}]"
        return self.text


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement: its first word, the tokens after it (commas kept), its block."""

    name: Tok
    args: tuple[Tok, ...]
    block: tuple[Stmt, ...] | None

    @property
    def where(self) -> str:
        """``file:line`` of the statement's first word."""
        return self.name.where

    @property
    def key(self) -> str:
        """The directive's word."""
        return self.name.text

    def groups(self) -> list[list[Tok]]:
        """The arguments split at commas: ``3des, blowfish 448`` → ``[[3des], [blowfish, 448]]``."""
        out: list[list[Tok]] = [[]]
        for tok in self.args:
            if tok.kind == PUNCT and tok.text == ",":
                out.append([])
            else:
                out[-1].append(tok)
        return out

    def text(self) -> str:
        """The statement's head as one line (``remote 192.0.2.1 inherit anonymous``)."""
        return " ".join([self.name.text, *(t.shown() for t in self.args)]).replace(" ,", ",")


def tokenize(text: str, file: str) -> list[Tok]:
    """The tokens of one file; raises RacoonConfError (file:line) on what racoon cannot scan."""
    toks: list[Tok] = []
    line = 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind == "unclosed":
            raise RacoonConfError("found '/*' without its '*/', expected the comment closed",
                                  f"{file}:{line}")
        if kind == "bad":
            raise RacoonConfError(f"found {value!r}, expected a word, a quoted string or "
                                  "one of { } ; , [port]", f"{file}:{line}")
        if kind == "quoted":
            toks.append(Tok(QUOTED, value[1:-1], file, line))
        elif kind == "port":
            toks.append(Tok(PORT, value[1:-1].strip().replace("*", "any"), file, line))
        elif kind in ("punct", "word"):
            toks.append(Tok(PUNCT if kind == "punct" else WORD, value, file, line))
        line += value.count("\n")
    return toks


def parse(text: str, file: str, reader: Reader | None = None) -> list[Stmt]:
    """The statements of a racoon.conf (includes followed through ``reader``)."""
    return _Parser(reader).file(text, file, 0)


class _Parser:
    def __init__(self, reader: Reader | None) -> None:
        self.reader = reader
        self.include_dir = ""

    def file(self, text: str, file: str, depth: int) -> list[Stmt]:
        toks = tokenize(text, file)
        return self.block(toks, 0, file, depth, top=True)[0]

    def block(self, toks: list[Tok], pos: int, file: str, depth: int, *, top: bool
              ) -> tuple[list[Stmt], int]:
        out: list[Stmt] = []
        while pos < len(toks):
            tok = toks[pos]
            if tok.kind == PUNCT and tok.text == "}":
                if top:
                    raise RacoonConfError("found '}' without its '{', expected a statement",
                                          tok.where)
                return out, pos + 1
            if tok.kind == PUNCT and tok.text == ";":
                pos += 1  # an empty statement, or the ';' some write after '}'
                continue
            if tok.kind != WORD:
                raise RacoonConfError(f"found {tok.shown()!r}, expected a directive", tok.where)
            stmt, pos = self.statement(toks, pos, file, depth)
            if top and stmt.key == "path" and stmt.args[:1] and stmt.args[0].text == "include" \
                    and len(stmt.args) > 1:
                self.include_dir = stmt.args[1].text
            if top and stmt.key == "include":
                out.extend(self.include(stmt, depth))
            else:
                out.append(stmt)
        if not top:
            last = toks[-1] if toks else None
            raise RacoonConfError("found the end of the file, expected '}'",
                                  last.where if last else f"{file}:1",
                                  "a block is not closed")
        return out, pos

    def statement(self, toks: list[Tok], pos: int, file: str, depth: int
                  ) -> tuple[Stmt, int]:
        name = toks[pos]
        pos += 1
        args: list[Tok] = []
        while pos < len(toks):
            tok = toks[pos]
            if tok.kind == PUNCT and tok.text == ";":
                return Stmt(name, tuple(args), None), pos + 1
            if tok.kind == PUNCT and tok.text == "{":
                inner, pos = self.block(toks, pos + 1, file, depth, top=False)
                return Stmt(name, tuple(args), tuple(inner)), pos
            if tok.kind == PUNCT and tok.text == "}":
                raise RacoonConfError(f"found '}}' after {name.text!r}, expected ';'",
                                      tok.where, "every statement ends with ';'")
            args.append(tok)
            pos += 1
        raise RacoonConfError(f"found the end of the file after {name.text!r}, expected ';'",
                              name.where)

    def include(self, stmt: Stmt, depth: int) -> list[Stmt]:
        if len(stmt.args) != 1 or stmt.args[0].kind != QUOTED:
            raise RacoonConfError(f"found {stmt.text()!r}, expected include \"FILE\";",
                                  stmt.where)
        if self.reader is None:
            raise RacoonConfError("found include, expected no include when converting text "
                                  "in memory", stmt.where)
        if depth + 1 >= MAX_INCLUDE_DEPTH:
            raise RacoonConfError(f"found include nested {depth + 1} deep, expected at most "
                                  f"{MAX_INCLUDE_DEPTH}", stmt.where)
        path = stmt.args[0].text
        if not path.startswith("/") and self.include_dir:
            path = f"{self.include_dir.rstrip('/')}/{path}"  # racoon: relative to path include
        files = self.reader(path)
        if not files:
            raise RacoonConfError(f"found include {path!r}, expected a file that exists",
                                  stmt.where)
        marker = Stmt(stmt.name, stmt.args, ())  # reported, its statements follow it
        out = [marker]
        for name, text in files:
            out.extend(self.file(text, name, depth + 1))
        return out
