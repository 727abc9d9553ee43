"""How long racoon2.conf loading takes for a large configuration (issue 22 item 4).

Two generated shapes, N remotes + N selectors + N policies each:

* ``simple``: IKEv2 PSK remotes (peer ID, one IPv6 address, key file path; the algorithms in the
  default section), selectors sharing one ipsec/sa.
* ``issue``: what issue 22 asks for: every remote has an IPv4 and an IPv6 address, an ID list
  (``my_id`` and ``peers_id`` of two identities each), its own PSK file (created, mode 0600) and
  several algorithms per list; every selector its own policy.

It times ``load_config`` in process (best of ``--repeat``) and ``iked -n`` from exec to exit,
beside ``iked -n`` on a 1-remote file of the same shape (target: < 1.0 s more), in wall-clock
and CPU seconds (on a shared, loaded machine the CPU figure is the one that means something).
With a cache directory (a fresh one, ``RACOON2_CACHE_DIR``) the first ``iked -n`` is cold, the
next ones warm.

    python benchmarks/config_parse.py [--shape issue] [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from racoon2.config import load_config

BIN = Path(sys.executable).parent

HEAD = """default {
	remote {
		acceptable_kmp { ikev2; };
		ikev2 {
			my_id fqdn "gw.example.net";
			kmp_enc_alg { aes256_cbc; aes128_cbc; };
			kmp_prf_alg { hmac_sha2_256; };
			kmp_hash_alg { hmac_sha2_256; };
			kmp_dh_group { modp2048; };
			kmp_auth_method { psk; };
			kmp_sa_lifetime_time 8 hours;
		};
	};
};
ipsec ips { ipsec_sa_lifetime_time 1 hour; sa_index esp1; };
sa esp1 { sa_protocol esp; esp_enc_alg { aes128_cbc; }; esp_auth_alg { hmac_sha2_256; }; };
"""
# What differs per peer, as an admin with many peers writes it: the rest is in default.
PEER = """remote peer{i} {{
	acceptable_kmp {{ ikev2; }};
	ikev2 {{
		peers_id fqdn "peer{i}.example.net";
		peers_ipaddr {addr} port 500;
		pre_shared_key "/etc/racoon2/psk/peer{i}.psk";
	}};
}};
"""
# Each remote's selector and policy, in both shapes.
SELECTOR = """selector sel{i} {{
	direction outbound;
	src 2001:db8:1::/64;
	dst {dst};
	upper_layer_protocol any;
	policy_index pol{i};
}};
policy pol{i} {{
	action auto_ipsec;
	remote_index peer{i};
	ipsec_mode transport;
	ipsec_index {{ ips; }};
	ipsec_level require;
}};
"""
PEER += SELECTOR

ISSUE_HEAD = """default {{
	remote {{
		acceptable_kmp {{ ikev2; }};
		ikev2 {{ kmp_sa_lifetime_time 8 hours; kmp_auth_method {{ psk; }}; }};
	}};
}};
interface {{ ike {{ 192.0.2.1; 2001:db8::ffff; }}; spmd {{ unix "{run}/spmif"; }};
	spmd_password "{psk}/spmd.pwd"; }};
ipsec ips {{ ipsec_sa_lifetime_time 1 hour; sa_index esp1; }};
sa esp1 {{ sa_protocol esp; esp_enc_alg {{ aes256_cbc; aes128_cbc; 3des_cbc; }};
	esp_auth_alg {{ hmac_sha2_256; hmac_sha1; }}; }};
"""
ISSUE_PEER = """remote peer{i} {{
	acceptable_kmp {{ ikev2; }};
	ikev2 {{
		my_id {{ fqdn "gw.example.net"; ipaddr 192.0.2.1; }};
		peers_id {{ fqdn "peer{i}.example.net"; email "admin@peer{i}.example.net"; }};
		peers_ipaddr {{ {v4} port 500; {v6} port 500; }};
		pre_shared_key "{psk}/peer{i}.psk";
		kmp_enc_alg {{ aes256_cbc; aes192_cbc; aes128_cbc; 3des_cbc; }};
		kmp_prf_alg {{ hmac_sha2_512; hmac_sha2_256; hmac_sha1; }};
		kmp_hash_alg {{ hmac_sha2_512; hmac_sha2_256; hmac_sha1; }};
		kmp_dh_group {{ modp3072; modp2048; modp1536; }};
	}};
}};
"""
ISSUE_PEER += SELECTOR


def generate(count: int) -> str:
    """The text of the ``simple`` shape with ``count`` remotes, selectors and policies."""
    base = ipaddress.IPv6Address("2001:db8::1")
    return HEAD + "".join(PEER.format(i=i, addr=base + i, dst=base + i) for i in range(count))


def generate_issue(count: int, psk: Path, run: Path) -> str:
    """The text of the ``issue`` shape; creates the PSK files (0600) in ``psk``."""
    psk.mkdir(mode=0o700, exist_ok=True)
    for i in ("spmd.pwd", *(f"peer{i}.psk" for i in range(count))):
        fd = os.open(psk / i, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.write(fd, b"benchmark-psk")
        os.close(fd)
    v4 = ipaddress.IPv4Address("198.51.100.0")
    v6 = ipaddress.IPv6Address("2001:db8::1")
    return ISSUE_HEAD.format(run=run, psk=psk) + "".join(
        ISSUE_PEER.format(i=i, v4=v4 + i % 65536, v6=v6 + i, dst=v6 + i, psk=psk)
        for i in range(count))


def children_cpu() -> float:
    """CPU seconds (user + system) of the waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_check(path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds ``iked -n -f path`` takes from exec to exit (it must say OK)."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "iked"), "-n", "-f", str(path)], capture_output=True,
                          text=True, check=False, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"iked -n failed: {done.stderr.strip()}")
    return took, children_cpu() - cpu


def main() -> None:
    """Generate, load, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shape", choices=("simple", "issue"), default="issue")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "run").mkdir(mode=0o700)
        (root / "cache").mkdir(mode=0o700)

        def write(name: str, count: int) -> tuple[Path, str]:
            text = (generate(count) if opts.shape == "simple"
                    else generate_issue(count, root / "psk", root / "run"))
            path = root / name
            path.write_text(text)
            return path, text

        path, text = write("racoon2.conf", opts.count)
        best = cpu = float("inf")
        for _ in range(opts.repeat):
            start, used = time.perf_counter(), time.process_time()
            config = load_config(str(path))
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - used)
        assert len(config.remotes) == opts.count and len(config.selectors) == opts.count
        lines = text.count("\n")
        print(f"config_parse: {opts.shape} shape, {opts.count} remotes + {opts.count} selectors "
              f"+ {opts.count} policies, {lines} lines, {len(text) / 1e6:.1f} MB")
        print(f"config_parse: load_config, no cache, best of {opts.repeat}: {best:.3f} s "
              f"({lines / best:,.0f} lines/s), CPU {cpu:.3f} s")
        if opts.shape == "simple":
            return
        one, _ = write("one.conf", 1)
        env = dict(os.environ, RACOON2_CACHE_DIR=str(root / "cache"))
        small = min(time_check(one, env) for _ in range(opts.repeat))
        cold = time_check(path, env)
        warm = min(time_check(path, env) for _ in range(opts.repeat))
        nocache = dict(os.environ, RACOON2_CACHE_DIR="")
        uncached = min(time_check(path, nocache) for _ in range(opts.repeat))
        print(f"config_parse: iked -n, 1 remote: {small[0]:.3f} s, CPU {small[1]:.3f} s")
        for label, (took, used) in (("no cache", uncached), ("cold cache", cold),
                                    ("warm cache", warm)):
            verdict = "met" if took - small[0] < 1.0 else "NOT met"
            print(f"config_parse: iked -n, {opts.count} remotes, {label}: {took:.3f} s "
                  f"(+{took - small[0]:.3f} s; target < +1.0 s: {verdict}), CPU {used:.3f} s "
                  f"(+{used - small[1]:.3f} s)")


if __name__ == "__main__":
    main()
