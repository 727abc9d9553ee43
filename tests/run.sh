#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root.  Installs what it needs (Debian
# packages, a venv in .venv and one with the lowest declared dependencies in .venv-min), then
# runs ruff, mypy --strict and pytest group by group (doc/testing.md), printing each group's
# duration and, last, one line "N passed, N failed, N skipped" for all groups together.
# Arguments are pytest options and go to every pytest call; R2_TEST_GROUPS="unit kdc" runs only
# those groups.  The exit status is non-zero when a group failed.  .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# name:paths.  Every test file belongs to exactly one group: "other" runs whatever lies under
# tests/ outside the others' paths, so a new directory is never silently left out.
GROUP_PATHS=(
    "unit:tests/unit tests/pair tests/vectors tests/fuzz"
    "kernel:tests/kernel"
    "daemons:tests/daemons"
    "interop:tests/interop"
    "kdc:tests/kdc"
    "kink:tests/kink"
    "vm:tests/vm"
)
ALL_GROUPS="unit kernel daemons interop kdc kink vm other lowest"
# pytest-xdist where a group's tests are independent: the unit group is CPU-bound (hypothesis
# at CI strength), the interop tests mostly wait on their peers (two workers kept 1.1 of the
# 2 cores busy; three take 190 s instead of 280 here, 2026-12-03), each in namespaces of its
# own (random names), a file's tests in one worker (--dist loadfile: module fixtures).
declare -A PARALLEL=([unit]="-n 2" [interop]="-n 3 --dist loadfile")
SELECTED=${R2_TEST_GROUPS:-$ALL_GROUPS}
for g in $SELECTED; do
    [[ " $ALL_GROUPS " == *" $g "* ]] ||
        { echo "R2_TEST_GROUPS: no group '$g' (groups: $ALL_GROUPS)" >&2; exit 2; }
done

bash tests/harness/setup-host.sh
bash tests/harness/venv.sh
[[ " $SELECTED " != *" lowest "* ]] || bash tests/harness/venv-min.sh
echo "== ruff";   .venv/bin/ruff check .
echo "== mypy";   .venv/bin/mypy --strict
# The whole suite runs hypothesis at CI strength (10,000 examples per property); a developer's
# bare `pytest` uses the quicker dev profile (tests/conftest.py).
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}

results=$(mktemp -d /tmp/racoon2-run.XXXXXX)
trap 'rm -rf "$results"' EXIT
trap 'exit 130' INT TERM  # pytest turns ^C into exit status 2; stop, do not go on to the next group
failed_groups=()

# pytest PYTHON GROUP ARGS...: one pytest call of GROUP, its counts kept as JUnit XML.  Exit 5
# (nothing collected, or everything deselected) is no failure: a group may be empty.
pytest_call() {
    local python=$1 group=$2 rc=0; shift 2
    local xml="$results/$group.${LANE:-}$(find "$results" -name "$group.${LANE:-}*.xml" | wc -l).xml"
    "$python" -m pytest "$@" --junitxml="$xml" || rc=$?
    if ((rc != 0 && rc != 5)); then
        echo "== pytest exited with status $rc in group $group"
        [[ " ${failed_groups[*]} " == *" $group "* ]] || failed_groups+=("$group")
    fi
}

run_group() {  # run_group NAME: the group's pytest calls, then its duration
    local name=$1 start=$SECONDS entry paths=() ignores=() p; shift
    echo "== pytest: group $name"
    case $name in
        other)
            for entry in "${GROUP_PATHS[@]}"; do
                for p in ${entry#*:}; do ignores+=("--ignore=$p"); done
            done
            pytest_call .venv/bin/python other "$@" "${ignores[@]}" tests ;;
        vm)
            # Each boot is its own qemu over a tmpfs overlay, two at a time (the machine has
            # two cores): each lane takes the next file of one queue, the longest boots first
            # (2026-12-02, a clean clone, beside another boot: iked session 958 s, demo
            # session 776, kink 582, ESP matrix 418, systemd 136; the vm group 1497 s), so
            # that neither lane idles while work waits.
            # The guests import the checkout's modules: compiled here once, not by every
            # daemon a boot starts at once.  Each lane's output follows when both are done.
            local lane pids=() queue=$results/vm-queue f
            .venv/bin/python -m compileall -q racoon2 iked kinkd spmd pskgen tests >/dev/null
            printf '%s\n' tests/vm/test_iked_bundles.py tests/vm/test_demo.py \
                tests/vm/test_kink.py tests/vm/test_esp.py tests/vm/test_systemd.py >"$queue"
            for p in tests/vm/test_*.py; do grep -qxF "$p" "$queue" || echo "$p" >>"$queue"; done
            for lane in 0 1; do
                # (The lane's own verdict: the groups that failed before are not its.)
                (failed_groups=()
                 while f=$(flock "$queue.lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' _ "$queue") &&
                       [ -n "$f" ]; do
                     echo "-- vm lane $lane: $f from $((SECONDS - start)) s"
                     LANE=lane$lane pytest_call .venv/bin/python vm "$@" "$f"
                 done
                 echo "-- vm lane $lane took $((SECONDS - start)) s"
                 ((${#failed_groups[@]} == 0))) >"$results/vm-lane$lane.log" 2>&1 &
                pids+=($!)
            done
            for lane in 0 1; do
                wait "${pids[$lane]}" || { [[ " ${failed_groups[*]} " == *" vm "* ]] ||
                                           failed_groups+=(vm); }
                cat "$results/vm-lane$lane.log"
            done ;;
        lowest)
            # The dependency floors (pyproject.toml) with the unit and the daemon start-up tests;
            # the dev hypothesis profile suffices to catch an API a floor lacks.
            HYPOTHESIS_PROFILE=dev pytest_call .venv-min/bin/python lowest -n 2 "$@" tests/unit \
                tests/pair
            HYPOTHESIS_PROFILE=dev pytest_call .venv-min/bin/python lowest "$@" -m startup tests ;;
        *)
            for entry in "${GROUP_PATHS[@]}"; do
                [ "${entry%%:*}" = "$name" ] || continue
                for p in ${entry#*:}; do [ ! -e "$p" ] || paths+=("$p"); done
            done
            if ((${#paths[@]})); then
                # shellcheck disable=SC2086  # PARALLEL is a list of options
                pytest_call .venv/bin/python "$name" ${PARALLEL[$name]:-} "$@" "${paths[@]}"
            else
                echo "(no test directory here)"
            fi ;;
    esac
    echo "== group $name: $((SECONDS - start)) s"
}

for g in $SELECTED; do
    run_group "$g" "$@"
done

((${#failed_groups[@]} == 0)) || echo "== failed groups: ${failed_groups[*]}"
# The closing line over all groups: errors count as failed, and a group whose pytest failed
# without a failing test (interrupted, usage or internal error) as one failed.
.venv/bin/python - "$results" "${failed_groups[@]}" <<'PY'
import pathlib
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
failing = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skip = int(suite.get("skipped", 0))
        passed += int(suite.get("tests", 0)) - bad - skip
        failed += bad
        skipped += skip
        group = path.name.split(".")[0]
        failing[group] = failing.get(group, 0) + bad
failed += sum(1 for group in sys.argv[2:] if not failing.get(group))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
((${#failed_groups[@]} == 0))
