"""Peers for interoperability tests: two namespaces joined by a veth, racoon2 (spmd + iked),
strongSwan and libreswan inside them.  Everything started here is stopped by PID.

The namespaces come from tests/harness/peers/netns.sh (documentation addresses only):
A = 192.0.2.1 / 2001:db8::1 with 198.51.100.1 on lo, B = 192.0.2.2 / 2001:db8::2 with
198.51.100.17 on lo (tunnel-mode traffic selectors 198.51.100.0/28 <=> 198.51.100.16/28).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness" / "peers"
BIN = Path(sys.executable).parent
PSK = "racoon2-interop-psk"
ADDR = {("A", 4): "192.0.2.1", ("B", 4): "192.0.2.2", ("A", 6): "2001:db8::1",
        ("B", 6): "2001:db8::2"}
INNER = {"A": "198.51.100.0/28", "B": "198.51.100.16/28"}


def stop_daemons(procs: dict[str, subprocess.Popen[bytes]], names: Sequence[str]
                 ) -> dict[str, int]:
    """SIGTERM the daemons ``names`` of ``procs`` in that order (SIGKILL after 15 s), forget
    them; the exit statuses of those that had been started."""
    out = {}
    for daemon in names:
        proc = procs.pop(daemon, None)
        if proc is None:
            continue
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out[daemon] = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out[daemon] = proc.wait()
    return out


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Namespaces:
    """The two namespaces of netns.sh under a prefix unique to this test."""

    def __init__(self, prefix: str = "r2i") -> None:
        """``prefix``: the names' start (a test file's own keeps its namespaces apart)."""
        self.prefix = f"{prefix}{secrets.token_hex(2)}"
        subprocess.run(["bash", str(HARNESS / "netns.sh"), "up", self.prefix], check=True,
                       capture_output=True)
        # A transport-mode policy for "any" protocol between the two IPv6 hosts also covers
        # neighbour discovery, which then waits for an SA forever: fixed neighbours avoid it
        # (doc/iked.md says how to exempt ICMPv6 on real hosts).
        for me, peer, peer_dev in (("A", "B", "b"), ("B", "A", "a")):
            mac = self.run(peer, "cat", f"/sys/class/net/{self.prefix}{peer_dev}/address")
            self.run(me, "ip", "-6", "neigh", "replace", ADDR[(peer, 6)], "lladdr",
                     mac.stdout.strip(), "dev", f"{self.prefix}{me.lower()}", "nud", "permanent")

    def name(self, side: str) -> str:
        """The namespace of side "A" or "B"."""
        return self.prefix + side

    def run(self, side: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command in one namespace and wait."""
        return subprocess.run(["ip", "netns", "exec", self.name(side), *argv],
                              capture_output=True, text=True, check=False)

    def close(self) -> None:
        """Delete both namespaces (their XFRM state and veth go with them)."""
        subprocess.run(["bash", str(HARNESS / "netns.sh"), "down", self.prefix], check=False)


@dataclass
class Proposal:
    """One algorithm set in both dialects."""

    racoon2_ike: tuple[str, str, str, str]   # enc, prf, integ ("" for AEAD), dh
    racoon2_esp: tuple[str, str]             # enc, auth ("" for AEAD)
    strongswan_ike: str
    strongswan_esp: str
    libreswan_ike: str
    libreswan_esp: str


CBC_MODP = Proposal(("aes128_cbc", "hmac_sha2_256", "hmac_sha2_256", "modp2048"),
                    ("aes128_cbc", "hmac_sha2_256"), "aes128-sha256-modp2048", "aes128-sha256",
                    "aes128-sha2_256;modp2048", "aes128-sha2_256")
GCM_X25519 = Proposal(("aes128_gcm16", "hmac_sha2_256", "", "curve25519"),
                      ("aes128_gcm16", ""), "aes128gcm16-prfsha256-x25519", "aes128gcm16",
                      "aes_gcm_c_128-sha2_256;dh31", "aes_gcm_c_128")


def _token(value: str) -> str:
    """A racoon2.conf address: a macro (IP_RW, MY_IPV4) or a ``{ list; }`` as it is, an
    address or network quoted."""
    return value if value.isupper() or value.startswith("{") else f'"{value}"'


def algorithm_lines(prop: Proposal) -> str:
    """The IKE SA's algorithm directives of an ikev2 block for ``prop``."""
    enc, prf, integ, dh = prop.racoon2_ike
    hash_line = f"kmp_hash_alg {{ {integ}; }};" if integ else "kmp_hash_alg { hmac_sha2_256; };"
    return f"""kmp_enc_alg {{ {enc}; }};
        kmp_prf_alg {{ {prf}; }};
        {hash_line}
        kmp_dh_group {{ {dh}; }};"""


def auth_lines(d: Path, cert: tuple[str, str, str] | None = None) -> str:
    """An ikev2 block's authentication: the PSK in ``d``, or with ``cert`` = (certificate,
    key, CA certificate) files the certificates."""
    if cert is None:
        return f'kmp_auth_method {{ psk; }}; pre_shared_key "{d}/peer.psk";'
    return (f'kmp_auth_method {{ rsasig; }}; my_public_key x509pem "{cert[0]}" "{cert[1]}";'
            f' peers_public_key x509pem "{cert[2]}";')


def esp_lines(prop: Proposal) -> str:
    """The sa's algorithm directives for ``prop``'s ESP."""
    esp_enc, esp_auth = prop.racoon2_esp
    auth_line = f"esp_auth_alg {{ {esp_auth}; }};" if esp_auth else ""
    return f"esp_enc_alg {{ {esp_enc}; }}; {auth_line}"


def iked_conf(d: Path, me: str, remote: str, ikev2: str, nets: tuple[str, str],
              ends: tuple[str, str] | None, esp: str, extra: str = "") -> str:
    """A racoon2.conf for iked listening at ``me`` (an address or a macro such as MY_IPV4),
    spmif socket and password in ``d``: one remote ``remote`` whose ikev2 block holds
    ``ikev2``, one policy ``pol`` (selectors ``out`` and ``in``) protecting ``nets`` = (ours,
    the peer's: addresses, networks, ``{ lists; }`` or IP_RW) in tunnel mode between ``ends``
    = (ours, the peer's), in transport mode when None; ``esp`` the sa's algorithms,
    ``extra`` more sections (address pools)."""
    lnet, rnet = (_token(n) for n in nets)
    tunnel_ends = "" if ends is None else \
        f"my_sa_ipaddr {_token(ends[0])}; peers_sa_ipaddr {_token(ends[1])};"
    return f"""
interface {{
    ike {{ {_token(me)} port 500; {_token(me)} port 4500; }};
    spmd {{ unix "{d}/spmif"; }};
    spmd_password "{d}/spmd.pwd";
}};
resolver {{ resolver off; }};
remote {remote} {{
    acceptable_kmp {{ ikev2; }};
    ikev2 {{
        {ikev2}
    }};
}};
selector out {{ direction outbound; src {lnet}; dst {rnet}; upper_layer_protocol any;
    policy_index pol; }};
selector in {{ direction inbound; src {rnet}; dst {lnet}; upper_layer_protocol any;
    policy_index pol; }};
policy pol {{ action auto_ipsec; remote_index {remote}; ipsec_mode {"transport" if ends is None
    else "tunnel"}; ipsec_index {{ ipsec_esp; }}; ipsec_level require; {tunnel_ends} }};
ipsec ipsec_esp {{ ipsec_sa_lifetime_time 1 hour; sa_index sa_esp; }};
sa sa_esp {{ sa_protocol esp; {esp} }};
{extra}"""


def racoon2_conf(d: Path, side: str, family: int, tunnel: bool, prop: Proposal,
                 peer_id: str | None = None, cert: tuple[str, str, str] | None = None) -> str:
    """A racoon2.conf for side A or B of the pair, IP address IDs; PSK, or with ``cert`` =
    (certificate, key, CA certificate) files certificate authentication."""
    peer = "B" if side == "A" else "A"
    me, him = ADDR[(side, family)], ADDR[(peer, family)]
    ikev2 = f"""my_id ipaddr "{me}";
        peers_id ipaddr "{peer_id or him}";
        peers_ipaddr "{him}" port 500;
        {algorithm_lines(prop)}
        {auth_lines(d, cert)}
        interval_to_send 1 sec;
        max_retry_to_send 3;"""
    return iked_conf(d, me, "peer", ikev2, (INNER[side], INNER[peer]) if tunnel else (me, him),
                     (me, him) if tunnel else None, esp_lines(prop))


class Racoon2:
    """spmd and iked of one side, with files in ``d``."""

    def __init__(self, ns: Namespaces, side: str, d: Path) -> None:
        self.ns, self.side, self.d = ns, side, d
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)  # spmd refuses a socket directory others can enter
        for name, data in (("spmd.pwd", secrets.token_hex(16)), ("peer.psk", PSK)):
            path = d / name
            path.write_text(data)
            path.chmod(0o600)
        self.conf = d / "racoon2.conf"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, daemon: str = "iked") -> str:
        """A daemon's log so far."""
        path = self.d / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, daemon: str, *flags: str) -> None:
        with open(self.d / f"{daemon}.log", "ab") as out:
            self.procs[daemon] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns.name(self.side), str(BIN / daemon), "-F",
                 "-f", str(self.conf), *flags], stdout=out, stderr=subprocess.STDOUT)

    def start(self, text: str, *iked_flags: str) -> None:
        """Write the configuration and start spmd, then iked."""
        self.conf.write_text(text)
        self._spawn("spmd")
        # A loaded host takes many seconds to start a Python daemon.
        wait_until(lambda: (self.d / "spmif").exists(), 60, f"spmd of {self.side}")
        # Its own control socket: the default, /var/run/racoon2/iked.ctl, is the host's, and
        # every other iked of the suite (tests run side by side) would want it too.
        own = () if "--ctl-socket" in iked_flags else ("--ctl-socket", str(self.d / "iked.ctl"))
        self._spawn("iked", "-j", "1", *own, *iked_flags)
        # Loading 4096-bit keys and ML-KEM under a busy CPU: up to 30 s.
        wait_until(lambda: "listening on" in self.log(), 30, f"iked of {self.side}")

    def stop(self) -> dict[str, int]:
        """SIGTERM iked, then spmd; their exit statuses."""
        return stop_daemons(self.procs, ("iked", "spmd"))

    def sas(self) -> list[dict[str, Any]]:
        """``ikedctl --json sa list``'s SAs, through this iked's own control socket."""
        done = subprocess.run([str(BIN / "ikedctl"), "-s", str(self.d / "iked.ctl"), "--json",
                               "sa", "list"], capture_output=True, text=True, check=True,
                              timeout=20)
        sas: list[dict[str, Any]] = json.loads(done.stdout)["sas"]
        return sas

    def child_settled(self) -> bool:
        """iked has reported the first CHILD_SA's fate: up, refused by the kernel, or failed."""
        log = self.log()
        return ("CHILD_SA of policy pol up" in log or "cannot install outbound" in log
                or "CHILD_SA failed" in log)

    def established(self) -> list[str]:
        """The IKE SA names iked logged as established."""
        return re.findall(r"IKE SA (\S+) established", self.log())


class StrongSwan:
    """charon (tests/harness/peers/strongswan.sh) in one namespace."""

    def __init__(self, ns: Namespaces, side: str, d: Path, root: str = "",
                 plugins: str = "") -> None:
        """``root``: a Debian root whose strongSwan runs (strongswan.sh ROOT, e.g.
        peers/trixie-root.sh's); ``plugins``: more charon plugins (``ml``)."""
        self.ns, self.side, self.d = ns, side, d
        self.name = "r2"
        self.root, self.plugins = root, plugins

    def _env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "NS": self.ns.name(self.side), "DIR": str(self.d),
                "PSK": PSK, "KEYLOG": "0", "ROOT": self.root, "PLUGINS": self.plugins, **extra}

    def start(self, family: int, tunnel: bool, prop: Proposal, initiator: bool,
              child_rekey: str = "0", cert: tuple[str, str, str] | None = None,
              ike_rekey: str = "0", ends: tuple[str, str] | None = None,
              nets: tuple[str, str] | None = None, extra_conn: str = "",
              extra_charon: str = "", ah: str = "", extra_child: str = "",
              kernel: str = "libipsec", extra_swanctl: str = "",
              child_life: str | None = None, local_id: str | None = None) -> None:
        """Start charon with one connection matching :func:`racoon2_conf`; ``cert`` =
        (certificate, key, CA certificate) for certificate authentication; ``ends`` and
        ``nets`` = (ours, the peer's) addresses and tunnel networks when not the pair's; ``ah``
        an AH proposal offered instead of ESP; ``kernel`` "netlink" for the host's XFRM
        (libipsec has no AH or IPComp); ``child_life`` the CHILD_SA's
        life_time when it is not the rekey's; ``local_id`` our IKE identity when it is not our
        address."""
        peer = "B" if self.side == "A" else "A"
        me, him = ends or (ADDR[(self.side, family)], ADDR[(peer, family)])
        lnet, rnet = nets or (INNER[self.side], INNER[peer])
        env = self._env(LOCAL=me, REMOTE=him if initiator else "%any", LOCAL_ID=local_id or me,
                        REMOTE_ID=him, IKE=prop.strongswan_ike,
                        ESP="" if ah else prop.strongswan_esp, AH=ah,
                        EXTRA_CHILD=extra_child, KERNEL=kernel, EXTRA_SWANCTL=extra_swanctl,
                        MODE="tunnel" if tunnel else "transport",
                        LTS=lnet if tunnel else "dynamic",
                        RTS=rnet if tunnel else "dynamic", CHILD_REKEY=child_rekey,
                        CHILD_LIFE=child_life or ("60s" if child_rekey != "0" else "0"),
                        IKE_REKEY=ike_rekey,
                        EXTRA_CONN=extra_conn, EXTRA_CHARON=extra_charon,
                        **({"CERT": cert[0], "KEY": cert[1], "CACERT": cert[2]} if cert else {}))
        subprocess.run(["bash", str(HARNESS / "strongswan.sh"), "start", self.name], env=env,
                       check=True, capture_output=True)

    def ctl(self, *args: str) -> str:
        """swanctl output (and its errors)."""
        done = subprocess.run(["bash", str(HARNESS / "strongswan.sh"), "ctl", self.name, *args],
                              env=self._env(), capture_output=True, text=True, check=False)
        return done.stdout + done.stderr

    def initiate(self) -> str:
        """swanctl --initiate of the child (returns its output; the exit status is ignored)."""
        return subprocess.run(
            ["bash", str(HARNESS / "strongswan.sh"), "ctl", self.name, "--initiate", "--child",
             self.name, "--timeout", "10"], env=self._env(), capture_output=True, text=True,
            check=False).stdout

    def log(self) -> str:
        """charon's log."""
        path = self.d / "charon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop charon by its recorded PID."""
        subprocess.run(["bash", str(HARNESS / "strongswan.sh"), "stop", self.name],
                       env=self._env(), check=False, capture_output=True)


class Libreswan:
    """pluto (tests/harness/peers/libreswan.sh) in one namespace."""

    def __init__(self, ns: Namespaces, side: str, d: Path) -> None:
        self.ns, self.side, self.d = ns, side, d
        self.name = "r2"

    def _run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "NS": self.ns.name(self.side), "DIR": str(self.d), "PSK": PSK,
               **extra}
        return subprocess.run(["bash", str(HARNESS / "libreswan.sh"), *args], env=env,
                              capture_output=True, text=True, check=False)

    def start(self, family: int, tunnel: bool, prop: Proposal, initiator: bool,
              cert: tuple[str, str, str] | None = None, conn: str = "") -> None:
        """Start pluto with one connection matching :func:`racoon2_conf`; ``cert`` =
        (certificate, key, CA certificate) for certificate authentication; ``conn``: more
        lines for the connection (``pfs=no``, ``aggressive=yes``)."""
        peer = "B" if self.side == "A" else "A"
        me, him = ADDR[(self.side, family)], ADDR[(peer, family)]
        extra = {"LTS": INNER[self.side], "RTS": INNER[peer]} if tunnel else {
            "EXTRA": "type=transport"}
        if conn:
            extra["EXTRA"] = "\n\t".join(x for x in (extra.get("EXTRA", ""), conn) if x)
        if cert is not None:
            extra.update(CERT=cert[0], KEY=cert[1], CACERT=cert[2])
        done = self._run("start", self.name, LOCAL=me, REMOTE=him, LOCAL_ID=me, REMOTE_ID=him,
                         IKE=prop.libreswan_ike, ESP=prop.libreswan_esp, **extra)
        assert done.returncode == 0, done.stdout + done.stderr
        del initiator  # pluto's connection is the same for both roles: `initiate` decides

    def initiate(self) -> str:
        """whack --initiate (asynchronous)."""
        done = self._run("initiate", self.name)
        return done.stdout + done.stderr

    def log(self) -> str:
        """pluto's log."""
        path = self.d / "pluto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop pluto by its recorded PID."""
        self._run("stop", self.name)


#: R's masquerading of what leaves towards B (shell, ``{p}`` the prefix).
MASQUERADE = """\
ip netns exec {p}R nft add table ip nat
ip netns exec {p}R nft 'add chain ip nat post {{ type nat hook postrouting priority 100 ; }}'
ip netns exec {p}R nft add rule ip nat post oifname {p}s masquerade"""


class RoutedNamespaces(Namespaces):
    """A and B through a router R (documentation addresses only): A 192.0.2.1 -- 192.0.2.254
    R 198.51.100.254 -- 198.51.100.2 B (lo 203.0.113.17), A's default route through R;
    ``extra`` (shell, ``{p}`` the prefix) sets up what a test adds before A pings B."""

    def __init__(self, prefix: str, extra: str) -> None:  # noqa: D107 (the class says it)
        self.prefix = f"{prefix}{secrets.token_hex(2)}"
        p = self.prefix
        script = f"""
set -e
for n in A R B; do ip netns add {p}$n; ip -n {p}$n link set lo up; done
ip link add {p}a netns {p}A type veth peer name {p}r netns {p}R
ip link add {p}s netns {p}R type veth peer name {p}b netns {p}B
ip -n {p}A addr add 192.0.2.1/24 dev {p}a; ip -n {p}A link set {p}a up
ip -n {p}A route add default via 192.0.2.254
ip -n {p}R addr add 192.0.2.254/24 dev {p}r; ip -n {p}R link set {p}r up
ip -n {p}R addr add 198.51.100.254/24 dev {p}s; ip -n {p}R link set {p}s up
ip -n {p}B addr add 198.51.100.2/24 dev {p}b; ip -n {p}B link set {p}b up
ip -n {p}B addr add 203.0.113.17/32 dev lo
ip netns exec {p}R sysctl -qw net.ipv4.ip_forward=1
{extra.format(p=p)}
ip netns exec {p}A ping -c1 -W2 -q 198.51.100.2 >/dev/null
"""
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        if done.returncode:
            self.close()
            raise RuntimeError(f"namespaces {p}A, R, B: {done.stderr.strip()}")

    def masquerade(self) -> None:
        """R hides A behind 198.51.100.254 from now on."""
        done = subprocess.run(["bash", "-c", "set -e\n" + MASQUERADE.format(p=self.prefix)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr

    def close(self) -> None:
        """Delete the three namespaces."""
        for n in "ARB":
            subprocess.run(["ip", "netns", "del", self.prefix + n], check=False,
                           capture_output=True)


class NatNamespaces(RoutedNamespaces):
    """A behind a masquerading router R, B outside, which has no route to 192.0.2.0/24: it
    sees A as 198.51.100.254.  A has 203.0.113.1 on lo."""

    def __init__(self) -> None:  # noqa: D107 (the class docstring says it)
        super().__init__("r2n", "ip -n {p}A addr add 203.0.113.1/32 dev lo\n" + MASQUERADE)
