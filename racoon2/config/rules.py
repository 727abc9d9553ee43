"""How the directives of one block are read (doc/config.md §1, §2): one table per block,
one loop (:func:`block_values`) for what cfparse.y and cfsetup.c do with every block — a body
needs a statement, and a directive written twice is refused, merged, or one occurrence wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from racoon2.config import values as v
from racoon2.config.lexer import KEYWORD, describe
from racoon2.config.model import ConfigWarning, Script
from racoon2.config.parser import Statement
from racoon2.errors import ConfigError

Parse = Callable[[v.Ctx, Statement], Any]


#: How a repeated directive combines with the earlier one: (kept, new, first_wins) → value.
Merge = Callable[[Any, Any, bool], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one directive is read: ``alg`` lists and ``once`` directives may not repeat; a
    ``merge`` directive adds up when repeated instead of one occurrence winning."""

    parse: Parse
    alg: bool = False
    once: bool = False
    merge: Merge | None = None
    merged: str = ""


def rule(parse: Parse, *, once: bool = False, merge: Merge | None = None, merged: str = ""
         ) -> Rule:
    """A :class:`Rule` for ``parse``."""
    return Rule(parse, once=once, merge=merge, merged=merged)


def concat(kept: tuple[Any, ...], new: tuple[Any, ...], first_wins: bool) -> tuple[Any, ...]:
    """Both lists in order: rcf_fix_ipsec_index / rcf_fix_sa_index append to the earlier one."""
    return kept + new


def union(kept: tuple[Any, ...], new: tuple[Any, ...], first_wins: bool) -> tuple[Any, ...]:
    """The set of both, in first-seen order: rcf_fix_acceptable_kmp ORs the protocols in and
    the first one ever listed initiates."""
    return kept + tuple(k for k in new if k not in kept)


def by_type(kept: tuple[Script, ...], new: tuple[Script, ...], first_wins: bool
            ) -> tuple[Script, ...]:
    """One script per hook type: rcf_fix_script fills one slot per type, so a repeated
    ``script`` directive replaces (or, with ``first_wins``, keeps) only the types it names."""
    table = {sc.type: sc for sc in kept}
    for sc in new:
        if not (first_wins and sc.type in table):
            table[sc.type] = sc
    return tuple(table.values())


def block_values(
    ctx: v.Ctx, s: Statement, table: Mapping[str, Rule], what: str, *,
    first_wins: bool = False, empty_ok: bool = False,
) -> tuple[dict[str, Any], tuple[tuple[str, int], ...]]:
    """Read the directives of block ``s``: field values and where each (that counts) was written.

    cfparse.y wants at least one statement in every block (``x_list: x_spec EOS | …``) except
    ``request``, ``provide``, ``script`` and ``addresspool`` (``empty_ok``).  A repeated scalar:
    the last counts, or the first with ``first_wins``; either way it is noted for ``-n``.
    """
    if s.block is None:
        raise v.found(s, s.words[-1] if len(s.words) > 1 else None,
                      f"'{{' to open the '{what}' block")
    if not s.block and not empty_ok:
        raise ConfigError(f"found an empty '{what}' block, expected at least one directive",
                          s.where, "the original's grammar refuses '{ }' here")
    fields: dict[str, Any] = {}
    at: list[tuple[str, int]] = []
    for item in s.block:
        head = item.words[0]
        rule = table.get(head[1]) if head[0] == KEYWORD else None
        if rule is None:
            raise ConfigError(
                f"found {describe(head)}, expected a directive of '{what}'", item.where,
                f"'{what}' takes: {', '.join(table)}",
            )
        key = head[1]
        if key not in fields:
            fields[key] = rule.parse(ctx, item)
            at.append((key, item.line))
            continue
        if rule.alg:
            raise v.FixError(
                f"found a second '{key}', expected one algorithm list per block",
                item.where, f"merge it with the one at line {_first_line(s, key)}",
            )
        if rule.once:
            raise ConfigError(f"found a second '{key}', expected it once", item.where,
                              f"the first is at line {_first_line(s, key)}")
        value = rule.parse(ctx, item)
        if rule.merge is not None:
            fields[key] = rule.merge(fields[key], value, first_wins)
            outcome = rule.merged
        elif first_wins:
            outcome = "the first one counts (the original reads ikev2 { } backwards)"
        else:
            fields[key] = value
            at = [(k, item.line if k == key else line) for k, line in at]
            outcome = "this one counts"
        ctx.notes.append(ConfigWarning(item.where, f"'{key}' repeated in '{what}' (first at "
                                       f"line {_first_line(s, key)}): {outcome}"))
    if "upper_layer_protocol" in fields:
        proto, icmp_type, icmp_code = fields.pop("upper_layer_protocol")
        fields["upper_layer_protocol"] = proto
        fields["icmp_type"] = icmp_type
        fields["icmp_code"] = icmp_code
    return fields, tuple(at)


def _first_line(s: Statement, key: str) -> int:
    return next(item.line for item in s.block or () if item.words[0][1] == key)
