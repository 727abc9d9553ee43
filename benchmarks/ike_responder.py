"""IKE_SA + CHILD_SA setups against a responder: iked beside strongSwan, same driver, same load.

Two namespaces from tests/harness/peers/netns.sh (root needed).  The responder in B is first
racoon2 (spmd + iked) and then strongSwan's charon (kernel-netlink), both with the same
proposal (aes128-sha256-x25519, PSK) and an ESP transport CHILD_SA; this host's kernel has no
ESP, so each responder's CHILD_SA install fails the same way after the full negotiation (both
keep the IKE SA).  The driver in A is this project's pure IKEv2 initiator
(:class:`iked.ikev2.sa.IkeSa`) over a real UDP socket, keeping ``--window`` negotiations in
flight (below both responders' cookie thresholds).  Measured from /proc: the responder's CPU
seconds (user + system) per established IKE SA, and its RSS growth per IKE SA.

    python benchmarks/ike_responder.py [--counts 1000 10000] [--window 8]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pyroute2 import netns

from iked.events import Event, IkeSaUp, NegotiationFailed
from iked.ikev2 import proposals
from iked.ikev2.sa import Continue, IkeSa, State
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.ts import Ts
from iked.ikev2.window import Schedule
from racoon2.config.model import AlgSpec
from racoon2.crypto.rng import Rng, SystemRng
from racoon2.errors import ParseError
from racoon2.ikev2 import message
from racoon2.kernel import api
from racoon2.net import Endpoint

ROOT = Path(__file__).resolve().parents[1]

HARNESS = ROOT / "tests" / "harness" / "peers"
BIN = Path(sys.executable).parent
PSK = "racoon2-benchmark-psk"
A, B = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
CLK = os.sysconf("SC_CLK_TCK")


def _alg(*names: str) -> tuple[AlgSpec, ...]:
    return tuple(AlgSpec(n, "benchmark") for n in names)


PEER = PeerSettings(
    remote="bench", my_ids=((1, A.packed),), peers_ids=((1, B.packed),), verify_id=True,
    psk=PSK.encode(), ike_proposals=proposals.ike_proposals(
        _alg("aes128_cbc"), _alg("hmac_sha2_256"), _alg("hmac_sha2_256"), _alg("curve25519")),
    nonce_size=32, schedule=Schedule(2.0, 5, 1), lifetime=0, nego_limit=60, dpd_delay=0,
    send_peers_id=False, nat_traversal=True, initial_contact=False, need_pfs=False,
    cookie_required=False, passive=False)
CHILD = ChildSettings(
    policy="pol", selector="out", reqid=0, tunnel=False, local_ts=(Ts(A, A),),
    remote_ts=(Ts(B, B),), my_sa_addr=None, peers_sa_addr=None,
    esp=((_alg("aes128_cbc"), _alg("hmac_sha2_256")),), esn=False, lifetime_seconds=3600,
    lifetime_bytes=0)


class Driver:
    """Many initiator IKE SAs over one socket; the Host their cores talk to."""

    def __init__(self, sock: socket.socket, total: int, window: int) -> None:
        self.rng: Rng = SystemRng()
        self.sock = sock
        self.local = Endpoint(A, sock.getsockname()[1])
        self.remote = Endpoint(B, 500)
        self.total, self.window = total, window
        self.sas: dict[bytes, IkeSa] = {}
        self.started = self.up = self.failed = 0
        self.done = asyncio.Event()

    # Host protocol ---------------------------------------------------------------------------
    def send(self, sa: IkeSa, data: bytes) -> None:
        self.sock.sendto(data, (str(sa.remote.addr), sa.remote.port))

    def request(self, sa: IkeSa, op: api.KernelOp, then: Continue) -> None:
        # The driver installs nothing: an SPI is all the initiator needs from a kernel.
        then(int.from_bytes(self.rng.random_bytes(4), "big") | 0x100
             if isinstance(op, api.AllocSpi) else None, time.monotonic())

    def emit(self, event: Event) -> None:
        if isinstance(event, IkeSaUp):
            self.up += 1
        elif isinstance(event, NegotiationFailed) and event.stage != "CHILD_SA":
            self.failed += 1

    def drop(self, remote: Endpoint, reason: object, detail: str = "") -> None:
        return

    def peer_by_id(self, id_type: int, data: bytes) -> PeerSettings | None:
        return None

    def children(self, remote: str) -> Sequence[ChildSettings]:
        return ()

    def exact_ts(self, remote: str) -> bool:
        return True

    # driving ---------------------------------------------------------------------------------
    def _start_more(self) -> None:
        busy = sum(1 for sa in self.sas.values() if sa.state in (State.INIT_SENT,
                                                                 State.AUTH_SENT))
        while busy < self.window and self.started < self.total:
            sa = IkeSa(self, PEER, self.local, self.remote, True, self.rng.random_bytes(8),
                       time.monotonic())
            self.sas[sa.spi_i] = sa
            sa.start(time.monotonic(), CHILD)
            self.started += 1
            busy += 1
        if self.up + self.failed >= self.total:
            self.done.set()

    def datagram(self, data: bytes) -> None:
        """One response from the responder."""
        try:
            msg = message.decode(data)
        except ParseError:
            return
        sa = self.sas.get(msg.spi_i)
        if sa is not None:
            sa.receive(msg, data, time.monotonic())
        self._start_more()

    async def run(self) -> float:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock, self._readable)
        began = time.monotonic()
        self._start_more()
        while not self.done.is_set():
            try:
                await asyncio.wait_for(self.done.wait(), 0.5)
            except TimeoutError:
                now = time.monotonic()
                for sa in list(self.sas.values()):
                    deadline = sa.deadline()
                    if deadline is not None and deadline <= now and sa.state is not \
                            State.ESTABLISHED:
                        sa.on_timer(now)
                self._start_more()
        loop.remove_reader(self.sock)
        return time.monotonic() - began

    def _readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            self.datagram(data)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def drive(prefix: str, count: int, window: int) -> tuple[int, float]:
    """Run the driver in namespace A; returns (established, seconds)."""
    netns.pushns(prefix + "A")
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((str(A), 0))
    finally:
        netns.popns()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    driver = Driver(sock, count, window)
    seconds = asyncio.run(driver.run())
    sock.close()
    return driver.up, seconds


def racoon2_conf(d: Path) -> str:
    return f"""
interface {{ ike {{ "{B}" port 500; "{B}" port 4500; }};
    spmd {{ unix "{d}/spmif"; }}; spmd_password "{d}/spmd.pwd"; }};
resolver {{ resolver off; }};
remote bench {{ acceptable_kmp {{ ikev2; }}; ikev2 {{
    my_id ipaddr "{B}"; peers_id ipaddr "{A}"; peers_ipaddr "{A}" port 500;
    kmp_enc_alg {{ aes128_cbc; }}; kmp_prf_alg {{ hmac_sha2_256; }};
    kmp_hash_alg {{ hmac_sha2_256; }}; kmp_dh_group {{ curve25519; }};
    kmp_auth_method {{ psk; }}; pre_shared_key "{d}/bench.psk"; dpd_delay 0; }}; }};
selector out {{ direction outbound; src "{B}"; dst "{A}"; upper_layer_protocol any;
    policy_index pol; }};
selector in {{ direction inbound; src "{A}"; dst "{B}"; upper_layer_protocol any;
    policy_index pol; }};
policy pol {{ action auto_ipsec; remote_index bench; ipsec_mode transport;
    ipsec_index {{ ipi; }}; ipsec_level use; }};
ipsec ipi {{ ipsec_sa_lifetime_time 1 hour; sa_index esp_sa; }};
sa esp_sa {{ sa_protocol esp; esp_enc_alg {{ aes128_cbc; }};
    esp_auth_alg {{ hmac_sha2_256; }}; }};
"""


def _secret(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def run_iked(prefix: str, count: int, window: int, tmp: Path) -> tuple[float, float, int]:
    """(CPU s per SA, RSS KiB per SA, established) with iked as the responder."""
    d = tmp / f"iked-{count}"
    d.mkdir(mode=0o700)
    _secret(d / "spmd.pwd", secrets.token_hex(16))
    _secret(d / "bench.psk", PSK)
    (d / "racoon2.conf").write_text(racoon2_conf(d))
    ns = prefix + "B"
    procs = []
    try:
        with open(d / "spmd.log", "wb") as out:
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, str(BIN / "spmd"), "-F",
                                           "-f", str(d / "racoon2.conf")], stdout=out,
                                          stderr=subprocess.STDOUT))
        _wait(lambda: (d / "spmif").exists())
        with open(d / "iked.log", "wb") as out:
            iked = subprocess.Popen(["ip", "netns", "exec", ns, str(BIN / "iked"), "-F", "-f",
                                     str(d / "racoon2.conf")], stdout=out,
                                    stderr=subprocess.STDOUT)
        procs.append(iked)
        _wait(lambda: b"listening on" in (d / "iked.log").read_bytes())
        time.sleep(0.5)
        cpu0, rss0 = cpu_seconds(iked.pid), rss_kib(iked.pid)
        up, _ = drive(prefix, count, window)
        cpu1, rss1 = cpu_seconds(iked.pid), rss_kib(iked.pid)
        return (cpu1 - cpu0) / max(up, 1), (rss1 - rss0) / max(up, 1), up
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGKILL)
            p.wait()


def run_strongswan(prefix: str, count: int, window: int, tmp: Path) -> tuple[float, float, int]:
    """(CPU s per SA, RSS KiB per SA, established) with charon as the responder."""
    d = tmp / f"ss-{count}"
    env = {**os.environ, "NS": prefix + "B", "DIR": str(d), "PSK": PSK, "KEYLOG": "0",
           "LOCAL": str(B), "REMOTE": "%any", "LOCAL_ID": str(B), "REMOTE_ID": str(A),
           "IKE": "aes128-sha256-x25519", "ESP": "aes128-sha256", "MODE": "transport",
           "KERNEL": "netlink", "LOGLEVEL": "1",
           "EXTRA_CHARON": "cookie_threshold = 100000\n  block_threshold = 100000\n"
                           "  init_limit_half_open = 100000"}
    sh = ["bash", str(HARNESS / "strongswan.sh")]
    subprocess.run([*sh, "start", "bench"], env=env, check=True, capture_output=True)
    try:
        pid = int((d / "pid").read_text())
        time.sleep(0.5)
        cpu0, rss0 = cpu_seconds(pid), rss_kib(pid)
        up, _ = drive(prefix, count, window)
        cpu1, rss1 = cpu_seconds(pid), rss_kib(pid)
        return (cpu1 - cpu0) / max(up, 1), (rss1 - rss0) / max(up, 1), up
    finally:
        subprocess.run([*sh, "stop", "bench"], env=env, check=False, capture_output=True)


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("a responder did not start")
        time.sleep(0.05)


def main() -> None:
    """Parse arguments, run both responders per count, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--window", type=int, default=8)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("ike_responder: run as root (network namespaces)")
    prefix = f"r2b{secrets.token_hex(2)}"
    subprocess.run(["bash", str(HARNESS / "netns.sh"), "up", prefix], check=True,
                   capture_output=True)
    try:
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            print(f"{'SAs':>7} {'responder':>10} {'up':>7} {'CPU ms/SA':>10} {'RSS KiB/SA':>11}")
            for count in args.counts:
                rows = {}
                for name, fn in (("iked", run_iked), ("strongSwan", run_strongswan)):
                    cpu, rss, up = fn(prefix, count, args.window, tmp)
                    rows[name] = (cpu, rss)
                    print(f"{count:>7} {name:>10} {up:>7} {cpu * 1000:>10.3f} {rss:>11.2f}",
                          flush=True)
                (ic, ir), (sc, sr) = rows["iked"], rows["strongSwan"]
                print(f"{count:>7} {'ratio':>10} {'':>7} {ic / sc if sc else 0:>10.2f} "
                      f"{ir / sr if sr else 0:>11.2f}   (iked / strongSwan; target CPU <= 2)")
    finally:
        subprocess.run(["bash", str(HARNESS / "netns.sh"), "down", prefix], check=False)


if __name__ == "__main__":
    main()
