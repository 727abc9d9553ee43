"""10,000 IPsec policies into the kernel: the netlink XFRM backend vs ``ip -batch``.

Both run in private network namespaces made for the run (root needed), on the same policy set:
tunnel-mode ESP policies for 10,000 distinct /24s.  Prints both rates and the ratio
(ours / ip; the target is >= 1.0).  ``--count`` changes the size.

    python benchmarks/policy_install.py [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import subprocess
import tempfile
import time

import pyroute2.netns

from racoon2.kernel import api
from racoon2.kernel.xfrm.backend import XfrmBackend

GW_A, GW_B = "198.51.100.1", "203.0.113.1"


def specs(count: int) -> list[api.PolicySpec]:
    """The policy set, as the backend takes it."""
    tmpl = (api.Template(api.Proto.ESP, api.Mode.TUNNEL, ipaddress.ip_address(GW_A),
                         ipaddress.ip_address(GW_B), 1),)
    return [api.PolicySpec(api.Selector(ipaddress.ip_network(_net(i)),
                                        ipaddress.ip_network("192.0.2.0/24")),
                           api.Direction.OUTBOUND, api.Owner.TESTS, templates=tmpl)
            for i in range(count)]


def _net(i: int) -> str:
    return f"10.{i >> 8 & 255}.{i & 255}.0/24"


def batch_text(count: int) -> str:
    """The same set as ``ip -batch`` lines."""
    return "".join(
        f"xfrm policy add src {_net(i)} dst 192.0.2.0/24 dir out priority 1375731712 "
        f"tmpl src {GW_A} dst {GW_B} proto esp reqid 1 mode tunnel\n" for i in range(count))


def fresh_netns() -> str:
    """A new namespace; the caller deletes it."""
    name = f"r2bench-{os.getpid()}-{time.monotonic_ns() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    return name


def time_ours(count: int, indexes: bool) -> float:
    """Seconds for the backend to install ``count`` policies (and learn their indexes)."""
    name = fresh_netns()
    try:
        pyroute2.netns.pushns(name)
        try:
            return asyncio.run(_ours(specs(count), indexes))
        finally:
            pyroute2.netns.popns()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


async def _ours(batch: list[api.PolicySpec], indexes: bool) -> float:
    backend = await XfrmBackend.open()
    try:
        start = time.perf_counter()
        results = await backend.add_policies(batch, indexes=indexes)
        took = time.perf_counter() - start
        failed = [r for r in results if not isinstance(r, api.PolicyKey)]
        if failed:
            raise SystemExit(f"{len(failed)} policies failed: {failed[0]}")
        return took
    finally:
        await backend.close()


def time_ip(count: int) -> float:
    """Seconds for ``ip -batch`` to install the same set."""
    name = fresh_netns()
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".batch") as f:
            f.write(batch_text(count))
            f.flush()
            start = time.perf_counter()
            subprocess.run(["ip", "-n", name, "-batch", f.name], check=True)
            return time.perf_counter() - start
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def main() -> None:
    """Run both, best of --repeat, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    runs: dict[str, list[float]] = {"ours": [], "indexed": [], "ip": []}
    for _ in range(opts.repeat):  # interleaved, so both see the same machine load
        runs["ours"].append(time_ours(opts.count, indexes=False))
        runs["indexed"].append(time_ours(opts.count, indexes=True))
        runs["ip"].append(time_ip(opts.count))
    ours, indexed, ip = (min(runs[k]) for k in ("ours", "indexed", "ip"))
    n = opts.count
    print(f"policy_install: {n} policies, best of {opts.repeat}")
    print(f"policy_install: netlink XFRM backend  {ours:.3f} s = {n / ours:,.0f} policies/s")
    print(f"policy_install:   + kernel indexes    {indexed:.3f} s = {n / indexed:,.0f} policies/s "
          "(one dump; what spmd uses)")
    print(f"policy_install: ip -batch             {ip:.3f} s = {n / ip:,.0f} policies/s")
    print(f"policy_install: ratio ours/ip = {ip / ours:.2f} (target >= 1.0); "
          f"with indexes {ip / indexed:.2f}")


if __name__ == "__main__":
    main()
