#!/usr/bin/env bash
# Creates .venv-min in the checkout (once): the project with its test extras, but its runtime
# dependencies pinned to the lowest versions pyproject.toml declares, so that the floors stay
# the tested ones (doc/testing.md, "Lowest declared versions").  The pins are derived from
# [project].dependencies at every run (`name>=X` becomes `name==X`) and cannot drift.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv-min/bin/python ]; then
    python3 -m venv .venv-min
fi
pins=.venv-min/lowest-pins.txt
python3 - pyproject.toml >"$pins" <<'PY'
import re
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
for dep in deps:
    # A runtime dependency without a plain lower bound would leave its floor untested.
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", dep)
    if m is None:
        sys.exit(f"pyproject.toml: dependency {dep!r} has no plain '>=' lower bound to pin")
    print(f"{m[1]}=={m[2]}")
PY
.venv-min/bin/python -m pip install -q --upgrade pip
# The pins go in as constraints, so that the test extras cannot pull a newer version in.
.venv-min/bin/python -m pip install -q -c "$pins" -e '.[test]'
echo "== lowest declared versions: $(paste -sd' ' "$pins")"
