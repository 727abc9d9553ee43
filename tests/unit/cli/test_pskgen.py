"""pskgen: every mode and output format of the original, 0600 files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pskgen.cli import USAGE, export_hex, import_hex, main


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pskgen", *args], input=stdin,
                          capture_output=True, check=False)


def test_usage_without_mode() -> None:
    done = run()
    assert done.returncode == 0 and done.stdout.decode() == USAGE
    assert run("-d").stdout.decode() == USAGE


def test_random_key_to_stdout_and_file(tmp_path: Path) -> None:
    assert len(run("-r").stdout) == 16
    assert len(run("-r", "-s", "48").stdout) == 48
    out = tmp_path / "spmd.pwd"
    assert main(["-r", "-s", "32", "-o", str(out)]) == 0
    assert len(out.read_bytes()) == 32
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = out.read_bytes()
    assert main(["-r", "-o", str(out)]) == 0 and out.read_bytes() != first


def test_existing_file_is_replaced_by_a_0600_file(tmp_path: Path) -> None:
    out = tmp_path / "key"
    out.write_bytes(b"old")
    os.chmod(out, 0o644)
    old_inode = out.stat().st_ino
    assert main(["-r", "-o", str(out)]) == 0
    st = out.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and len(out.read_bytes()) == 16
    assert st.st_ino != old_inode  # a new file renamed into place, not the old one rewritten
    assert os.listdir(tmp_path) == ["key"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")
def test_file_of_another_user_becomes_ours(tmp_path: Path) -> None:
    out = tmp_path / "spmd.pwd"
    out.write_bytes(b"old")
    os.chown(out, 4242, 4242)
    assert main(["-r", "-o", str(out)]) == 0
    st = out.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (os.geteuid(), 0o600)
    assert len(out.read_bytes()) == 16


def test_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o644)
    out = tmp_path / "key"
    out.symlink_to(victim)
    assert main(["-r", "-o", str(out)]) == 0
    assert not out.is_symlink() and stat.S_ISREG(out.lstat().st_mode)
    assert len(out.read_bytes()) == 16 and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert victim.read_bytes() == b"precious" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert main(["-r", "-o", str(dangling)]) == 0
    assert not (tmp_path / "nowhere").exists() and not dangling.is_symlink()


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_bytes(b"")
    done = run("-r", "-o", str(target))
    assert done.returncode == 1 and f"can't write {target}".encode() in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["dir"]
    done = run("-r", "-o", str(tmp_path / "missing" / "key"))
    assert done.returncode == 1 and b"can't create" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["dir"]


def test_bad_length_and_unreadable_input(tmp_path: Path) -> None:
    assert run("-r", "-s", "0").returncode == 1
    done = run("-i", str(tmp_path / "missing"))
    assert done.returncode == 1 and b"can't open" in done.stderr
    assert run("-x").returncode == 1


def test_import_first_line(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.write_bytes(b"racoon\nsecond line\n")
    assert run("-i", str(src)).stdout == b"racoon"
    assert run("-i", "-", stdin=b"from stdin\nrest").stdout == b"from stdin"


def test_import_hex(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.write_text("0x72 0x61 0x63\n0x6f 0x6f 0x6e\n")
    assert run("-i", str(src), "-h").stdout == b"racoon"
    assert import_hex(b"0x1 0x23") == bytes([0x12, 0x03])  # the original's pairing quirk


def test_export_format_byte_exact(tmp_path: Path) -> None:
    data = bytes(range(20))
    assert export_hex(data) == (
        "0x00 0x01 0x02 0x03 0x04 0x05 0x06 0x07  0x08 0x09 0x0a 0x0b 0x0c 0x0d 0x0e 0x0f\n"
        "0x10 0x11 0x12 0x13 ")
    src = tmp_path / "key"
    src.write_bytes(data)
    assert run("-e", str(src)).stdout.decode() == export_hex(data)


@pytest.mark.parametrize("size", [1, 8, 16, 64, 65, 200])
def test_export_then_import_round_trips(tmp_path: Path, size: int) -> None:
    key = os.urandom(size)
    assert import_hex(export_hex(key).encode()) == key
