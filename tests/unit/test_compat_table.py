"""doc/iked.md's compatibility table names only interop tests that exist: a test that records
rows checks them itself (tests/interop/compat.py), and this catches rows whose test is gone."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

INTEROP = Path(__file__).resolve().parents[1] / "interop"


def test_every_row_names_an_existing_test() -> None:
    spec = importlib.util.spec_from_file_location("compat", INTEROP / "compat.py")
    assert spec is not None and spec.loader is not None
    compat = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("compat", compat)  # dataclasses look their module up
    spec.loader.exec_module(compat)
    tests = compat.documented(compat.DOC.read_text())
    assert tests, "the table is empty"
    for test in tests:
        m = re.fullmatch(r"([\w.]+)::(\w+)(?:\[[^\]]+\])?", test)
        assert m is not None, f"{test}: expected file::function[params]"
        file, function = m.groups()
        source = (INTEROP / file).read_text()
        assert re.search(rf"^def {function}\(", source, re.M), f"{test} is not a test"
        assert "record(request" in source, f"{file} records no rows"
