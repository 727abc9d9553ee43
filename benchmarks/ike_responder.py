"""IKE_SA + CHILD_SA setups against a responder: iked beside strongSwan, same driver, same load.

Two namespaces from tests/harness/peers/netns.sh (root needed).  The responder in B is first
racoon2 (spmd + iked) and then strongSwan's charon (kernel-netlink), both with the same
proposal (aes128-sha256-x25519, PSK) and an ESP transport CHILD_SA; this host's kernel has no
ESP, so each responder's CHILD_SA install fails the same way after the full negotiation (both
keep the IKE SA).  The driver in A is this project's pure IKEv2 initiator
(:class:`iked.ikev2.sa.IkeSa`) over a real UDP socket, keeping ``--window`` negotiations in
flight (below both responders' cookie thresholds).  Measured from /proc: the responder's CPU
seconds (user + system) per established IKE SA, and its RSS growth per IKE SA, and the
handshakes per second.  ``--addke mlkem768`` adds ML-KEM-768 as RFC 9370's ADDKE1 (one
IKE_INTERMEDIATE per handshake); strongSwan then runs from the Debian 13 root of
tests/harness/peers/trixie-root.sh (its strongSwan 6.1 does ML-KEM, the host's 5.9 does not).

``--driver loadtester`` (the default) drives both with strongSwan's own load generator instead
(benchmarks/loadtester.py, built once and cached): 4 initiator threads, at most 32 half-open,
against charon with ``fake_kernel`` and iked with ``-D 0x8`` (neither installs an SA), ESP
aes128gcm16 in transport mode.  ``--profile FILE`` runs that iked under cProfile
(benchmarks/profiled.py: CPU time, from just before the load; the stats written to FILE when
iked stops); benchmarks/profile_breakdown.py sums them by area.  That charon asks for no
cookies (``dos_protection = no``); ``--charon-cookies`` adds a charon that asks for them from
iked's threshold of half-open IKE SAs on.

``--kernel real`` (benchmarks/realkernel.py; a kernel with ESP) has charon's kernel-netlink and
iked beside spmd install every CHILD_SA, and an ``xfrm`` column counts namespace B's SAs at
each burst's end (2 per CHILD_SA); ``--vm`` runs the command in the project's VM, whose TCG
makes every figure 10-30 times slower: compare only one run's ratios (doc/performance.md):

    python benchmarks/ike_responder.py [--driver loadtester|python] [--counts 1000 10000]
        [--window 8] [--addke mlkem768] [--profile FILE] [--workers 1 2] [--charon-cookies]
        [--kernel fake|real] [--vm]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
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

import loadtester
import realkernel
from pyroute2 import netns

from iked.events import Event, IkeSaUp, NegotiationFailed, Op
from iked.ikev2 import dispatch, ike_init, proposals
from iked.ikev2.cookies import HALF_OPEN_LIMIT
from iked.ikev2.fragments import Reassembly
from iked.ikev2.sa import IkeSa, State
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.tasks import Task
from iked.ikev2.ts import Ts
from iked.ikev2.window import Schedule
from iked.queues import Continue
from racoon2.config.model import AlgSpec
from racoon2.crypto.rng import Rng, SystemRng
from racoon2.errors import ParseError
from racoon2.ikev2 import message
from racoon2.kernel import api
from racoon2.net import Address, Endpoint

ROOT = Path(__file__).resolve().parents[1]

HARNESS = ROOT / "tests" / "harness" / "peers"
BIN = Path(sys.executable).parent
PSK = "racoon2-benchmark-psk"
A, B = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")
CLK = os.sysconf("SC_CLK_TCK")


def _alg(*names: str) -> tuple[AlgSpec, ...]:
    return tuple(AlgSpec(n, "benchmark") for n in names)


TRIXIE = "/var/cache/racoon2-trixie"


def peer(addke: str) -> PeerSettings:
    """The driver's remote: Curve25519, and ``addke`` (a kmp_dh_group name) as ADDKE1."""
    return PeerSettings(
        remote="bench", my_ids=((1, A.packed),), peers_ids=((1, B.packed),), verify_id=True,
        psk=PSK.encode(), ike_proposals=proposals.ike_proposals(
            _alg("aes128_cbc"), _alg("hmac_sha2_256"), _alg("hmac_sha2_256"),
            _alg("curve25519"), [_alg(addke)] if addke else []),
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

    tracing = False
    clock = 0.0  # for what ends without a time of its own (RADIUS accounting): not here

    def __init__(self, sock: socket.socket, total: int, window: int, settings: PeerSettings
                 ) -> None:
        self.settings = settings
        self.rng: Rng = SystemRng()
        self.fragments = Reassembly()
        self.counters: collections.Counter[str] = collections.Counter()
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

    def request(self, sa: IkeSa, op: Op, then: Continue) -> None:
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

    def trace(self, sa: IkeSa, data: bytes, outgoing: bool) -> None:
        return

    def new_spi(self) -> bytes:
        return self.rng.random_bytes(8)

    def lease(self, pools: Sequence[str], version: int, owner: tuple[int, bytes] | None
              ) -> tuple[str, Address] | None:
        return None

    def pool_versions(self, pools: Sequence[str]) -> frozenset[int]:
        return frozenset()

    def release(self, pool: str, addr: Address, keep: float) -> None:
        return

    def listens(self, ep: Endpoint) -> bool:
        return ep == self.local  # one socket, no NAT-T port

    def adopt(self, sa: IkeSa) -> None:
        return

    def start(self, sa: IkeSa, task: Task, now: float) -> bool:
        return dispatch.start(sa, task, now)

    def first_contact(self, sa: IkeSa) -> bool:
        return False

    def initial_contact(self, sa: IkeSa, now: float) -> None:
        return

    # driving ---------------------------------------------------------------------------------
    def _start_more(self) -> None:
        busy = sum(1 for sa in self.sas.values() if sa.state in (State.INIT_SENT,
                                                                 State.AUTH_SENT))
        while busy < self.window and self.started < self.total:
            sa = IkeSa(self, self.settings, self.local, self.remote, True,
                       self.rng.random_bytes(8), time.monotonic())
            self.sas[sa.spi_i] = sa
            ike_init.start(sa, time.monotonic(), CHILD)
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
            dispatch.receive(sa, msg, data, time.monotonic())
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
                        dispatch.on_timer(sa, now)
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


def _tree(pid: int) -> list[int]:
    # iked -j N: the coordinator and its workers (and any helper they run).
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [pid, *(p for c in children for p in _tree(int(c)))]


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK


def rss_kib(pid: int) -> int:
    """Resident KiB of ``pid`` and its descendants."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def drive(prefix: str, count: int, window: int, addke: str) -> tuple[int, float]:
    """Run the driver in namespace A; returns (established, seconds)."""
    netns.pushns(prefix + "A")
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((str(A), 0))
    finally:
        netns.popns()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    driver = Driver(sock, count, window, peer(addke))
    seconds = asyncio.run(driver.run())
    sock.close()
    return driver.up, seconds


def racoon2_conf(d: Path, addke: str) -> str:
    return f"""
interface {{ ike {{ "{B}" port 500; "{B}" port 4500; }};
    {realkernel.spmd_conf_lines(d)} }};
resolver {{ resolver off; }};
remote bench {{ acceptable_kmp {{ ikev2; }}; ikev2 {{
    my_id ipaddr "{B}"; peers_id ipaddr "{A}"; peers_ipaddr "{A}" port 500;
    kmp_enc_alg {{ aes128_cbc; }}; kmp_prf_alg {{ hmac_sha2_256; }};
    kmp_hash_alg {{ hmac_sha2_256; }}; kmp_dh_group {{ curve25519; }};
    {f"kmp_addke1 {addke};" if addke else ""}
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


# CPU s per SA, RSS KiB per SA, established, handshakes/s, namespace B's SAs (None: not counted)
Result = tuple[float, float, int, float, int | None]


def run_iked(prefix: str, count: int, window: int, tmp: Path, addke: str,
             workers: int = 1) -> Result:
    """(CPU s per SA, RSS KiB per SA, established, handshakes/s) with iked -j ``workers``
    responding."""
    d = tmp / f"iked-{count}-j{workers}"
    d.mkdir(mode=0o700)
    _secret(d / "spmd.pwd", secrets.token_hex(16))
    _secret(d / "bench.psk", PSK)
    (d / "racoon2.conf").write_text(racoon2_conf(d, addke))
    ns = prefix + "B"
    procs = []
    try:
        procs.append(realkernel.start_spmd(ns, d, BIN))
        with open(d / "iked.log", "wb") as out:
            iked = subprocess.Popen(["ip", "netns", "exec", ns, str(BIN / "iked"), "-j",
                                     str(workers), "-F", "-f", str(d / "racoon2.conf")],
                                    stdout=out, stderr=subprocess.STDOUT)
        procs.append(iked)
        _wait_started(d / "iked.log", workers)
        time.sleep(0.5)
        cpu0, rss0 = cpu_seconds(iked.pid), rss_kib(iked.pid)
        up, seconds = drive(prefix, count, window, addke)
        cpu1, rss1 = cpu_seconds(iked.pid), rss_kib(iked.pid)
        return (cpu1 - cpu0) / max(up, 1), (rss1 - rss0) / max(up, 1), up, up / seconds, None
    finally:
        for p in reversed(procs):
            for pid in reversed(_tree(p.pid)):  # iked -j N's workers too
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            p.wait()


def run_strongswan(prefix: str, count: int, window: int, tmp: Path, addke: str) -> Result:
    """(CPU s per SA, RSS KiB per SA, established, handshakes/s) with charon responding."""
    d = tmp / f"ss-{count}"
    env = {**os.environ, "NS": prefix + "B", "DIR": str(d), "PSK": PSK, "KEYLOG": "0",
           "LOCAL": str(B), "REMOTE": "%any", "LOCAL_ID": str(B), "REMOTE_ID": str(A),
           "IKE": "aes128-sha256-x25519" + (f"-ke1_{addke}" if addke else ""),
           "ROOT": TRIXIE if addke else "", "ESP": "aes128-sha256", "MODE": "transport",
           "KERNEL": "netlink", "LOGLEVEL": "1",
           "EXTRA_CHARON": "cookie_threshold = 100000\n  block_threshold = 100000\n"
                           "  init_limit_half_open = 100000"}
    sh = ["bash", str(HARNESS / "strongswan.sh")]
    subprocess.run([*sh, "start", "bench"], env=env, check=True, capture_output=True)
    try:
        pid = int((d / "pid").read_text())
        time.sleep(0.5)
        cpu0, rss0 = cpu_seconds(pid), rss_kib(pid)
        up, seconds = drive(prefix, count, window, addke)
        cpu1, rss1 = cpu_seconds(pid), rss_kib(pid)
        return (cpu1 - cpu0) / max(up, 1), (rss1 - rss0) / max(up, 1), up, up / seconds, None
    finally:
        subprocess.run([*sh, "stop", "bench"], env=env, check=False, capture_output=True)


def loadtester_conf(d: Path, spmd: bool) -> str:
    """iked's side of the load test: the load-tester's responder ID, PSK and proposals,
    transport (beside spmd with ``spmd``); the remote is found by address (each client has an
    ID of its own, and verify_id is off by default)."""
    return f"""
interface {{ ike {{ "{B}" port 500; }}; {realkernel.spmd_conf_lines(d) if spmd else ""} }};
resolver {{ resolver off; }};
remote lt {{ acceptable_kmp {{ ikev2; }}; ikev2 {{
    my_id fqdn "{loadtester.RESPONDER_ID}"; peers_ipaddr "{A}" port 500;
    kmp_enc_alg {{ aes128_cbc; }}; kmp_prf_alg {{ hmac_sha2_256; }};
    kmp_hash_alg {{ hmac_sha2_256; }}; kmp_dh_group {{ curve25519; }};
    kmp_auth_method {{ psk; }}; pre_shared_key "{d}/lt.psk"; dpd_delay 0; }}; }};
selector out {{ direction outbound; src "{B}"; dst "{A}"; upper_layer_protocol any;
    policy_index pol; }};
selector in {{ direction inbound; src "{A}"; dst "{B}"; upper_layer_protocol any;
    policy_index pol; }};
policy pol {{ action auto_ipsec; remote_index lt; ipsec_mode transport;
    ipsec_index {{ ipi; }}; ipsec_level use; }};
ipsec ipi {{ ipsec_sa_lifetime_time 1 hour; sa_index esp_sa; }};
sa esp_sa {{ sa_protocol esp; esp_enc_alg {{ aes128_gcm16; }}; }};
"""


LT_IKE, LT_ESP = "aes128-sha256-x25519", "aes128gcm16"


def _measure_burst(prefix: str, pids: Sequence[int], count: int, d: Path, real: bool
                   ) -> Result:
    # ``pids``: the responder's processes (iked and spmd with a real kernel), summed
    def cpu() -> float:
        return sum(cpu_seconds(p) for p in pids)

    def rss() -> int:
        return sum(rss_kib(p) for p in pids)

    time.sleep(0.5)
    cpu0, rss0 = cpu(), rss()
    up, seconds, (cpu1, rss1, states) = loadtester.burst(
        prefix + "A", d / "initiator", LT_IKE, LT_ESP, count,
        lambda: (cpu(), rss(), realkernel.xfrm_states(prefix + "B") if real else None))
    return (cpu1 - cpu0) / max(up, 1), (rss1 - rss0) / max(up, 1), up, up / seconds, states


def lt_iked(prefix: str, count: int, tmp: Path, profile: str, workers: int = 1,
            real: bool = False) -> Result:
    """The load-tester against iked -D 0x8 -j ``workers`` (under cProfile with
    ``profile``, the coordinator only with more than one worker); with ``real``, iked
    beside spmd installing its SAs in namespace B's kernel instead of -D 0x8 (spmd's CPU and
    RSS counted with iked's)."""
    d = tmp / f"lt-iked-{count}-j{workers}"
    d.mkdir(mode=0o700)
    _secret(d / "lt.psk", loadtester.PSK)
    _secret(d / "spmd.pwd", secrets.token_hex(16))
    (d / "racoon2.conf").write_text(loadtester_conf(d, real))
    prof = [sys.executable, str(ROOT / "benchmarks" / "profiled.py"), profile] if profile \
        else []
    spmd = realkernel.start_spmd(prefix + "B", d, BIN) if real else None
    with open(d / "iked.log", "wb") as out:
        iked = subprocess.Popen(["ip", "netns", "exec", prefix + "B", *prof, str(BIN / "iked"),
                                 "-j", str(workers), "-F", *([] if real else ["-D", "0x8"]),
                                 "--ctl-socket", "", "--stop-wait", "0", "-f",
                                 str(d / "racoon2.conf")], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_started(d / "iked.log", workers)
        # ip netns exec execs the command: its pid is iked's
        if profile:
            iked.send_signal(signal.SIGRTMIN)  # benchmarks/profiled.py: profile from here
        return _measure_burst(prefix, [iked.pid, *([spmd.pid] if spmd else [])], count, d, real)
    finally:
        realkernel.stop([iked, *([spmd] if spmd else [])])


def lt_strongswan(prefix: str, count: int, tmp: Path, profile: str, cookies: int = 0,
                  real: bool = False) -> Result:
    """The load-tester against charon with fake_kernel (with ``cookies``: asking for
    cookies from that many half-open IKE SAs on; with ``real``: kernel-netlink installing
    its CHILD_SAs in namespace B's kernel)."""
    d = tmp / f"lt-ss-{count}-c{cookies}"
    charon = loadtester.responder(prefix + "B", d / "responder", LT_IKE, LT_ESP, cookies,
                                  fake_kernel=not real)
    try:
        assert charon.proc is not None
        return _measure_burst(prefix, [charon.proc.pid], count, d, real)
    finally:
        charon.stop()


def _wait_started(log: Path, workers: int) -> None:
    # A loaded host takes many seconds to start each worker's Python.
    ready = b"listening on" if workers == 1 else b"serving with"
    _wait(lambda: ready in log.read_bytes(), 150.0)


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("a responder did not start")
        time.sleep(0.05)


def main() -> None:
    """Parse arguments, run both responders per count, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("loadtester", "python"), default="loadtester")
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--addke", default="", help="ADDKE1 after Curve25519, e.g. mlkem768")
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="iked -j: one iked run per number given")
    parser.add_argument("--profile", default="", help="cProfile stats of iked to this file "
                        "(load-tester driver)")
    parser.add_argument("--charon-cookies", action="store_true",
                        help="a second charon row with cookies from iked's threshold of "
                        f"{HALF_OPEN_LIMIT} half-open IKE SAs on (load-tester driver)")
    parser.add_argument("--kernel", choices=("fake", "real"), default="fake",
                        help="real: both responders install their SAs, which needs ESP "
                        "(--vm; load-tester driver)")
    parser.add_argument("--vm", action="store_true",
                        help="run this command in the project's VM (tests/harness/vm)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("ike_responder: run as root (network namespaces)")
    lt, real = args.driver == "loadtester", args.kernel == "real"
    if lt and args.addke:
        sys.exit("ike_responder: --addke needs --driver python")
    if real and not lt:
        sys.exit("ike_responder: --kernel real needs --driver loadtester")
    if args.vm:
        realkernel.in_vm(sys.argv[1:])
    if lt:
        loadtester.build()
    if args.addke:
        subprocess.run(["bash", str(HARNESS / "trixie-root.sh"), TRIXIE], check=True)
    prefix = f"r2b{secrets.token_hex(2)}"
    subprocess.run(["bash", str(HARNESS / "netns.sh"), "up", prefix], check=True,
                   capture_output=True)
    runs: tuple[tuple[str, Callable[[int, Path], Result]], ...] = (
        *((f"iked -j{j}" if len(args.workers) > 1 else "iked",
           lambda n, t, j=j: lt_iked(prefix, n, t, args.profile, j, real))
          for j in args.workers),
        ("strongSwan", lambda n, t: lt_strongswan(prefix, n, t, args.profile, 0, real)),
        *((("ss cookies", lambda n, t: lt_strongswan(prefix, n, t, args.profile,
                                                     HALF_OPEN_LIMIT, real)),)
          if args.charon_cookies else ()),
    ) if lt else (
        *((f"iked -j{j}" if len(args.workers) > 1 else "iked",
           lambda n, t, j=j: run_iked(prefix, n, args.window, t, args.addke, j))
          for j in args.workers),
        ("strongSwan", lambda n, t: run_strongswan(prefix, n, args.window, t, args.addke)))
    what = ("load-tester, " + ("real kernel: SAs installed" if real else "fake kernel / -D 0x8")
            if lt else "curve25519" + ("+" + args.addke if args.addke else ""))
    try:
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            xfrm = f" {'xfrm':>7}" if real else ""  # namespace B's SAs at the burst's end
            print(f"{'SAs':>7} {'responder':>10} {'up':>7} {'CPU ms/SA':>10} {'RSS KiB/SA':>11}"
                  f" {'SAs/s':>7}{xfrm}   {what}")
            for count in args.counts:
                rows = {}
                for name, fn in runs:
                    if real:
                        realkernel.flush(prefix + "B")  # the last responder's SAs, policies
                    cpu, rss, up, rate, states = fn(count, tmp)
                    rows[name] = (cpu, rss, rate)
                    print(f"{count:>7} {name:>10} {up:>7} {cpu * 1000:>10.3f} {rss:>11.2f}"
                          f" {rate:>7.1f}" + (f" {states:>7}" if real else ""), flush=True)
                    if real:
                        realkernel.check(name, states, up)
                charons = {name: rows.pop(name) for name in ("strongSwan", "ss cookies")
                           if name in rows}
                for ss, (sc, sr, srate) in charons.items():
                    for name, (ic, ir, irate) in rows.items():
                        print(f"{count:>7} {'ratio':>10} {'':>7} {ic / sc if sc else 0:>10.2f} "
                              f"{ir / sr if sr else 0:>11.2f} "
                              f"{irate / srate if srate else 0:>7.2f}   ({name} / {ss})")
    finally:
        subprocess.run(["bash", str(HARNESS / "netns.sh"), "down", prefix], check=False)


if __name__ == "__main__":
    main()
