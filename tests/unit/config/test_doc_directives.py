"""doc/config.md §6 names every directive the loader accepts, once per block, and no other:
the table of who consumes what cannot drift from racoon2/config/build.py."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from racoon2.config import build as b
from racoon2.config.model import Defaults
from racoon2.config.rules import Rule

DOC = Path(__file__).resolve().parents[3] / "doc" / "config.md"
SECTION = "## 6. Every directive: who consumes it"


def _only(table: Iterable[str], common: Iterable[str]) -> list[str]:
    return [name for name in table if name not in set(common)]


#: Each table of §6 (its ### heading) and the directives the loader accepts in that block.
EXPECTED: dict[str, list[str]] = {
    # include is spliced in by racoon2/config/files.py before build sees the sections.
    "Top level": [*b.SINGLE, *b.NAMED, "include"],
    "interface": list(b.INTERFACE),
    "resolver": list(b.RESOLVER),
    "remote": list(b.REMOTE),
    "ikev1, ikev2 and kink: common directives": list(b.COMMON_KMP),
    "ikev1 only": _only(b.IKEV1, b.COMMON_KMP),
    "ikev2 only": _only(b.IKEV2, b.COMMON_KMP),
    "kink only": _only(b.KINK, b.COMMON_KMP),
    "request": list(b.REQUESTS),
    "provide": list(b.PROVIDE),
    "xauth": list(b.XAUTH),
    "eap": list(b.EAP),
    "selector": list(b.SELECTOR),
    "policy": list(b.POLICY),
    "ipsec": list(b.IPSEC),
    "sa": list(b.SA),
    "default": [f.name for f in dataclasses.fields(Defaults) if f.name not in ("where", "at")],
}
ROW = re.compile(r"^\| `([a-z0-9_]+)` \|")


def tables() -> dict[str, list[str]]:
    """The directive column of every table in §6, by its ### heading."""
    text = DOC.read_text()
    assert SECTION in text, f"{DOC} has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    heading = None
    for line in body.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
            found[heading] = []
        elif heading is not None and (m := ROW.match(line)):
            found[heading].append(m.group(1))
    return found


def test_section_6_has_one_table_per_block() -> None:
    assert sorted(tables()) == sorted(EXPECTED)


@pytest.mark.parametrize("block", sorted(EXPECTED))
def test_every_accepted_directive_is_in_its_table_once(block: str) -> None:
    listed = tables().get(block, [])
    assert sorted(set(EXPECTED[block]) - set(listed)) == [], f"missing in doc/config.md §6 {block}"
    assert sorted(set(listed) - set(EXPECTED[block])) == [], f"not accepted in {block}"
    assert [name for name, n in Counter(listed).items() if n > 1] == []


def test_every_table_of_the_loader_is_covered() -> None:
    """A new block table in build.py needs its own table in §6 (and an entry above); private
    tables (``_KEYS``) are parts merged into public ones."""
    known = {id(t) for t in (b.INTERFACE, b.RESOLVER, b.REMOTE, b.COMMON_KMP, b.IKEV1, b.IKEV2,
                             b.KINK, b.PROVIDE, b.XAUTH, b.EAP, b.SELECTOR, b.POLICY, b.IPSEC,
                             b.SA)}
    tables_in_build = [name for name, value in vars(b).items()
                       if name.isupper() and not name.startswith("_") and isinstance(value, dict)
                       and value and all(isinstance(r, Rule) for r in value.values())
                       and id(value) not in known]
    assert tables_in_build == []
