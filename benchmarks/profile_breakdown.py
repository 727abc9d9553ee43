"""Where a responder's CPU goes: a cProfile stats file summed into the areas of issue #22.

Each function's own time (cProfile's tottime, not including what it calls) is charged to the
first area whose pattern its file and name match, so the shares add up to 100 %.  Shares are
what to compare between runs: absolute times carry cProfile's own overhead (it roughly doubles
the cost of small Python calls) and the load of a shared machine.

    python benchmarks/ike_responder.py --counts 2000 --profile /tmp/iked.prof
    python benchmarks/profile_breakdown.py /tmp/iked.prof [--sas 2000] [--top 25]
"""

from __future__ import annotations

import argparse
import pstats
import re

#: (area, regular expression over "file:function"), first match wins.
AREAS: tuple[tuple[str, str], ...] = (
    ("key exchange (X25519)", r"crypto/dh\.py|x25519|X25519"),
    ("key derivation (prf+, SKEYSEED, KEYMAT)", r"crypto/(keymat|prf)\.py|hmac\.py|"
                                                r"_hashlib|openssl.*hmac"),
    ("SK payload (AES, ICV)", r"ikev2/sk\.py|crypto/(encr|integ)\.py|Cipher|cipher|"
                              r"openssl.*(encrypt|decrypt|update|finalize)"),
    ("AUTH (PSK)", r"crypto/auth\.py|ikev2/intauth\.py"),
    ("random (nonces, SPIs)", r"crypto/rng\.py|urandom|secrets\.py|random\.py"),
    ("decode/encode (message, payloads)", r"racoon2/ikev2/(message|payloads)\.py|"
                                          r"_struct|struct\.py|int\.from_bytes|to_bytes"),
    ("proposal matching", r"ikev2/proposals\.py|crypto/transforms\.py"),
    ("traffic selectors", r"ikev2/ts\.py|ipaddress\.py"),
    ("settings lookups", r"ikev2/settings\.py|racoon2/config/|iked/lookup\.py"),
    ("logging", r"logging/|iked/.*log|_log\b"),
    ("timers (heap, window)", r"heapq|ikev2/window\.py|call_later|call_at|TimerHandle|"
                              r"_timer|deadline"),
    ("asyncio per datagram (loop, socket)", r"asyncio/|selectors\.py|socket|sendto|recv|"
                                            r"epoll|_run_once|udp\.py"),
    ("kernel stand-in (-D 0x8 memory backend)", r"kernel/"),
    ("IKE state machine (iked/ikev2, shell)", r"iked/"),
    ("dataclasses, enum, typing", r"dataclasses\.py|enum\.py|typing\.py|<string>"),
)


def breakdown(path: str) -> tuple[dict[str, float], float, list[tuple[float, str]]]:
    """(seconds per area, total seconds, [(seconds, function)] by own time) of a stats file."""
    stats = pstats.Stats(path)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = \
        stats.stats  # type: ignore[attr-defined]
    areas = {name: 0.0 for name, _ in AREAS} | {"other": 0.0}
    compiled = [(name, re.compile(rx)) for name, rx in AREAS]
    functions = []
    total = 0.0
    for (file, line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        where = f"{file}:{func}"
        area = next((name for name, rx in compiled if rx.search(where)), "other")
        areas[area] += tt
        total += tt
        functions.append((tt, f"{file.split('site-packages/')[-1]}:{line}({func})"))
    functions.sort(reverse=True)
    return areas, total, functions


def main() -> None:
    """Print the areas' shares (and ms per SA with ``--sas``) and the top functions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stats")
    parser.add_argument("--sas", type=int, default=0, help="SAs set up during the profile")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    areas, total, functions = breakdown(args.stats)
    per = f"{'ms/SA':>8}" if args.sas else ""
    print(f"{'area':<45} {'share':>6} {per}")
    for name, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        ms = f"{seconds * 1000 / args.sas:>8.3f}" if args.sas else ""
        print(f"{name:<45} {seconds / total:>6.1%} {ms}")
    print(f"{'total (profiled)':<45} {1:>6.1%} "
          f"{f'{total * 1000 / args.sas:>8.3f}' if args.sas else ''}")
    print(f"\ntop {args.top} functions by own time:")
    for seconds, name in functions[:args.top]:
        print(f"  {seconds / total:>6.1%}  {name}")


if __name__ == "__main__":
    main()
