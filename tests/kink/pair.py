"""Two KINK hosts in network namespaces, sharing a throwaway MIT realm KINK.TEST.

The namespaces come from tests/harness/peers/netns.sh (documentation addresses only):
A = 192.0.2.1 (host-a.example.com), B = 192.0.2.2 (host-b.example.com), with 198.51.100.1 and
198.51.100.17 on lo for tunnel-mode selectors.  tests/harness/kink/realm.sh runs the KDC inside
namespace A on its own address 203.0.113.88 (port 88, on A's lo; B routes it via 192.0.2.1).
Not on 192.0.2.1: the policies between the two hosts would then cover the Kerberos traffic
too, and kinkd, which needs a ticket before it can make any SA, would wait for itself.  A real
KDC is a third host outside the protected traffic; the extra address stands for it.
Each side runs spmd and kinkd from the venv, with its files in ``DIR/a`` or ``DIR/b``;
everything started here is stopped by PID.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interop.peers import BIN, HARNESS, INNER, ROOT, stop_daemons, wait_until

REALM_SH = ROOT / "tests" / "harness" / "kink" / "realm.sh"
NETNS_SH = HARNESS / "netns.sh"
REALM = "KINK.TEST"
ADDR = {"A": "192.0.2.1", "B": "192.0.2.2"}
#: The address netns.sh puts on each side's lo, inside INNER[side].
LO_ADDR = {"A": "198.51.100.1", "B": "198.51.100.17"}
#: Where the KDC lives: namespace A, on an address of its own (see the module docstring).
KDC_SIDE = "A"
KDC_ADDR = "203.0.113.88"
# The Debian packages put the KDC tools in /usr/sbin, which a non-login PATH may lack.
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TOOLS = ("ip", "krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kvno")

_serial = itertools.count()


def principal(side: str) -> str:
    """The KINK principal of side "A" or "B"."""
    return f"kink/host-{side.lower()}.example.com@{REALM}"


def missing_tool() -> str | None:
    """The first tool the pair needs that is not installed, or None."""
    for tool in TOOLS:
        if shutil.which(tool, path=TOOL_PATH) is None:
            return tool
    return None


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def racoon2_conf(d: Path, side: str, peer_side: str, *, mode: str = "transport",
                 enc: str = "aes128_cbc", auth: str = "hmac_sha1", lifetime: str = "1 hour",
                 extra_kink: str = "") -> str:
    """A racoon2.conf for ``side`` talking KINK to ``peer_side``, after
    samples/kink-transport.conf; spmif socket and password in ``d``.  ``auth`` "" leaves out
    esp_auth_alg (AEAD); ``extra_kink`` goes into the remote's kink block; ``mode`` "tunnel"
    protects the lo networks of netns.sh between the two hosts' addresses."""
    if mode not in ("transport", "tunnel"):
        raise ValueError(f"mode {mode!r}: expected transport or tunnel")
    me, him = ADDR[side], ADDR[peer_side]
    tunnel = mode == "tunnel"
    lnet, rnet = (INNER[side], INNER[peer_side]) if tunnel else (me, him)
    tunnel_ends = f'\n    my_sa_ipaddr "{me}";\n    peers_sa_ipaddr "{him}";' if tunnel else ""
    auth_line = f"\n    esp_auth_alg {{ {auth}; }};" if auth else ""
    extra = f"\n        {extra_kink}" if extra_kink else ""
    peer = f"host_{peer_side.lower()}"
    return f"""\
# KINK {mode} mode: {principal(side)} ({me}) <-> {principal(peer_side)} ({him})
interface {{
    kink {{ "{me}"; }};
    spmd {{ unix "{d}/spmif"; }};
    spmd_password "{d}/spmd.pwd";
}};

resolver {{ resolver off; }};

default {{
    remote {{
        acceptable_kmp {{ kink; }};
        kink {{
            my_principal "{principal(side)}";
            nonce_size 16;
        }};
    }};
}};

remote {peer} {{
    acceptable_kmp {{ kink; }};
    kink {{
        peers_ipaddr "{him}";
        peers_principal "{principal(peer_side)}";{extra}
    }};
}};

selector {peer}_out {{
    direction outbound;
    src "{lnet}";
    dst "{rnet}";
    upper_layer_protocol any;
    policy_index {peer}_policy;
}};

selector {peer}_in {{
    direction inbound;
    src "{rnet}";
    dst "{lnet}";
    upper_layer_protocol any;
    policy_index {peer}_policy;
}};

policy {peer}_policy {{
    action auto_ipsec;
    remote_index {peer};
    ipsec_mode {mode};
    ipsec_index {{ ipsec_esp; }};
    ipsec_level require;{tunnel_ends}
}};

ipsec ipsec_esp {{
    ipsec_sa_lifetime_time {lifetime};
    sa_index sa_esp;
}};

sa sa_esp {{
    sa_protocol esp;
    esp_enc_alg {{ {enc}; }};{auth_line}
}};
"""


class KinkSide:
    """spmd and kinkd of one host (side "A" or "B") in its namespace, files in ``d``."""

    def __init__(self, side: str, ns: str, d: Path, realm: Path) -> None:
        self.side, self.ns, self.d, self.realm = side, ns, d, realm
        self.addr = ADDR[side]
        self.principal = principal(side)
        self.keytab = realm / f"host-{side.lower()}.keytab"
        self.conf = d / "racoon2.conf"
        self.replay_cache = d / "kinkd.rc"
        self.ctl_socket = d / "kinkd.ctl"
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)  # spmd refuses a socket directory others can enter
        pwd = d / "spmd.pwd"
        pwd.write_text(secrets.token_hex(16))
        pwd.chmod(0o600)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def krb5_env(self, ccache: str) -> dict[str, str]:
        """The Kerberos environment of this host: the realm's krb5.conf, its own keytab."""
        return {"KRB5_CONFIG": str(self.realm / "krb5.conf"),
                "KRB5_KTNAME": f"FILE:{self.keytab}", "KRB5CCNAME": ccache}

    def log(self, daemon: str = "kinkd") -> str:
        """A daemon's log so far ("kinkd" or "spmd")."""
        path = self.d / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _spawn(self, daemon: str, argv: list[str]) -> None:
        with open(self.d / f"{daemon}.log", "ab") as out:
            self.procs[daemon] = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)

    def _wait(self, daemon: str, check: Callable[[], bool], what: str) -> None:
        """Wait for ``check``, failing with the daemon's log tail as soon as it exits."""
        proc = self.procs[daemon]

        def ready() -> bool:
            if check():
                return True
            if proc.poll() is not None:
                raise AssertionError(f"{daemon} of {self.side} exited with {proc.returncode} "
                                     f"before {what}:\n{_tail(self.d / f'{daemon}.log')}")
            return False

        try:
            wait_until(ready, 90, f"{what} ({daemon} of {self.side})")
        except AssertionError as e:
            if proc.poll() is None:
                raise AssertionError(f"{e}\n{_tail(self.d / f'{daemon}.log')}") from None
            raise

    def start(self, conf_text: str, *kinkd_flags: str, user_to_user: bool = False) -> None:
        """Write the configuration, start spmd, then kinkd (debug on, plus ``kinkd_flags``).

        ``user_to_user``: kinkd gets no keytab, only a TGT that ``kinit`` put in its
        credential cache, so peers must reach it with user-to-user tickets."""
        self.conf.write_text(conf_text)
        if "spmd" not in self.procs or self.procs["spmd"].poll() is not None:
            self._spawn("spmd", [str(BIN / "spmd"), "-F", "-f", str(self.conf)])
            self._wait("spmd", (self.d / "spmif").exists, "the spmif socket")
        # kinkd's own credential cache, so that nothing lands in /tmp/krb5cc_0.
        krb5 = self.krb5_env(f"FILE:{self.d}/kinkd.ccache")
        if user_to_user:
            kinit = subprocess.run(
                ["ip", "netns", "exec", self.ns, "kinit", "-k", "-t", str(self.keytab),
                 self.principal], env={**os.environ, "PATH": TOOL_PATH, **krb5},
                capture_output=True, text=True, check=False)
            assert kinit.returncode == 0, kinit.stderr
            krb5["KRB5_KTNAME"] = f"FILE:{self.d}/no.keytab"
        env = [f"{k}={v}" for k, v in krb5.items()]
        # The log is appended to across restarts: only this start's lines count.
        before = len(self.log())
        self._spawn("kinkd", ["env", *env, str(BIN / "kinkd"), "-F", "-f", str(self.conf),
                              "--replay-cache", str(self.replay_cache), "-d",
                              "--ctl-socket", str(self.ctl_socket), *kinkd_flags])
        self._wait("kinkd", lambda: "listening on" in self.log()[before:], '"listening on"')

    def _kinkdctl(self, status: int, words: tuple[str, ...]) -> dict[str, Any]:
        done = subprocess.run([str(BIN / "kinkdctl"), "-s", str(self.ctl_socket), "--json",
                               *words], capture_output=True, text=True, check=False)
        assert done.returncode == status, done.stdout + done.stderr
        doc = json.loads(done.stdout)
        assert isinstance(doc, dict)
        return doc

    def ctl(self, *words: str) -> dict[str, Any]:
        """kinkdctl --json WORDS, parsed (it must succeed)."""
        return self._kinkdctl(0, words)

    def ctl_refused(self, *words: str) -> str:
        """kinkdctl --json WORDS, which must be refused (exit 1): the answer's error."""
        doc = self._kinkdctl(1, words)
        assert doc["ok"] is False, doc
        return str(doc["error"])

    def stop(self, *daemons: str) -> dict[str, int]:
        """SIGTERM kinkd, then spmd (or just ``daemons``); their exit statuses (only of those
        that were started)."""
        return stop_daemons(self.procs, daemons or ("kinkd", "spmd"))

    def sh(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command in this side's namespace and wait; it gets this host's Kerberos
        environment with a credential cache of its own (not kinkd's)."""
        env = {**os.environ, "PATH": TOOL_PATH,
               **self.krb5_env(f"FILE:{self.d}/sh.ccache")}
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], env=env,
                              capture_output=True, text=True, check=False)


class KinkPair:
    """Namespaces A and B, the realm with its KDC in A, and one :class:`KinkSide` each.

    Call :meth:`close` to stop everything (the fixture does)."""

    def __init__(self) -> None:
        # Unique per process and pair; the interface names (prefix + "a") stay <= 15 chars.
        self.prefix = f"r2k{os.getpid()}x{next(_serial) % 1000}"
        assert len(self.prefix) <= 14, self.prefix
        self.dir = Path(tempfile.mkdtemp(prefix="r2kink-"))
        self.realm = self.dir / "realm"
        self._env = {**os.environ, "PATH": TOOL_PATH}
        self._netns = False
        self._kdc = False
        self.a = KinkSide("A", self.prefix + "A", self.dir / "a", self.realm)
        self.b = KinkSide("B", self.prefix + "B", self.dir / "b", self.realm)
        try:
            self._netns = True
            self._run(NETNS_SH, "up", self.prefix)
            # Tunnel mode needs a route to the peer's lo network; transport mode ignores it.
            for me, him in ((self.a, self.b), (self.b, self.a)):
                self._run_ip("-n", me.ns, "route", "add", INNER[him.side], "via", him.addr,
                             "src", LO_ADDR[me.side])
            kdc, other = self.side(KDC_SIDE), self.b if KDC_SIDE == "A" else self.a
            self._run_ip("-n", kdc.ns, "addr", "add", f"{KDC_ADDR}/32", "dev", "lo")
            self._run_ip("-n", other.ns, "route", "add", f"{KDC_ADDR}/32", "via", kdc.addr)
            self._kdc = True
            self._run(REALM_SH, "up", str(self.realm), kdc.ns, KDC_ADDR)
        except BaseException:
            self.close()
            raise

    def _run(self, script: Path, *args: str) -> None:
        done = subprocess.run(["bash", str(script), *args], env=self._env, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{script.name} {' '.join(args)}: exit {done.returncode}\n"
                               f"{done.stdout}{done.stderr}")

    def _run_ip(self, *args: str) -> None:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def side(self, name: str) -> KinkSide:
        """Side "A" or "B"."""
        return {"A": self.a, "B": self.b}[name]

    def config(self, side: str, peer_side: str, *, mode: str = "transport",
               enc: str = "aes128_cbc", auth: str = "hmac_sha1", lifetime: str = "1 hour",
               extra_kink: str = "") -> str:
        """:func:`racoon2_conf` for ``side`` with that side's directory."""
        return racoon2_conf(self.side(side).d, side, peer_side, mode=mode, enc=enc, auth=auth,
                            lifetime=lifetime, extra_kink=extra_kink)

    def stop_kdc(self) -> None:
        """Stop the KDC (to see kinkd cope with a KDC that does not answer)."""
        subprocess.run(["bash", str(REALM_SH), "down", str(self.realm)], env=self._env,
                       capture_output=True, check=False)
        self._kdc = False

    def kdc_log(self) -> str:
        """The KDC's log so far (one line per AS_REQ / TGS_REQ)."""
        path = self.realm / "krb5kdc.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop the daemons still running, the KDC; delete the namespaces and the directory."""
        for s in (self.a, self.b):
            s.stop()
        if self._kdc:
            subprocess.run(["bash", str(REALM_SH), "down", str(self.realm)], env=self._env,
                           capture_output=True, check=False)
            self._kdc = False
        if self._netns:
            subprocess.run(["bash", str(NETNS_SH), "down", self.prefix], capture_output=True,
                           check=False)
            self._netns = False
        shutil.rmtree(self.dir, ignore_errors=True)
