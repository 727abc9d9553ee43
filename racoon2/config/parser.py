"""racoon2.conf syntax (doc/config.md §1): every statement is words, an optional block, ``;``.

The parser knows only that shape; which directive may appear where, and what its words mean, is
:mod:`racoon2.config.build`'s job.  It keeps an explicit stack, so no input can exhaust Python's
recursion limit.
"""

from __future__ import annotations

from typing import NamedTuple

from racoon2.config.lexer import (
    KEYWORD,
    PUNCT,
    QUOTED,
    RESERVED,
    SCANNER,
    STRING,
    Token,
    describe,
    raise_bad,
)
from racoon2.errors import ConfigError


class Statement(NamedTuple):
    """``words`` then, for a block, the statements inside ``{ }``; ``line`` is the first word's."""

    words: tuple[Token, ...]
    block: tuple[Statement, ...] | None
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line`` of the statement's first word."""
        return f"{self.file}:{self.line}"

    def at(self, token: Token) -> str:
        """``file:line`` of one of this statement's tokens."""
        return f"{self.file}:{token[2]}"


def parse(text: str, file: str, line: int = 1) -> list[Statement]:
    """Scan and group ``text`` (the contents of ``file``, starting on ``line``: an
    incremental reload parses only the statements that changed) into the statement tree.

    One pass over the scanner's matches: tokens are made and grouped in the same loop (a
    separate token list cost a tenth of the load time of a 10,000-peer file).  Raises
    :class:`ConfigError` for the first lexical or structural error.
    """
    top: list[Statement] = []
    items = top
    stack: list[tuple[list[Token], list[Statement]]] = []
    words: list[Token] = []
    closed: tuple[list[Token], tuple[Statement, ...], Token] | None = None
    last_script = False
    last: Token | None = None
    reserved = RESERVED
    for newline, quoted, word, punct, bad in SCANNER.findall(text):
        if word:
            token: Token = (KEYWORD if word in reserved else STRING, word, line)
        elif newline:
            line += 1
            continue
        elif quoted:
            token = (QUOTED, quoted[1:-1], line)
            line += quoted.count("\n")
        elif punct:
            token = (PUNCT, punct, line)
        elif bad:
            raise_bad(bad, file, line)
            continue
        else:
            continue
        last = token
        if closed is not None:
            cwords, block, brace = closed
            if punct != ";":
                raise ConfigError(
                    f"found {describe(token)}, expected ';' after the '}}' of "
                    f"'{_head(cwords)}'", f"{file}:{brace[2]}",
                )
            items.append(Statement(tuple(cwords), block, file, cwords[0][2]))
            closed = None
            last_script = False
            continue
        if not punct or punct == ",":
            words.append(token)
        elif punct == ";":
            if words:
                items.append(Statement(tuple(words), None, file, words[0][2]))
                last_script = words[0][1] == "script"
                words = []
            elif last_script:
                last_script = False  # the C grammar needed "script TYPE PATH;;": tolerate it
            else:
                raise ConfigError(
                    "found ';', expected a directive", f"{file}:{line}", "remove the extra ';'"
                )
        elif punct == "{":
            if not words:
                raise ConfigError("found '{', expected a directive name before it",
                                  f"{file}:{line}")
            stack.append((words, items))
            words = []
            items = []
            last_script = False
        else:  # "}"
            if words:
                raise _missing_semicolon(words, token, file)
            if not stack:
                raise ConfigError("found '}', expected a directive (no block is open)",
                                  f"{file}:{line}")
            owner, outer = stack.pop()
            closed = (owner, tuple(items), token)
            items = outer
    if words:
        raise _missing_semicolon(words, None, file)
    if closed is not None:
        cwords, _, brace = closed
        raise ConfigError(f"found end of file, expected ';' after the '}}' of '{_head(cwords)}'",
                          f"{file}:{brace[2]}")
    if stack:
        owner, _ = stack[-1]
        end = last[2] if last is not None else line
        raise ConfigError(
            f"found end of file, expected '}}' to close '{_head(owner)}' "
            f"opened at line {owner[0][2]}", f"{file}:{end}",
        )
    return top


def _head(words: list[Token]) -> str:
    return " ".join(t[1] for t in words[:2])


def _missing_semicolon(words: list[Token], found: Token | None, file: str) -> ConfigError:
    last = words[-1]
    return ConfigError(
        f"found {describe(found)}, expected ';' after {describe(last)}",
        f"{file}:{(found or last)[2]}",
        f"end the '{words[0][1]}' statement with ';'",
    )
