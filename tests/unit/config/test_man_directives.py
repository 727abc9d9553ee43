"""racoon2.conf(5) documents every directive the loader accepts, in the subsection of its block:
the man page cannot drift from racoon2/config/build.py (as doc/config.md §6 cannot, by
test_doc_directives.py, whose table of blocks this reuses)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_doc_directives import EXPECTED

PAGE = Path(__file__).resolve().parents[3] / "doc" / "man" / "racoon2.conf.5"
#: The page's .Ss titles under DIRECTIVES and the §6 block each documents.
SUBSECTIONS = {
    "Sections": "Top level",
    "interface": "interface",
    "resolver": "resolver",
    "remote": "remote",
    "Key management directives": "ikev1, ikev2 and kink: common directives",
    "ikev1 only": "ikev1 only",
    "ikev2 only": "ikev2 only",
    "kink only": "kink only",
    "request": "request",
    "provide": "provide",
    "xauth": "xauth",
    "eap": "eap",
    "selector": "selector",
    "policy": "policy",
    "ipsec": "ipsec",
    "sa": "sa",
    "default": "default",
}
#: ``.It Ic name`` (or ``.It Ic name1 , Ic name2``): the directives one list item describes;
#: ``.It Ic remote No { Ic ikev1 ...`` describes ``remote`` only.
ITEM = re.compile(r"^\.It Ic ")


def _names(words: list[str]) -> list[str]:
    """The leading ``Ic NAME [, Ic NAME ...]`` of an item; what follows is its value."""
    names = []
    while len(words) >= 2 and words[0] == "Ic":
        names.append(words[1])
        if words[2:3] != [","]:
            break
        words = words[3:]
    return names


def items() -> dict[str, list[str]]:
    """The ``Ic`` names of the ``.It`` lines of each subsection of DIRECTIVES."""
    text = PAGE.read_text()
    assert "\n.Sh DIRECTIVES\n" in text, f"{PAGE} has no DIRECTIVES section"
    body = text.split("\n.Sh DIRECTIVES\n", 1)[1].split("\n.Sh ", 1)[0]
    found: dict[str, list[str]] = {}
    heading = None
    for line in body.splitlines():
        if line.startswith(".Ss "):
            heading = line[4:].strip().strip('"')
            found[heading] = []
        elif heading is not None and ITEM.match(line):
            found[heading] += _names(line.replace("\\&", "").split()[1:])
    return found


def test_one_subsection_per_block() -> None:
    assert sorted(items()) == sorted(SUBSECTIONS)
    assert sorted(SUBSECTIONS.values()) == sorted(EXPECTED)


@pytest.mark.parametrize("title", sorted(SUBSECTIONS))
def test_every_accepted_directive_is_in_its_subsection(title: str) -> None:
    listed = items().get(title, [])
    expected = EXPECTED[SUBSECTIONS[title]]
    assert sorted(set(expected) - set(listed)) == [], f"racoon2.conf.5 {title} lacks them"
    assert sorted(set(listed) - set(expected)) == [], f"not accepted in {title}"
