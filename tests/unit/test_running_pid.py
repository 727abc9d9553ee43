"""racoon2.daemon.running_pid: the pid file first, then systemd's MainPID of the unit (under
systemd the daemons write no pid file).  A script named systemctl on PATH stands in for
systemd here; tests/vm/systemd_units.sh's "spmdctl reload" step asks the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from racoon2.daemon import running_pid


def fake_systemctl(bin_dir: Path, main_pid: str) -> None:
    """A systemctl that answers ``show --property=MainPID --value UNIT`` with ``main_pid``
    and records its arguments."""
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >"{bin_dir}/args"\necho {main_pid}\n')
    script.chmod(0o755)


def test_the_pid_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_systemctl(tmp_path, "4321")
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "spmd.pid").write_text("812\n")
    assert running_pid(str(tmp_path / "spmd.pid"), "spmd.service") == 812
    assert not (tmp_path / "args").exists()


def test_without_a_pid_file_systemd_is_asked(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake_systemctl(tmp_path, "4321")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert running_pid(str(tmp_path / "spmd.pid"), "spmd.service") == 4321
    assert (tmp_path / "args").read_text().split() == [
        "show", "--property=MainPID", "--value", "spmd.service"]


@pytest.mark.parametrize("answer", ["0", "", "bogus"])
def test_an_inactive_unit_is_no_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    answer: str) -> None:
    fake_systemctl(tmp_path, answer)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert running_pid(str(tmp_path / "spmd.pid"), "spmd.service") is None


def test_no_systemd_is_no_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no systemctl at all
    assert running_pid(str(tmp_path / "spmd.pid"), "spmd.service") is None
