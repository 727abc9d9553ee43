"""spmd against this machine's kernel (netlink XFRM), in a namespace made for each test.

What an admin relies on: the configured policies and only those are in the kernel; a kill -9
and a restart with a changed file leaves nothing stale and nothing missing; SIGHUP changes only
the difference (unchanged policies keep their kernel index); a broken file on SIGHUP changes
nothing; anyone else's policies are never touched; spmdctl works in text and JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import Netns, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ORIGINAL = ROOT / "tests" / "samples" / "original"

TRANSPORT = """
interface {{ spmd {{ unix "{sock}"; }}; spmd_password "{pwd}"; }};
remote peer {{ acceptable_kmp ikev2;
               ikev2 {{ my_id ipaddr 192.0.2.1; kmp_enc_alg aes128_cbc; }}; }};
selector out {{ direction outbound; src 192.0.2.1; dst 192.0.2.2 port 1701;
               upper_layer_protocol udp; policy_index p; }};
selector in {{ direction inbound; src 192.0.2.2 port 1701; dst 192.0.2.1;
              upper_layer_protocol udp; policy_index p; }};
policy p {{ action auto_ipsec; remote_index peer; ipsec_mode transport; ipsec_level require;
           ipsec_index i; }};
{extra}
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; esp_enc_alg aes128_cbc; esp_auth_alg hmac_sha2_256; }};
"""
TUNNEL = """
selector tout { direction outbound; src 192.0.2.0/25; dst 192.0.2.128/25; policy_index t; };
selector tin { direction inbound; src 192.0.2.128/25; dst 192.0.2.0/25; policy_index t; };
policy t { action auto_ipsec; ipsec_mode tunnel; ipsec_level unique; ipsec_index i;
           remote_index peer; my_sa_ipaddr 198.51.100.1; peers_sa_ipaddr 203.0.113.1; };
"""
EXPECT_TRANSPORT = {
    "src 192.0.2.1/32 dst 192.0.2.2/32 proto udp dport 1701 dir out",
    "src 192.0.2.2/32 dst 192.0.2.1/32 proto udp sport 1701 dir in",
}
EXPECT_TUNNEL = {
    "src 192.0.2.0/25 dst 192.0.2.128/25 dir out",
    "src 192.0.2.128/25 dst 192.0.2.0/25 dir in",
    "src 192.0.2.128/25 dst 192.0.2.0/25 dir fwd",
}


class Daemon:
    """spmd in a namespace, with its files in a temporary directory."""

    def __init__(self, ns: Netns, tmp: Path) -> None:
        self.ns = ns
        self.tmp = tmp
        self.run_dir = tmp / "run"
        self.run_dir.mkdir(mode=0o700)
        self.sock = self.run_dir / "spmif"
        self.pwd = tmp / "spmd.pwd"
        fd = os.open(self.pwd, os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, b"test-password-0123456789")
        os.close(fd)
        self.conf = tmp / "racoon2.conf"
        self.log = tmp / "spmd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write(self, text: str) -> None:
        self.conf.write_text(text.format(sock=self.sock, pwd=self.pwd, extra="")
                             if "{sock}" in text else text)

    def start(self, *flags: str) -> None:
        self.proc = self.ns.spawn([str(BIN / "spmd"), "-F", "-f", str(self.conf), *flags],
                                  self.log)
        wait_for(self.sock)
        time.sleep(0.2)

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        status = self.ns.stop(self.proc, sig)
        self.proc = None
        if os.path.exists(self.sock) and sig == signal.SIGKILL:
            os.unlink(self.sock)
        return status

    def ctl(self, *words: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return self.ns.run([str(BIN / "spmdctl"), "-f", str(self.conf), *words], env=env)

    def ctl_json(self, *words: str, status: int = 0,
                 env: dict[str, str] | None = None) -> object:
        """spmdctl --json WORDS, which must exit with ``status``: its one JSON document."""
        done = self.ctl("--json", *words, env=env)
        assert done.returncode == status, done.stdout + done.stderr
        return json.loads(done.stdout)

    def refused(self, *words: str, env: dict[str, str] | None = None) -> str:
        """spmdctl --json WORDS, which must fail (exit 1, ``{"ok": false, "error": …}`` and
        nothing else, doc/spmdctl.md): the error, which stderr says too."""
        done = self.ctl("--json", *words, env=env)
        doc = json.loads(done.stdout)
        assert done.returncode == 1 and set(doc) == {"ok", "error"} and doc["ok"] is False, doc
        assert doc["error"] in done.stderr
        return str(doc["error"])


def shapes(ns: Netns) -> set[str]:
    """Each policy's selector and direction (what the expectations name)."""
    out = set()
    for p in ns.policies():
        head = p.split(" priority ")[0]
        out.add(head)
    return out


def index_of(ns: Netns) -> dict[str, str]:
    return {p.split(" priority ")[0]: p for p in ns.policies()}


@pytest.fixture
def spmd(netns: Netns, tmp_path: Path) -> Daemon:
    return Daemon(netns, tmp_path)


def fmt(text: str, d: Daemon, extra: str = "") -> str:
    return TRANSPORT.format(sock=d.sock, pwd=d.pwd, extra=extra) + text


def test_installs_exactly_the_configured_policies_and_removes_them(spmd: Daemon) -> None:
    spmd.ns.ip("xfrm", "policy", "add", "src", "198.51.100.0/24", "dst", "203.0.113.0/24",
               "dir", "out", "priority", "100")
    foreign = "src 198.51.100.0/24 dst 203.0.113.0/24 dir out"
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    assert shapes(spmd.ns) == EXPECT_TRANSPORT | EXPECT_TUNNEL | {foreign}
    full = " ".join(spmd.ns.policies())
    assert "tmpl src 198.51.100.1 dst 203.0.113.1 proto esp reqid 0 mode tunnel level unique" \
        .replace("level unique", "") in full.replace("level unique", "")
    assert spmd.stop() == 0
    assert shapes(spmd.ns) == {foreign}


def test_keep_policies_then_restart_reconciles(spmd: Daemon) -> None:
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start("--keep-policies")
    before = index_of(spmd.ns)
    assert spmd.stop() == 0
    assert index_of(spmd.ns) == before
    spmd.start()
    assert index_of(spmd.ns) == before  # nothing re-added: same policies, same indexes


def test_kill9_and_restart_with_changed_config(spmd: Daemon) -> None:
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    spmd.stop(signal.SIGKILL)
    assert shapes(spmd.ns) == EXPECT_TRANSPORT | EXPECT_TUNNEL  # left behind by kill -9
    spmd.write(fmt("", spmd))  # the tunnel is gone from the file
    spmd.start()
    assert shapes(spmd.ns) == EXPECT_TRANSPORT


def test_sighup_applies_only_the_difference(spmd: Daemon) -> None:
    spmd.write(fmt("", spmd))
    spmd.start()
    before = index_of(spmd.ns)
    spmd.write(fmt(TUNNEL, spmd))
    spmd.send(signal.SIGHUP)
    time.sleep(1.0)
    after = index_of(spmd.ns)
    assert set(after) == EXPECT_TRANSPORT | EXPECT_TUNNEL
    for head in EXPECT_TRANSPORT:
        assert after[head] == before[head]  # untouched


def test_sighup_with_broken_config_changes_nothing(spmd: Daemon) -> None:
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    before = spmd.ns.policies()
    spmd.conf.write_text(spmd.conf.read_text() + "\nselector broken { src 192.0.2.1 };\n")
    spmd.send(signal.SIGHUP)
    time.sleep(1.0)
    assert spmd.ns.policies() == before
    assert spmd.proc is not None and spmd.proc.poll() is None
    assert ":2" in spmd.log.read_text().splitlines()[-1] or "found '}'" in spmd.log.read_text()


def test_spmdctl_round_trips(spmd: Daemon) -> None:
    rw = (fmt(TUNNEL, spmd).replace("peers_sa_ipaddr 203.0.113.1", "peers_sa_ipaddr IP_RW"))
    spmd.write(rw)
    spmd.start()
    assert shapes(spmd.ns) == EXPECT_TRANSPORT
    add = spmd.ctl("policy", "add", "tout", "0", "tunnel", "192.0.2.0/25", "192.0.2.128/25",
                   "198.51.100.1", "203.0.113.9")
    assert add.returncode == 0, add.stderr
    assert "Policy Added tout and tin" in add.stdout
    assert shapes(spmd.ns) == EXPECT_TRANSPORT | EXPECT_TUNNEL
    show = spmd.ctl("--json", "p", "s")
    entries = json.loads(show.stdout)
    assert {e["selector"] for e in entries} == {"out", "in", "tout", "tin"}
    text = spmd.ctl("policy", "show")
    assert "tout" in text.stdout and "SPID" in text.stdout
    status = spmd.ctl("--json", "status")
    assert isinstance(json.loads(status.stdout)["CACHE FQDN"], int)
    delete = spmd.ctl("--json", "policy", "delete", "tout")
    assert delete.returncode == 0, delete.stderr
    assert json.loads(delete.stdout) == {"ok": True, "selector": "tout", "deleted": True}
    assert shapes(spmd.ns) == EXPECT_TRANSPORT
    # --json for the changing commands too: what was done, or why not (exit status 1).
    add = spmd.ctl("--json", "policy", "add", "tout", "0", "tunnel", "192.0.2.0/25",
                   "192.0.2.128/25", "198.51.100.1", "203.0.113.9")
    assert json.loads(add.stdout) == {"ok": True, "selector": "tout",
                                      "added": "Policy Added tout and tin"}, add.stdout
    fqdn = spmd.ctl("--json", "fqdn", "add", "host.example.")
    assert json.loads(fqdn.stdout) == {"ok": True, "fqdn": "host.example.", "registered": True}
    refused = spmd.ctl("policy", "add", "nope", "0", "transport", "192.0.2.1", "192.0.2.2")
    assert refused.returncode == 1 and "selector not found" in refused.stderr
    refused = spmd.ctl("--json", "policy", "add", "nope", "0", "transport", "192.0.2.1",
                       "192.0.2.2")
    doc = json.loads(refused.stdout)
    assert refused.returncode == 1 and doc["ok"] is False and "selector not found" in doc["error"]


def test_spmdctl_json_of_migrate_fqdn_and_their_refusals(spmd: Daemon) -> None:
    """Each command's --json document as doc/spmdctl.md gives it, and what spmd refuses as
    ``{"ok": false, "error": …}`` with exit status 1."""
    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    old, new = ["198.51.100.1", "203.0.113.1"], ["198.51.100.1", "203.0.113.7"]
    assert spmd.ctl_json("migrate", "tout", *old, *new) == {
        "ok": True, "migrated": "tout", "from": old, "to": new}
    tunnel = [p for p in spmd.ns.policies() if "mode tunnel" in p]
    assert len(tunnel) == 3 and all("203.0.113.1" not in p for p in tunnel), tunnel
    assert "tmpl src 198.51.100.1 dst 203.0.113.7" in " ".join(tunnel)
    assert "tmpl src 203.0.113.7 dst 198.51.100.1" in " ".join(tunnel)  # in and fwd
    assert "Operation Failed(sl_index=tout)" in spmd.refused("migrate", "tout", *old, *new)
    assert "selector not found" in spmd.refused("migrate", "nope", *new, *old)
    assert "selector not found" in spmd.refused("policy", "delete", "nope")
    # A usage error is a JSON document too (the usage itself only on stderr).
    assert "migrate takes SELECTOR_INDEX" in spmd.refused("migrate", "tout", "192.0.2.1")
    assert "not a numeric address" in spmd.refused("fqdn", "query", "host.example.")

    assert spmd.ctl_json("fqdn", "list") == []
    assert spmd.ctl_json("fqdn", "add", "host.example") == {
        "ok": True, "fqdn": "host.example", "registered": True}
    assert "FQDN Already Registered" in spmd.refused("fqdn", "add", "host.example.")
    assert spmd.ctl_json("fqdn", "list") == ["host.example."]
    assert spmd.ctl_json("fqdn", "query", "192.0.2.77") == {"address": "192.0.2.77",
                                                           "names": []}
    assert spmd.ctl_json("fqdn", "delete", "host.example.") == {
        "ok": True, "fqdn": "host.example.", "deregistered": True}
    assert "No such a FQDN exists" in spmd.refused("fqdn", "delete", "host.example.")


def test_spmdctl_reload_signals_the_spmd_of_the_pid_file(spmd: Daemon) -> None:
    """spmd detached (no -F) writes its pid file in $RUNTIME_DIRECTORY (racoon2.paths), where
    spmdctl reload finds it; once spmd is gone, reload says so."""
    pid_dir = spmd.tmp / "pid"
    env = dict(os.environ, RUNTIME_DIRECTORY=str(pid_dir))
    pid_file = pid_dir / "spmd.pid"
    spmd.write(fmt("", spmd))
    started = spmd.ns.run([str(BIN / "spmd"), "-f", str(spmd.conf)], env=env)
    assert started.returncode == 0, started.stderr
    wait_for(pid_file)
    pid = int(pid_file.read_text())
    try:
        wait_for(spmd.sock)
        time.sleep(0.2)
        assert shapes(spmd.ns) == EXPECT_TRANSPORT
        spmd.write(fmt(TUNNEL, spmd))
        assert spmd.ctl_json("reload", env=env) == {"ok": True, "reload": "SIGHUP",
                                                    "pid": pid}
        deadline = time.monotonic() + 10
        while shapes(spmd.ns) != EXPECT_TRANSPORT | EXPECT_TUNNEL:
            assert time.monotonic() < deadline, shapes(spmd.ns)
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not pid_file.exists()
    error = spmd.refused("reload", env=env)
    assert error == f"spmd is not running: no {pid_file}, no active spmd.service"
    pid_file.write_text(f"{pid}\n")  # left behind, as by kill -9
    assert spmd.refused("reload", env=env) == \
        f"spmd is not running: no process {pid} ({pid_file} is stale)"


@pytest.mark.parametrize("words", [
    ("status",), ("policy", "show"), ("policy", "delete", "tout"), ("ns", "list"),
    ("ns", "add", "192.0.2.53"), ("ns", "delete", "192.0.2.53"), ("ns", "change", "192.0.2.53"),
    ("fqdn", "list"), ("fqdn", "query", "192.0.2.1"), ("fqdn", "add", "host.example."),
    ("fqdn", "delete", "host.example."), ("sc_interactive",),
    ("migrate", "tout", "198.51.100.1", "203.0.113.1", "198.51.100.1", "203.0.113.7"),
    ("policy", "add", "tout", "0", "transport", "192.0.2.1", "192.0.2.2"),
])
def test_every_command_without_spmd_fails_as_json(spmd: Daemon, words: tuple[str, ...]) -> None:
    """No spmd listening: every command (the queries too) exits 1 with the JSON failure."""
    spmd.write(fmt("", spmd))
    assert str(spmd.sock) in spmd.refused(*words)


@pytest.mark.parametrize(("sample", "count"), [
    ("transport_ike.conf", 2), ("tunnel_ike.conf", 3), ("transport_kink.conf", 2),
    ("tunnel_ike_natt.conf", 0),  # peers_sa_ipaddr IP_RW: iked asks for these at run time
])
def test_original_samples(spmd: Daemon, sample: str, count: int) -> None:
    etc = spmd.tmp / "etc"
    etc.mkdir()
    for src in ORIGINAL.glob("*.conf*"):
        text = src.read_text().replace("@prefix@", str(spmd.tmp)).replace(
            "/etc/racoon2/", "/etc/").replace("/var/run/racoon2/spmif", str(spmd.sock))
        (etc / src.name.removesuffix(".in")).write_text(text)
    for secret in ("spmd.pwd", "psk/test.psk"):
        path = etc / secret
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(fd, b"secret")
        os.close(fd)
    spmd.conf.write_text((etc / "racoon2.conf").read_text() + f'include "{etc / sample}";\n')
    spmd.start()
    policies = spmd.ns.policies()
    priorities = [int(p.split(" priority ")[1].split()[0]) for p in policies]
    assert len(policies) == count and all(prio >> 16 == 0x5201 for prio in priorities), policies


def test_fifty_clients_and_misbehaving_ones(spmd: Daemon) -> None:
    """49 well-behaved clients get their answers while others misbehave; spmd keeps serving."""
    import asyncio

    from racoon2.spmif.client import connect
    from racoon2.spmif.commands import PolicyDump, Stat

    spmd.write(fmt(TUNNEL, spmd))
    spmd.start()
    password = spmd.pwd.read_bytes()

    async def good(n: int) -> tuple[int, int]:
        client = await connect(str(spmd.sock), password)
        try:
            stat = await client.request(Stat())
            dump = await client.request(PolicyDump())
            return stat.code, len(dump.lines)
        finally:
            await client.quit()

    async def bad(kind: str) -> None:
        reader, writer = await asyncio.open_unix_connection(str(spmd.sock))
        await reader.readline()  # greeting
        if kind == "garbage":
            writer.write(b"\x00\xff\xfe garbage \r\n")
        elif kind == "long":
            writer.write(b"A" * 100_000)
        elif kind == "password":
            writer.write(b"LOGIN 0000000000000000000000000000000000000000\r\n")
        elif kind == "unknown":
            writer.write(b"FROBNICATE\r\n")
        elif kind == "half":
            writer.write(b"POLICY ADD out 0 trans")  # and vanish mid-command
        await writer.drain()
        writer.close()

    async def everyone() -> list[tuple[int, int]]:
        bad_ones = [bad(k) for k in ("garbage", "long", "password", "unknown", "half")]
        results = await asyncio.gather(*(good(n) for n in range(49)), *bad_ones,
                                       return_exceptions=True)
        errors = [r for r in results[:49] if isinstance(r, BaseException)]
        assert not errors, errors[:3]
        return [r for r in results[:49] if isinstance(r, tuple)]

    answers = asyncio.run(everyone())
    assert answers == [(250, 5)] * 49  # 2 transport + 3 tunnel policies installed
    assert spmd.proc is not None and spmd.proc.poll() is None
    assert spmd.ctl("status").returncode == 0


def test_fqdn_selector_is_installed_from_hosts(spmd: Daemon) -> None:
    """`ip netns exec` shows spmd /etc/netns/NS/hosts as /etc/hosts."""
    etc = Path("/etc/netns") / spmd.ns.name
    etc.mkdir(parents=True)
    try:
        (etc / "hosts").write_text("127.0.0.1 localhost\n203.0.113.5 peer.example.net\n")
        spmd.write(fmt("", spmd).replace("dst 192.0.2.2 port 1701", "dst peer.example.net"))
        spmd.start()
        assert "src 192.0.2.1/32 dst 203.0.113.5/32 proto udp dir out" in shapes(spmd.ns)
        fqdn = spmd.ctl("--json", "fqdn", "list")
        assert json.loads(fqdn.stdout) == ["peer.example.net."]
        assert spmd.ctl_json("fqdn", "query", "203.0.113.5") == {
            "address": "203.0.113.5", "names": ["peer.example.net"]}
    finally:
        (etc / "hosts").unlink(missing_ok=True)
        etc.rmdir()
