"""The daemons' command lines: every flag's exit code and stream, and -n check mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = 'sa s { sa_protocol esp; };\n'


def run(daemon: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", daemon, *args], capture_output=True, text=True,
                          check=False)


@pytest.fixture
def good(tmp_path: Path) -> str:
    path = tmp_path / "racoon2.conf"
    pwd = tmp_path / "spmd.pwd"
    pwd.write_bytes(b"secret")
    pwd.chmod(0o600)
    path.write_text(f'interface {{ ike {{ 192.0.2.1; }}; kink {{ 192.0.2.1; }}; spmd {{ unix '
                    f'"/run/r2/spmif"; }}; spmd_password "{pwd}"; }};\n'
                    'default { remote { kink { my_principal "kink/a@EXAMPLE.COM"; }; }; };\n'
                    + GOOD)
    return str(path)


@pytest.mark.parametrize("daemon", ["spmd", "iked", "kinkd"])
def test_check_mode_ok(daemon: str, good: str) -> None:
    done = run(daemon, "-n", "-f", good)
    assert (done.returncode, done.stdout) == (0, f"{good}: configuration OK\n"), done.stderr


@pytest.mark.parametrize("daemon", ["spmd", "iked", "kinkd"])
def test_check_mode_error_has_file_and_line(daemon: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("sa s {\n  sa_protocol espp;\n};\n")
    done = run(daemon, "-n", "-f", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"{path}:2: found 'espp', expected an SA protocol")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("daemon", ["spmd", "iked", "kinkd"])
def test_check_mode_never_tracebacks(daemon: str, tmp_path: Path) -> None:
    for content in (b"\xff\xfe\x00garbage", b"", b'include "/nonexistent/*";'):
        path = tmp_path / "x.conf"
        path.write_bytes(content)
        done = run(daemon, "-n", "-f", str(path))
        assert "Traceback" not in done.stderr
    missing = run(daemon, "-n", "-f", str(tmp_path / "missing.conf"))
    assert missing.returncode == 1 and "No such file" in missing.stderr


def test_secret_file_mode_is_checked(good: str, tmp_path: Path) -> None:
    (tmp_path / "spmd.pwd").chmod(0o644)
    done = run("spmd", "-n", "-f", good)
    assert done.returncode == 1
    assert "spmd.pwd: mode 0644 lets others read a secret; chmod 600 it" in done.stderr


def test_spmd_flags() -> None:
    assert run("spmd", "-h").stdout.startswith("usage: spmd")
    version = run("spmd", "-V")
    assert version.returncode == 0 and version.stderr.startswith("Version: ")
    assert run("spmd", "-D", "4").stderr == "Debug level is too big\n"
    assert run("spmd", "-D", "4").returncode == 1
    assert run("spmd", "-ddd", "-n", "-f", "/nonexistent").returncode == 1
    unknown = run("spmd", "-z")
    assert unknown.returncode == 0 and "usage: spmd" in unknown.stdout


def test_iked_flags(good: str) -> None:
    helped = run("iked", "-h")
    assert helped.returncode == 0 and helped.stderr.startswith("usage: iked")
    assert run("iked", "-z").returncode == 1
    assert run("iked", "-4", "-6", "-n", "-f", good).returncode == 1
    assert run("iked", "-D", "zz").returncode == 1
    assert run("iked", "-p", "70000").returncode == 1
    goes_on = run("iked", "-V", "-n", "-f", good)
    assert goes_on.returncode == 0 and goes_on.stderr.startswith("iked version")
    assert run("iked", "-D", "0x8", "-dd", "-n", "-f", good).returncode == 0
    assert run("iked", "extra").returncode == 1
    bad_wait = run("iked", "--stop-wait", "soon", "-n", "-f", good)
    assert bad_wait.returncode == 1 and "--stop-wait soon: expected seconds" in bad_wait.stderr
    assert run("iked", "--stop-wait", "0.5", "-n", "-f", good).returncode == 0
    assert run("iked", "--keep-sas", "--state-file", "/tmp/iked.state", "-n", "-f",
               good).returncode == 0
    assert "--keep-sas" in helped.stderr and "--state-file" in helped.stderr
    assert run("iked", "--ctl-socket", "/tmp/iked.ctl", "-n", "-f", good).returncode == 0
    assert "--ctl-socket" in helped.stderr


def test_kinkd_flags(good: str) -> None:
    assert (run("kinkd", "-h").returncode, run("kinkd", "-V").returncode) == (1, 1)
    assert run("kinkd", "-h").stdout.startswith("usage: kinkd")
    assert run("kinkd", "-V").stdout.startswith("kinkd ")
    assert run("kinkd", "-D", "krb5", "-D", "all", "-n", "-f", good).returncode == 0
    assert run("kinkd", "-D", "nonsense").returncode == 1
    assert run("kinkd", "--kdc-timeout", "0", "-n", "-f", good).returncode == 1
    assert run("kinkd", "--kdc-timeout", "30", "-n", "-f", good).returncode == 0
    assert run("kinkd", "--ctl-socket", "", "-n", "-f", good).returncode == 0
    assert "--ctl-socket" in run("kinkd", "-h").stdout


def test_ctl_tools_usage() -> None:
    def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).parent / name), *args],
                              capture_output=True, text=True, check=False)
    for name in ("ikedctl", "kinkdctl"):
        done = tool(name)
        assert done.returncode == 1 and f"usage: {name} [-s SOCKET] [--json]" in done.stderr
        assert "stats --prometheus" in done.stderr and "log-level LEVEL" in done.stderr
    missing = tool("ikedctl", "-s", "/nonexistent/iked.ctl", "status")
    assert missing.returncode == 1 and "no control socket" in missing.stderr


def test_kinkd_without_a_tgt_says_why(good: str, tmp_path: Path) -> None:
    """No key in the keytab and no ticket in the ccache: exit 1 naming both, before any
    socket or kernel state is touched."""
    env = {**os.environ, "KRB5_CONFIG": str(tmp_path / "none.conf"),
           "KRB5_KTNAME": f"FILE:{tmp_path}/none.keytab", "KRB5CCNAME": f"FILE:{tmp_path}/cc"}
    done = subprocess.run([sys.executable, "-m", "kinkd", "-F", "-f", good,
                           "--replay-cache", str(tmp_path / "rc")], capture_output=True,
                          text=True, check=False, env=env, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "no TGT for kink/a@EXAMPLE.COM" in out and "keytab" in out


SAMPLES = Path(__file__).resolve().parents[3] / "samples"
READERS = {"kink-transport.conf": ("spmd", "kinkd")}


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.conf")))
def test_samples_pass_check_mode_from_a_fresh_checkout(sample: str) -> None:
    """As shipped: the key files are not there yet, which is a warning, not an error."""
    for daemon in READERS.get(sample, ("spmd", "iked")):
        done = run(daemon, "-n", "-f", str(SAMPLES / sample))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"{SAMPLES / sample}: configuration OK\n"
        assert "does not exist yet; create it with: pskgen -r -o" in done.stderr
