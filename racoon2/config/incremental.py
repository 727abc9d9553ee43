"""Reload a configuration by re-reading only the selectors whose text changed (doc/design.md,
"Incremental reload").

:func:`full` is :func:`racoon2.config.load_config` that also keeps a :class:`Baseline`: each
file's text, where its top-level statements start and what they are, and each selector
statement's model object with the notes reading it made.  :func:`update` compares the files
with it: where a file's text differs, only the top-level statements around the difference
are parsed again, and when every one of them (before and after) is a ``selector``, only those
are built and linked to the policies that the configuration already links; everything else
is the previous model's own objects.  It returns None (the caller then loads the whole file
again) whenever it cannot say that the result is what a full load gives: another kind of
statement changed, a statement's line moved, an include matches other files, a new selector
names a policy no selector reached before or the policies the selectors reach are not the
same ones in the same order, or anything raises a ConfigError (a full load then reports the
very same ``file:line:`` error).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from racoon2.config import without_gc
from racoon2.config.files import (
    Identity,
    Source,
    check_safe_file,
    glob_of,
    identity,
    probe,
    read_text,
    read_tree,
    sourcing,
)
from racoon2.config.lexer import KEYWORD
from racoon2.config.model import Config, ConfigWarning, Policy, Selector
from racoon2.config.parser import Statement, parse
from racoon2.errors import ConfigError

if TYPE_CHECKING:
    from racoon2.config.build import Built
    from racoon2.config.values import Ctx

# racoon2.config.build and .values are imported where they are used: a daemon that starts
# from the load cache unpickles a Baseline but reads no statement.

SELECTOR = "selector"


@dataclass(slots=True)
class FileState:
    """One file of a loaded configuration: per top-level statement (in file order) its first
    line, its head word, its selector (None for other statements) and, when not empty, the
    notes reading it made; per include statement what it matched."""

    path: str
    ident: Identity
    text: str
    lines: list[int]
    kinds: list[str]
    selectors: list[Selector | None]
    notes: dict[int, tuple[ConfigWarning, ...]]
    included: dict[int, tuple[str, tuple[str, ...]]]


@dataclass(slots=True)
class Baseline:
    """What :func:`update` compares a reload with: the files from ``root`` and which of the
    model's notes are the selectors' (``config.notes[start:len - after]``)."""

    root: str
    files: dict[str, FileState]
    start: int
    after: int


def full(path: str, environ: Mapping[str, str], *, freeze: bool = False
         ) -> tuple[Config, Baseline | None]:
    """:func:`racoon2.config.load_config` and the baseline of what it read (None when a file
    is read twice: a statement there would stand for two places of the model)."""
    from racoon2.config.build import Built, build

    sources: list[Source] = []
    built = Built()

    def load() -> Config:
        with sourcing(sources):
            statements = read_tree(path, environ)
        return build(statements, path, environ, built)

    config = without_gc(load, freeze=freeze)
    return config, _baseline(path, sources, built, config)


def _baseline(root: str, sources: list[Source], built: Built, config: Config
              ) -> Baseline | None:
    files: dict[str, FileState] = {}
    for src in sources:
        if src.path in files or src.ident is None:
            return None
        selectors: list[Selector | None] = []
        notes: dict[int, tuple[ConfigWarning, ...]] = {}
        for index, s in enumerate(src.statements):
            found = built.selectors.get(id(s))
            selectors.append(None if found is None else found[0])
            if found is not None and found[1]:
                notes[index] = found[1]
        files[src.path] = FileState(src.path, src.ident, src.text,
                                    [s.line for s in src.statements],
                                    [s.words[0][1] for s in src.statements], selectors, notes,
                                    dict(src.included))
    return Baseline(root, files, built.start, len(config.notes) - built.end)


@dataclass(frozen=True, slots=True)
class Update:
    """A configuration :func:`update` made, its baseline, and the files that changed."""

    config: Config
    baseline: Baseline
    changed: tuple[str, ...]


def update(base: Baseline, config: Config, environ: Mapping[str, str]) -> Update | None:
    """``config`` (loaded with ``base``) with what changed in its files since; None when only
    a full load can say (see the module docstring)."""
    try:
        return without_gc(lambda: _update(base, config, environ))
    except ConfigError:
        return None


def _update(base: Baseline, config: Config, environ: Mapping[str, str]) -> Update | None:
    from racoon2.config import values as v

    files = dict(base.files)
    changed: list[str] = []
    reached = _reached(config.selectors)
    ctx_setval = MappingProxyType(dict(config.setval))
    for path, state in base.files.items():
        for pattern, matches in state.included.values():
            if glob_of(pattern) != matches:
                return None
        if probe(path) == state.ident:
            continue
        ident = identity(check_safe_file(path, secret=False))
        patched = _patch(state, read_text(path), ident,
                         lambda s: _selector(v.Ctx(ctx_setval, environ), s, reached))
        if patched is None:
            return None
        files[path] = patched
        changed.append(path)
    if not changed:
        return Update(config, base, ())
    selectors: list[Selector] = []
    notes: list[ConfigWarning] = list(config.notes[:base.start])
    for sel, sel_notes in _walk(files, base.root):
        selectors.append(sel)
        notes.extend(sel_notes)
    if list(_reached(selectors)) != list(reached):
        return None  # remotes list their policies in that order: a full load relinks them
    notes.extend(config.notes[len(config.notes) - base.after:])
    by_name: dict[str, Selector] = {}
    for sel in selectors:
        by_name.setdefault(sel.name, sel)
    new = dataclasses.replace(config, selectors=tuple(selectors), notes=tuple(notes),
                              _selectors=MappingProxyType(by_name))
    return Update(new, Baseline(base.root, files, base.start, base.after), tuple(changed))


def _reached(selectors: tuple[Selector, ...] | list[Selector]) -> dict[str, Policy]:
    """The policies selectors link, by name, in the order a full load links them."""
    found: dict[str, Policy] = {}
    for sel in selectors:
        if sel.policy is not None and sel.policy.name not in found:
            found[sel.policy.name] = sel.policy
    return found


def _selector(ctx: Ctx, s: Statement, reached: dict[str, Policy]
              ) -> tuple[Selector, tuple[ConfigWarning, ...]] | None:
    from racoon2.config.build import selector

    sel = selector(ctx, s)
    policy = None
    if sel.policy_index is not None:
        policy = reached.get(sel.policy_index)
        if policy is None:
            return None  # a policy no selector linked yet: a full load links and checks it
    object.__setattr__(sel, "policy", policy)  # as build's _link does while building
    return sel, tuple(ctx.notes)


def _walk(files: Mapping[str, FileState], path: str
          ) -> Iterator[tuple[Selector, tuple[ConfigWarning, ...]]]:
    """Every selector and its notes in the order a full load reads them."""
    state = files[path]
    for index, kind in enumerate(state.kinds):
        if kind == SELECTOR:
            sel = state.selectors[index]
            assert sel is not None
            yield sel, state.notes.get(index, ())
        elif index in state.included:
            for match in state.included[index][1]:
                yield from _walk(files, match)


Make = Callable[[Statement], tuple[Selector, tuple[ConfigWarning, ...]] | None]


def _patch(state: FileState, text: str, ident: Identity, make: Make) -> FileState | None:
    """``state`` with the statements around where ``text`` differs from its own made again
    (``make``: statement → selector and notes, or None), or None."""
    old = state.text
    if old == text:
        return dataclasses.replace(state, ident=ident)
    first = _common_prefix(old, text)
    tail = _common_suffix(old, text, min(len(old), len(text)) - first)
    old_end = len(old) - tail  # old[first:old_end] became text[first:len(text) - tail]
    lines = state.lines
    first_line = old.count("\n", 0, first) + 1
    last_line = old.count("\n", 0, max(old_end - 1, first)) + 1
    # From the line of the last statement that starts at or before the first change, to the
    # line of the first statement that starts after the last one.
    r = bisect_right(lines, first_line)
    i = bisect_left(lines, lines[r - 1]) if r else 0
    start_line = lines[i] if r else 1
    k = bisect_right(lines, last_line)
    start = _line_start(old, first, first_line, start_line)
    end = len(old) if k == len(lines) else _line_start(old, max(old_end - 1, first),
                                                       last_line, lines[k])
    old_part = old[start:end]
    new_part = text[start:end + len(text) - len(old)]
    moved = new_part.count("\n") - old_part.count("\n")
    if moved and k < len(lines):
        return None  # every statement below would have other lines: a full load
    before = parse(old_part, state.path, start_line)
    if [s.line for s in before] != lines[i:k] or \
            [s.words[0][1] for s in before] != state.kinds[i:k] or \
            [s.words[1][1] if len(s.words) > 1 else None for s in before] != \
            [sel.name if sel is not None else None for sel in state.selectors[i:k]]:
        return None  # the cut was not between statements after all
    after = parse(new_part, state.path, start_line)
    if not all(_is_selector(s) for s in (*before, *after)):
        return None
    reuse: dict[Statement, list[int]] = {}
    for n, s in enumerate(before, i):
        reuse.setdefault(s, []).append(n)
    selectors: list[Selector | None] = []
    notes: dict[int, tuple[ConfigWarning, ...]] = {}
    for n, s in enumerate(after, i):
        same = reuse.get(s)  # the same text on the same line: the same model object
        if same:
            was = same.pop(0)
            selectors.append(state.selectors[was])
            if was in state.notes:
                notes[n] = state.notes[was]
            continue
        made = make(s)
        if made is None:
            return None
        selectors.append(made[0])
        if made[1]:
            notes[n] = made[1]
    shift = len(after) - (k - i)
    for n, found in state.notes.items():
        if n < i:
            notes[n] = found
        elif n >= k:
            notes[n + shift] = found
    included = {n if n < i else n + shift: found for n, found in state.included.items()}
    return FileState(state.path, ident, text,
                     lines[:i] + [s.line for s in after] + lines[k:],
                     state.kinds[:i] + [SELECTOR] * len(after) + state.kinds[k:],
                     state.selectors[:i] + selectors + state.selectors[k:], notes, included)


def _is_selector(s: Statement) -> bool:
    head = s.words[0]
    return head[0] == KEYWORD and head[1] == SELECTOR and s.block is not None


def _line_start(text: str, pos: int, line: int, wanted: int) -> int:
    """Where line ``wanted`` starts, from ``pos`` on line ``line``."""
    if wanted <= line:  # back to the newline that ends line wanted - 1
        for _ in range(line - wanted + 1):
            pos = text.rfind("\n", 0, pos)
            if pos < 0:
                return 0
        return pos + 1
    pos = text.find("\n", pos)  # the end of line ``line``, then on to that of wanted - 1
    for _ in range(wanted - 1 - line):
        pos = text.find("\n", pos + 1)
    return pos + 1


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (halving: each compare runs in C)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most ``limit``."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:len(a) - lo] == b[len(b) - mid:len(b) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo
