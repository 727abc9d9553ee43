"""spmd's DNS proxy, NS commands and spmif over TCP, in a namespace made for each test.

A Python responder (dnstool.py) plays the name server on 127.0.0.1 port 5353; spmd proxies
queries from 127.0.0.1 port 53 to it.  An answer about a registered FQDN that a selector names
makes spmd install that selector's policy, as the original's cache snooping did.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_spmd import Daemon, fmt, shapes
from test_spmd import spmd as spmd  # the fixture

HERE = Path(__file__).resolve().parent
RESOLVER = """
resolver { resolver on; nameserver 127.0.0.1 port 5353; dns_query 127.0.0.1 port 53; };
"""
PEER_OUT = "src 192.0.2.1/32 dst 203.0.113.5/32 proto udp dir out"


@pytest.fixture
def etc(spmd: Daemon) -> Iterator[Path]:
    """/etc/netns/NS: what `ip netns exec` shows spmd as /etc (nsswitch, resolv.conf, hosts)."""
    d = Path("/etc/netns") / spmd.ns.name
    d.mkdir(parents=True)
    (d / "nsswitch.conf").write_text("hosts: files dns\n")
    (d / "resolv.conf").write_text("nameserver 192.0.2.99\n")  # unreachable: only the proxy
    (d / "hosts").write_text("127.0.0.1 localhost\n")
    yield d
    for f in d.iterdir():
        f.unlink()
    d.rmdir()


def responder(spmd: Daemon) -> subprocess.Popen[bytes]:
    log = spmd.tmp / "dns.log"
    proc = spmd.ns.spawn([sys.executable, str(HERE / "dnstool.py"), "serve", "127.0.0.1",
                          "5353", "peer.example.net=203.0.113.5"], log)
    deadline = time.monotonic() + 10
    while b"ready" not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text()
        time.sleep(0.05)
    return proc


def ask(spmd: Daemon, name: str, ident: int, port: int = 53) -> str:
    done = spmd.ns.run([sys.executable, str(HERE / "dnstool.py"), "ask", "127.0.0.1",
                        str(port), name, str(ident)])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_policy(spmd: Daemon, shape: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while shape not in shapes(spmd.ns):
        assert time.monotonic() < deadline, spmd.log.read_text()
        time.sleep(0.1)


def test_query_is_answered_via_the_proxy_and_feeds_the_fqdn_cache(spmd: Daemon,
                                                                  etc: Path) -> None:
    responder(spmd)
    spmd.write(fmt(RESOLVER, spmd).replace("dst 192.0.2.2 port 1701", "dst peer.example.net"))
    spmd.start()
    assert PEER_OUT not in shapes(spmd.ns)  # not resolvable from /etc/hosts: waits
    assert ask(spmd, "peer.example.net", 0x1234) == f"{0x1234} 203.0.113.5"
    wait_policy(spmd, PEER_OUT)
    assert ask(spmd, "nobody.example.net", 77) == "77 none"
    junk = spmd.ns.run([sys.executable, "-c", "import socket; s=socket.socket(2, 2); "
                        "s.sendto(b'\\x01\\x02\\x03', ('127.0.0.1', 53))"])
    assert junk.returncode == 0
    names = spmd.ctl("fqdn", "query", "203.0.113.5")
    assert names.stdout.strip() == "peer.example.net", names.stderr
    status = json.loads(spmd.ctl("--json", "status").stdout)
    assert status["DNS QUERY"] == 2 and status["DNS RESPONSE"] == 2
    assert status["DNS QUERY PROXY"] == 2 and status["DNS RESPONSE PROXY"] == 2
    assert spmd.proc is not None and spmd.proc.poll() is None  # the junk cost nothing
    assert "DNS proxy listening on 127.0.0.1 port 53" in spmd.log.read_text()


def test_ns_commands_change_where_the_proxy_forwards(spmd: Daemon, etc: Path) -> None:
    responder(spmd)
    spmd.write(fmt(RESOLVER, spmd))
    spmd.start()
    assert json.loads(spmd.ctl("--json", "ns", "list").stdout) == ["127.0.0.1"]
    added = spmd.ctl("ns", "add", "192.0.2.53")
    assert added.returncode == 0, added.stderr
    assert json.loads(spmd.ctl("--json", "ns", "list").stdout) == ["192.0.2.53", "127.0.0.1"]
    again = spmd.ctl("ns", "add", "192.0.2.53")
    assert again.returncode == 1 and "Already Exists" in again.stderr
    # 192.0.2.53 is current now and unreachable: the query is sent there, no answer comes
    stuck = spmd.ns.run([sys.executable, str(HERE / "dnstool.py"), "ask", "127.0.0.1", "53",
                         "peer.example.net", "5"])
    assert stuck.returncode != 0 or "203.0.113.5" not in stuck.stdout
    assert spmd.ctl("ns", "change", "127.0.0.1").returncode == 0
    assert ask(spmd, "peer.example.net", 6) == "6 203.0.113.5"
    assert spmd.ctl("ns", "delete", "192.0.2.53").returncode == 0
    last = spmd.ctl("ns", "delete", "127.0.0.1")
    assert last.returncode == 1 and "At least need one dns server" in last.stderr
    assert json.loads(spmd.ctl("--json", "ns", "list").stdout) == ["127.0.0.1"]


def test_ns_commands_in_json(spmd: Daemon, etc: Path) -> None:
    """doc/spmdctl.md's documents of ns add, change and delete, and each one's refusals."""
    spmd.write(fmt(RESOLVER, spmd))
    spmd.start()
    assert spmd.ctl_json("ns", "add", "192.0.2.53") == {"ok": True, "ns": "192.0.2.53",
                                                       "added": True}
    assert "192.0.2.53 Already Exists" in spmd.refused("ns", "add", "192.0.2.53")
    assert spmd.ctl_json("ns", "change", "127.0.0.1") == {"ok": True, "ns": "127.0.0.1",
                                                         "changed": True}
    assert "Can not find 192.0.2.99" in spmd.refused("ns", "change", "192.0.2.99")
    assert spmd.ctl_json("ns", "list") == ["127.0.0.1", "192.0.2.53"]
    assert spmd.ctl_json("ns", "delete", "192.0.2.53") == {"ok": True, "ns": "192.0.2.53",
                                                          "deleted": True}
    assert "Does Not Exist" in spmd.refused("ns", "delete", "192.0.2.53")
    assert "At least need one dns server" in spmd.refused("ns", "delete", "127.0.0.1")
    assert "not a numeric address" in spmd.refused("ns", "add", "ns.example.")


def test_resolver_off_ns_list_is_empty_and_add_refused(spmd: Daemon, etc: Path) -> None:
    spmd.write(fmt("resolver { resolver off; nameserver 127.0.0.1; };", spmd))
    spmd.start()
    assert spmd.ctl("ns", "list").stdout.strip() == "no name server"
    assert spmd.ctl_json("ns", "list") == []
    refused = spmd.ctl("ns", "add", "192.0.2.53")
    assert refused.returncode == 1 and "resolver off" in refused.stderr
    assert "resolver off" in spmd.refused("ns", "add", "192.0.2.53")


def test_spmdctl_logs_in_over_tcp_when_the_config_names_only_tcp(spmd: Daemon) -> None:
    spmd.write(fmt("", spmd).replace(f'unix "{spmd.sock}";',
                                     f'unix "{spmd.sock}"; 127.0.0.1 port 9555;'))
    spmd.start()
    only_tcp = spmd.tmp / "tcp.conf"
    only_tcp.write_text(f'interface {{ spmd {{ 127.0.0.1 port 9555; }}; '
                        f'spmd_password "{spmd.pwd}"; }};\n')
    done = spmd.ns.run([str(Path(sys.executable).parent / "spmdctl"), "-d", "-f",
                        str(only_tcp), "--json", "policy", "show"])
    assert done.returncode == 0, done.stderr
    assert "connected to 127.0.0.1 port 9555" in done.stderr
    assert {e["selector"] for e in json.loads(done.stdout)} == {"out", "in"}
    assert "spmif listening on 127.0.0.1 port 9555 (TCP)" in spmd.log.read_text()
