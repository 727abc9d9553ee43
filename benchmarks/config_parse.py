"""How long racoon2.conf parsing takes for a large configuration (issue: < 1 s on 2 cores).

Generates a configuration with N remotes (IKEv2, PSK: peer ID, address and key file each; the
algorithms in the default section) and N selectors (one policy each, sharing one ipsec/sa), then
times ``load_config`` on it: best of ``--repeat`` runs, and tokens/s.

    python benchmarks/config_parse.py [--count 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import tempfile
import time

from racoon2.config import load_config

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
selector sel{i} {{
	direction outbound;
	src 2001:db8:1::/64;
	dst {addr};
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


def generate(count: int) -> str:
    """The text of a configuration with ``count`` remotes, selectors and policies."""
    base = ipaddress.IPv6Address("2001:db8::1")
    return HEAD + "".join(PEER.format(i=i, addr=base + i) for i in range(count))


def main() -> None:
    """Generate, parse, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    text = generate(opts.count)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "racoon2.conf")
        with open(path, "w") as f:
            f.write(text)
        best = float("inf")
        for _ in range(opts.repeat):
            start = time.perf_counter()
            config = load_config(path)
            best = min(best, time.perf_counter() - start)
    assert len(config.remotes) == opts.count and len(config.selectors) == opts.count
    lines = text.count("\n")
    print(f"config_parse: {opts.count} remotes + {opts.count} selectors + {opts.count} policies, "
          f"{lines} lines, {len(text) / 1e6:.1f} MB")
    print(f"config_parse: best of {opts.repeat}: {best:.3f} s ({lines / best:,.0f} lines/s); "
          f"target < 1 s: {'met' if best < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
