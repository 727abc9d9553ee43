"""What the converter produces: racoon2.conf statements (:class:`Out`), written out by
:func:`write`, and the report (:class:`Report`), one entry per racoon.conf statement."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from racoon2.config.lexer import RESERVED
from racoon2.convert.syntax import Stmt

_WORD = re.compile(r"[0-9A-Za-z%*\-./:?@_]+")


@dataclass
class Out:
    """One racoon2.conf statement: its words (already quoted where needed), its block, and
    the racoon.conf line it came from (written as a comment)."""

    words: list[str]
    block: list[Out] | None = None
    origin: str | None = None


def q(text: str) -> str:
    """A quoted racoon2.conf string (paths, IDs): racoon2 has no escapes, so no ``"``."""
    return '"' + text.replace('"', "'") + '"'


def name(text: str) -> str:
    """A block name as racoon2.conf takes it: quoted when it is a reserved word or has
    characters a word cannot have (doc/config.md §1)."""
    if text in RESERVED or _WORD.fullmatch(text) is None:
        return q(text)
    return text


def write(sections: list[Out], header: list[str]) -> str:
    """racoon2.conf text: the header comment lines, then every section."""
    lines = [f"# {h}" if h else "#" for h in header]
    for out in sections:
        lines.append("")
        _emit(out, 0, lines)
    return "\n".join(lines) + "\n"


def _emit(out: Out, depth: int, lines: list[str]) -> None:
    pad = "\t" * depth
    if out.origin and depth <= 1:
        lines.append(f"{pad}# from {out.origin}")
    head = " ".join(out.words)
    if out.block is None:
        lines.append(f"{pad}{head};")
        return
    lines.append(f"{pad}{head} {{")
    for inner in out.block:
        _emit(inner, depth + 1, lines)
    lines.append(f"{pad}}};")


def listed(directive: str, items: list[str]) -> Out:
    """``directive { a; b; };`` (one item: ``directive a;``)."""
    if len(items) == 1:
        return Out([directive, items[0]])
    return Out([directive], [Out([i]) for i in items])


def overridden(by: Stmt) -> str:
    """The note for a directive written again later in the block."""
    return f"written again at {by.where}: the later one counts, as in racoon"


class Outcome(Enum):
    """What became of a racoon.conf statement."""

    MAPPED = "mapped"
    CHANGED = "changed meaning"
    NONE = "no equivalent"
    USED = "used by the converter"


@dataclass
class Entry:
    """One line of the report."""

    where: str
    text: str
    outcome: Outcome
    became: str
    note: str = ""


@dataclass
class Report:
    """Every racoon.conf statement with its ``file:line`` and what it became."""

    entries: list[Entry] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)

    def add(self, stmt: Stmt, outcome: Outcome, became: str, note: str = "") -> None:
        """Record what ``stmt`` became (a statement may get several entries)."""
        self._seen.add(id(stmt))
        self.entries.append(Entry(stmt.where, stmt.text(), outcome, became, note))

    def seen(self, stmt: Stmt) -> bool:
        """Whether ``stmt`` has an entry."""
        return id(stmt) in self._seen

    def render(self) -> str:
        """The report as text: per statement ``file:line: statement`` and, indented, what it
        became and what to do; then a count per outcome."""
        lines: list[str] = []
        files: dict[str, int] = {}   # the files in the order they were read
        for e in self.entries:
            files.setdefault(_file_line(e.where)[0], len(files))

        def key(e: Entry) -> tuple[int, int]:
            file, line = _file_line(e.where)
            return files[file], line

        for e in sorted(self.entries, key=key):
            lines.append(f"{e.where}: {e.text}")
            lines.append(f"    [{e.outcome.value}] {e.became}")
            if e.note:
                lines.append(f"    → {e.note}")
        counts = {o: sum(1 for e in self.entries if e.outcome is o) for o in Outcome}
        lines.append("")
        lines.append("summary: " + ", ".join(f"{n} {o.value}" for o, n in counts.items() if n))
        return "\n".join(lines) + "\n"


def _file_line(where: str) -> tuple[str, int]:
    file, _, line = where.rpartition(":")
    return file, int(line) if line.isdigit() else 0
