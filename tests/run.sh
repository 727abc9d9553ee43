#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root.  Installs what it needs (Debian
# packages, a venv in .venv), then runs ruff, mypy --strict and pytest.  Arguments go to pytest.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/harness/setup-host.sh
bash tests/harness/venv.sh
echo "== ruff";   .venv/bin/ruff check .
echo "== mypy";   .venv/bin/mypy --strict
echo "== pytest"; .venv/bin/python -m pytest "$@"
