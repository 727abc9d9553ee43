"""One host in a network namespace running spmd, iked and kinkd from the original samples.

eth0 is one end of a veth pair, up, with 192.0.2.1/24, 2001:db8::1/64 and its link-local address
(DAD off, so that every address can be bound at once); 203.0.113.88 on lo is the throwaway
KDC of tests/harness/kink/realm.sh when kinkd runs.  Only the processes started here are
signalled; the namespace, the KDC and the files go with :meth:`close`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from netns import Netns, wait_for

from samples import install

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REALM_SH = ROOT / "tests" / "harness" / "kink" / "realm.sh"
KDC_ADDR = "203.0.113.88"
KRB5_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")


def krb5_missing() -> str | None:
    """The first MIT Kerberos tool realm.sh needs that is not installed, or None."""
    import shutil

    return next((t for t in KRB5_TOOLS if shutil.which(t) is None and
                 not Path("/usr/sbin", t).exists()), None)


class Host:
    """The namespace, the installed samples and the daemons; see the module docstring."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ns = Netns()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.realm: Path | None = None
        self._realm_up: subprocess.Popen[bytes] | None = None
        for knob in ("all", "default"):
            self.ns.run(["sysctl", "-qw", f"net.ipv6.conf.{knob}.accept_dad=0"])
        # A veth pair (this kernel has no dummy driver); the peer end carries no address.
        self.ns.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        self.ns.run(["sysctl", "-qw", "net.ipv6.conf.eth0p.disable_ipv6=1"])
        self.ns.ip("link", "set", "eth0p", "up")
        self.ns.ip("addr", "add", "192.0.2.1/24", "dev", "eth0")
        self.ns.ip("addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
        self.ns.ip("link", "set", "eth0", "up")
        self.run_dir = tmp / "run"
        self.run_dir.mkdir(mode=0o700)
        self.sock = self.run_dir / "spmif"
        self.link_local = self._wait_link_local()

    def _wait_link_local(self) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            out = self.ns.ip("-6", "addr", "show", "dev", "eth0", "scope", "link")
            found = re.search(r"inet6 (fe80::[0-9a-f:]+)/64", out)
            if found and "tentative" not in out:
                return found.group(1)
            time.sleep(0.05)
        raise TimeoutError("eth0 got no link-local address")

    # -- files --------------------------------------------------------------------------------

    def install(self, extra: str | None) -> Path:
        """The original samples under tmp/prefix with ``extra`` included: racoon2.conf."""
        self.conf = install(self.tmp / "prefix", self.sock, extra)
        return self.conf

    def log(self, daemon: str) -> str:
        """Everything ``daemon`` wrote so far."""
        path = self.tmp / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the realm ----------------------------------------------------------------------------

    def start_realm(self) -> None:
        """Begin making the throwaway realm (about a second or two); :meth:`wait_realm`."""
        self.realm = self.tmp / "realm"
        self.ns.ip("addr", "add", f"{KDC_ADDR}/32", "dev", "lo")
        self._realm_up = subprocess.Popen(["bash", str(REALM_SH), "up", str(self.realm),
                                           self.ns.name, KDC_ADDR], stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT)

    def wait_realm(self) -> None:
        """Wait for :meth:`start_realm`; raises with realm.sh's output when it failed."""
        assert self._realm_up is not None
        out, _ = self._realm_up.communicate(timeout=60)
        if self._realm_up.returncode:
            raise RuntimeError(f"realm.sh up failed: {out.decode(errors='replace')}")

    # -- daemons ------------------------------------------------------------------------------

    def start(self, daemon: str) -> None:
        """Start spmd, iked or kinkd in the foreground on racoon2.conf (debug on)."""
        conf = str(self.conf)
        if daemon == "kinkd":
            argv = ["env", *self._krb5_env(), str(BIN / "kinkd"), "-F", "-d", "-f", conf,
                    "--replay-cache", str(self.tmp / "kinkd.rc")]
        else:
            argv = [str(BIN / daemon), "-F", "-d", "-f", conf] + (["-v", "-j", "1"]
                                                                  if daemon == "iked" else [])
        self.procs[daemon] = self.ns.spawn(argv, self.tmp / f"{daemon}.log")

    def _krb5_env(self) -> list[str]:
        if self.realm is None:
            return []
        return [f"KRB5_CONFIG={self.realm / 'krb5.conf'}",
                f"KRB5_KTNAME=FILE:{self.realm / 'host-a.keytab'}",
                f"KRB5CCNAME=FILE:{self.tmp / 'kinkd.ccache'}"]

    def wait_log(self, daemon: str, check: Callable[[str], bool], what: str,
                 timeout: float = 20.0) -> str:
        """Wait until ``daemon``'s log passes ``check``; fails early when it exits."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log(daemon)
            if check(text):
                return text
            proc = self.procs[daemon]
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{daemon} (exit {proc.poll()}) never logged {what}:\n"
                                     f"{text[-3000:]}")
            time.sleep(0.05)

    def wait_spmd(self) -> None:
        """Wait for spmd's spmif socket."""
        wait_for(self.sock)

    def signal(self, daemon: str, sig: signal.Signals) -> None:
        """Send ``sig`` to a daemon we started (through ip netns exec, which execs it)."""
        self.procs[daemon].send_signal(sig)

    def stop(self, daemon: str) -> int:
        """SIGTERM ``daemon`` and wait: its exit status."""
        return self.ns.stop(self.procs[daemon], signal.SIGTERM, timeout=15)

    # -- the kernel's view --------------------------------------------------------------------

    def udp_listening(self) -> set[str]:
        """``ss -uln``'s local ends in the namespace, as ``addr:port`` (v6 in brackets)."""
        out = self.ns.run(["ss", "-Huln"]).stdout
        return {line.split()[3] for line in out.splitlines() if line.strip()}

    def close(self) -> None:
        """Stop what we started, the KDC, and delete the namespace."""
        if self.realm is not None:
            subprocess.run(["bash", str(REALM_SH), "down", str(self.realm)], check=False,
                           capture_output=True)
        self.ns.close()
