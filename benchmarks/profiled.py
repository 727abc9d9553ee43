"""Run a console script (iked) under cProfile, counting CPU time from a signal on.

``python benchmarks/profiled.py STATS SCRIPT ARGS...``: the profiler starts at SIGRTMIN (so
start-up is left out: benchmarks/ike_responder.py sends it just before the load) and its stats
go to STATS when the script exits.  The timer is the process's CPU time, not the wall clock:
a profile taken on a loaded machine does not charge the waits in epoll or the time other
processes had the core.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
import time


def main() -> None:
    """Run sys.argv[2:] as a script with the profiler armed."""
    out, script = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]
    prof = cProfile.Profile(time.process_time)
    signal.signal(signal.SIGRTMIN, lambda *_: prof.enable())
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        prof.disable()
        prof.dump_stats(out)


if __name__ == "__main__":
    main()
