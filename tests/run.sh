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
# The whole suite runs hypothesis at CI strength (10,000 examples per property); a developer's
# bare `pytest` uses the quicker dev profile (tests/conftest.py).
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
echo "== pytest"; .venv/bin/python -m pytest "$@"
