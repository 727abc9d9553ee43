"""racoon2.paths: which layout an installation gets, and what systemd's directories change."""

from __future__ import annotations

from racoon2 import paths


def test_source_and_pip_installs_keep_the_original_layout() -> None:
    for where in ("/usr/local/lib/python3.11/dist-packages/racoon2",
                  "/home/admin/venv/lib/python3.11/site-packages/racoon2"):
        layout = paths.detect({}, where)
        assert layout is paths.LOCAL
    assert paths.LOCAL.config == "/usr/local/etc/racoon2/racoon2.conf"
    assert paths.LOCAL.pid_file("spmd") == "/var/run/spmd.pid"
    assert paths.LOCAL.iked_state == "/var/run/racoon2/iked.state"
    assert paths.LOCAL.kinkd_replay == "/var/run/kinkd.rc"


def test_a_distribution_package_follows_the_fhs() -> None:
    layout = paths.detect({}, "/usr/lib/python3/dist-packages/racoon2")
    assert layout.config == "/etc/racoon2/racoon2.conf"
    assert layout.pid_file("iked") == "/run/racoon2/iked.pid"
    assert layout.iked_state == "/var/lib/racoon2/iked.state"
    assert layout.kinkd_replay == "/var/lib/racoon2/kinkd.rc"


def test_the_environment_chooses() -> None:
    dpkg = "/usr/lib/python3/dist-packages/racoon2"
    assert paths.detect({"RACOON2_LAYOUT": "local"}, dpkg) is paths.LOCAL
    assert paths.detect({"RACOON2_LAYOUT": "fhs"}, "/opt/x") is paths.FHS
    assert paths.detect({"RACOON2_LAYOUT": "bogus"}, "/opt/x") is paths.LOCAL


def test_systemd_directories_win_over_the_layout() -> None:
    layout = paths.detect({"RUNTIME_DIRECTORY": "/run/racoon2",
                           "STATE_DIRECTORY": "/var/lib/racoon2:/var/lib/other"}, "/opt/x")
    assert layout.confdir == "/usr/local/etc/racoon2"  # the admin's file stays where it is
    assert layout.pid_file("kinkd") == "/run/racoon2/kinkd.pid"
    assert layout.iked_state == "/var/lib/racoon2/iked.state"
    assert layout.kinkd_replay == "/var/lib/racoon2/kinkd.rc"
