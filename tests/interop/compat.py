"""The compatibility table of doc/iked.md (client profile × auth × result), produced by the
interop tests that establish or refuse each case.

A test calls :func:`record` with its rows once its assertions hold: the rows go to a JSON file
of its own under :data:`RESULTS` (for :func:`render`), and must equal the rows doc/iked.md
lists for that test, so the table cannot drift from what the tests see.  The suite each row
names is the one the peer's log says was selected in that run.

    python tests/interop/compat.py            # the table from the last run's results
    python tests/interop/compat.py --write    # ... written into doc/iked.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "doc" / "iked.md"
RESULTS = Path(os.environ.get("R2_COMPAT_DIR", ROOT / ".ci-artifacts" / "compat"))
BEGIN, END = "<!-- compat-table: begin -->", "<!-- compat-table: end -->"
HEADER = ("| Client profile | IKE suite chosen | Auth | Result | Test |\n"
          "|---|---|---|---|---|\n")
_SELECTED = re.compile(r"selected proposal: IKE:(\S+)")


@dataclass(frozen=True, order=True)
class Row:
    """One case: the client profile, the IKE suite chosen, the authentication, the result."""

    client: str
    suite: str
    auth: str
    result: str

    def line(self, test: str) -> str:
        """The row as a table line, ``test`` in the last column."""
        return "| " + " | ".join((*astuple(self), f"`{test}`")) + " |"


def suite(peer_log: str) -> str:
    """The IKE suite strongSwan's log says it selected last, as charon spells it."""
    found = _SELECTED.findall(peer_log)
    return found[-1].replace("/", " / ") if found else ""


def _test_name(request: pytest.FixtureRequest) -> str:
    """file::function[params] without the directory: the table's Test column."""
    return request.node.nodeid.rsplit("/", 1)[-1]


def documented(text: str) -> dict[str, list[str]]:
    """doc/iked.md's table lines between the markers, by their Test column."""
    if BEGIN not in text or END not in text:
        raise AssertionError(f"{DOC}: no {BEGIN} ... {END} block")
    rows: dict[str, list[str]] = {}
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    for line in block.splitlines():
        m = re.search(r"\| `([^`]+)` \|$", line)
        if m:
            rows.setdefault(m.group(1), []).append(line)
    return rows


def record(request: pytest.FixtureRequest, rows: list[Row]) -> None:
    """Keep this test's rows for :func:`render` and check doc/iked.md lists exactly them."""
    test = _test_name(request)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", test)
    (RESULTS / f"{name}.json").write_text(json.dumps(
        {"test": test, "rows": [astuple(r) for r in rows]}))
    lines = [r.line(test) for r in rows]
    doc = documented(DOC.read_text()).get(test, [])
    assert doc == lines, (f"doc/iked.md's compatibility table is stale for {test}: it has "
                          f"{doc}, the test saw {lines}; run python tests/interop/compat.py "
                          "--write after the interop tests")


def render(results: Path = RESULTS, keep: dict[str, list[str]] | None = None) -> str:
    """The table from every result file, ordered by test then as recorded; ``keep``: the
    documented lines of tests that did not run (a partial run leaves them as they were)."""
    found = {e["test"]: [Row(*r).line(e["test"]) for r in e["rows"]]
             for e in (json.loads(p.read_text()) for p in results.glob("*.json"))}
    lines = {**(keep or {}), **found}
    return HEADER + "".join(f"{line}\n" for test in sorted(lines) for line in lines[test])


def main() -> None:
    """Print the table, or write it into doc/iked.md between its markers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update doc/iked.md")
    args = parser.parse_args()
    text = DOC.read_text()
    if not args.write:
        sys.stdout.write(render())
        return
    table = render(keep=documented(text))
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + BEGIN + "\n" + table + END + rest.split(END, 1)[1])


if __name__ == "__main__":
    main()
