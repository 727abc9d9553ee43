"""One boot (tests/vm/demo_session.sh) where the kernel has ESP, for:

* the README's demo: two racoon2 gateways bring up an IKEv2 tunnel, ping through ESP, rekey
  the CHILD_SA on the kernel's soft EXPIRE and ping through the new SAs
  (tests/harness/demo-tunnel.sh);
* iked as the VPN server of samples/roadwarrior-eap.conf for strongSwan proposing as the
  Windows, iOS and Android built-in clients do: EAP-MSCHAPv2, a virtual address from the
  pool, a ping from it through ESP to a host behind the gateway (tests/vm/native_eap.sh);
* MOBIKE (RFC 4555): the road warrior's address changes to one behind a masquerading NAT
  while a ping runs; the SAs follow into ESP-in-UDP (tests/vm/mobike_traffic.sh nat);
* each case of racoon2-setup: the generated pair of configurations brings its tunnel up
  between two namespaces and carries pings through ESP (tests/vm/setup_pair.sh).

Runs here if this kernel has ESP, else in the project's VM (Debian 12's kernel).  The scripts
check their pings and ESP counters themselves; these tests check their verdicts and the log
lines that show each step.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from racoon2.kernel import api
from racoon2.kernel.probe import probe_capabilities

sys.path.insert(0, str(Path(__file__).parent))
from vm import ROOT, run_in_vm  # noqa: E402

pytestmark = pytest.mark.vm


@pytest.fixture(scope="module")
def parts() -> dict[str, tuple[int, str]]:
    """Each part of the session: (exit status, output)."""
    if os.geteuid() != 0:
        pytest.skip("the demo needs root (namespaces, qemu)")
    script = "bash tests/vm/demo_session.sh"
    if api.Proto.ESP in probe_capabilities().protos:
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=2400)
    else:
        done = run_in_vm(script, timeout=2400)
    out = done.stdout + done.stderr
    found = {m.group(1): (int(m.group(2)), m.start())
             for m in re.finditer(r"^== part (\S+) \(rc (\d+), \d+ s\)$", out, re.M)}
    ends = sorted(at for _, at in found.values()) + [len(out)]
    return {name: (rc, out[at:ends[ends.index(at) + 1]]) for name, (rc, at) in found.items()} \
        | {"": (done.returncode, out)}


def _part(parts: dict[str, tuple[int, str]], name: str) -> str:
    assert name in parts, parts[""][1][-6000:]
    rc, out = parts[name]
    assert rc == 0, out[-6000:]
    return out


def test_demo_tunnel_carries_esp(parts: dict[str, tuple[int, str]]) -> None:
    out = _part(parts, "demo")
    assert "DEMO OK" in out
    assert "ACQUIRE for 192.0.2.1/32" in out
    assert out.count("established with") == 2
    assert "3 packets transmitted, 3 received" in out
    assert "deleted by the peer" in out
    assert "reached its soft lifetime: rekeying the CHILD_SA" in out
    assert "CHILD_SA of policy gw_b_tunnel rekeyed:" in out
    assert "2 packets transmitted, 2 received" in out  # through the rekeyed SAs


#: What iked chose of each client's IKE proposals (tests/interop/test_eap_interop.py's).
CHOSEN = {"windows": "AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024",
          "ios": "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
          "android": "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"}


@pytest.mark.parametrize("profile", list(CHOSEN))
def test_native_client_pings_from_its_virtual_address(parts: dict[str, tuple[int, str]],
                                                       profile: str) -> None:
    out = _part(parts, "native")
    result = re.search(rf"^NATIVE RESULT {profile}: (.*)$", out, re.M)
    assert result is not None, out[-4000:]
    print(result.group(0))  # the figures (pytest -s shows them)
    figures = dict(f.split("=", 1) for f in result.group(1).split())
    assert re.fullmatch(r"198\.51\.100\.\d+", figures["vip"]), figures
    assert figures["proposal"] == CHOSEN[profile], figures
    assert int(figures["packets_out"]) >= 3 and int(figures["packets_in"]) >= 3, figures
    assert f"NATIVE OK: {profile}" in out


def test_mobike_moves_behind_a_nat_under_traffic(parts: dict[str, tuple[int, str]]) -> None:
    out = _part(parts, "mobike-nat")
    result = re.search(r"^MOBIKE NAT RESULT: (.*)$", out, re.M)
    assert result is not None, out[-4000:]
    print(result.group(0))  # the pings lost, for doc/iked.md (pytest -s shows them)
    assert "(NAT: this host)" in out and "(NAT: the peer)" in out, out
    assert "encap type espinudp" in out, out
    assert "MOBIKE NAT OK" in out


@pytest.mark.parametrize("peer", ["strongswan-ikev1", "libreswan-ikev1"])
def test_ikev1_rekeys_under_traffic(parts: dict[str, tuple[int, str]], peer: str) -> None:
    """Issue 18's proof in the VM: iked's IKEv1 tunnel to strongSwan (version = 1), then to
    libreswan's pluto, carries a ping every 100 ms while IPsec SAs of 20 s and ISAKMP SAs of
    60 s are rekeyed (by both sides with strongSwan; by iked alone with pluto, which as
    tests/harness/peers/libreswan.sh configures it never starts one)."""
    out = _part(parts, f"rekey-{peer}")
    result = re.search(rf"^REKEY RESULT {peer}: (.*)$", out, re.M)
    assert result is not None, out[-4000:]
    print(result.group(0))  # the figures, for doc/performance.md (pytest -s shows them)
    figures = dict(f.split("=", 1) for f in result.group(1).split())
    assert int(figures["child_rekeys"]) >= 4 and int(figures["ike_rekeys"]) >= 1, figures
    assert f"REKEY OK: {peer}" in out


@pytest.mark.parametrize("case", ["site-to-site", "host-to-host", "site-to-site-v6", "vpn-psk",
                                  "vpn-certs", "vpn-eap", "l2tp"])
def test_setup_case_carries_pings(parts: dict[str, tuple[int, str]], case: str) -> None:
    out = _part(parts, "setup")
    assert f"SETUP CASE OK: {case}" in out, out[-6000:]
