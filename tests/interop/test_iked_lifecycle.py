"""iked's SA lifecycle with real daemons in namespaces (issue 17): SIGHUP keeps the SAs of an
unchanged remote and deletes those of a changed or removed one, SIGTERM waits for the peer's
answer to its Deletes, and an iked started after ``kill -9`` removes the killed one's kernel
SAs.

This host's kernel has no ESP: the ESP SAs iked negotiates stay larval (ALLOCSPI succeeds,
UPDSA is refused), which is exactly the kernel state a killed iked leaves behind; they are what
``ip xfrm state`` counts here.  With ESP (tests/vm) the same SAs are complete ones.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from peers import (
    BIN,
    CBC_MODP,
    GCM_X25519,
    Namespaces,
    Racoon2,
    StrongSwan,
    racoon2_conf,
    wait_until,
)

from iked.kernel_sas import SPI_BAND


@pytest.fixture
def charon() -> None:
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")


def _status(r2: Racoon2) -> dict[str, object]:
    """SIGUSR1's status line (the newest), parsed."""
    seen = len(re.findall(r"trace on; status ", r2.log()))
    r2.procs["iked"].send_signal(signal.SIGUSR1)
    wait_until(lambda: len(re.findall(r"trace on; status ", r2.log())) > seen, 10, "the status")
    line = r2.log().rsplit("trace on; status ", 1)[1].splitlines()[0]
    status = json.loads(line)
    assert isinstance(status, dict)
    return status


def _ike_sas(r2: Racoon2) -> list[str]:
    sas = _status(r2)["ike_sas"]
    assert isinstance(sas, list)
    return [sa["sa"] for sa in sas if sa["state"] == "established"]


def _our_spis(ns: Namespaces, side: str) -> list[int]:
    """The SPIs of ``ip xfrm state`` in iked's band in one namespace."""
    out = ns.run(side, "ip", "xfrm", "state").stdout
    return [s for s in (int(x, 16) for x in re.findall(r"spi (0x[0-9a-f]+)", out))
            if SPI_BAND[0] <= s <= SPI_BAND[1]]


def _up(a: Racoon2, b: Racoon2, conf_a: str) -> None:
    b.start(racoon2_conf(b.d, "B", 4, False, CBC_MODP))
    a.start(conf_a, "-S", "out")
    wait_until(lambda: bool(a.established() and b.established()), 20, "IKE SAs")
    wait_until(lambda: a.child_settled() and b.child_settled(), 10, "the CHILD_SAs")


@pytest.mark.parametrize(("edit", "what"), [
    (("max_retry_to_send 3;", "max_retry_to_send 4;"), "changed"),
    (("remote peer {", "remote other {"), "removed"),
])
def test_sighup_keeps_unchanged_remotes_and_deletes_the_others(
        pair: Namespaces, tmp_path: Path, edit: tuple[str, str], what: str) -> None:
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    try:
        conf = racoon2_conf(a.d, "A", 4, False, CBC_MODP)
        _up(a, b, conf)
        before, spis = _ike_sas(a), _our_spis(pair, "A")
        assert len(before) == 1 and spis
        # Unchanged file: the same IKE SA, the same kernel SAs, no Delete at the peer.
        a.procs["iked"].send_signal(signal.SIGHUP)
        wait_until(lambda: "reloaded" in a.log(), 10, "the reload")
        assert "1 IKE SA(s) kept, 0 deleted" in a.log()
        assert _ike_sas(a) == before and _our_spis(pair, "A") == spis
        assert "deleted by the peer" not in b.log()
        # A changed or removed remote: its IKE SA is deleted, the peer answers the Delete.
        text = conf.replace(*edit)
        if what == "removed":
            text = text.replace("remote_index peer;", "remote_index other;")
        a.conf.write_text(text)
        a.procs["iked"].send_signal(signal.SIGHUP)
        wait_until(lambda: "deleted by the peer" in b.log(), 10, "the Delete at the peer")
        wait_until(lambda: "0 IKE SA(s) kept, 1 deleted" in a.log(), 5, "the reload line")
        wait_until(lambda: _ike_sas(a) == [], 10, "the end of the old IKE SA")
        assert a.procs["iked"].poll() is None
    finally:
        a.stop()
        b.stop()


@pytest.mark.usefixtures("charon")
def test_sigterm_waits_for_the_answer_to_its_deletes(pair: Namespaces, tmp_path: Path) -> None:
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, GCM_X25519, initiator=False)
        r2.start(racoon2_conf(r2.d, "A", 4, True, GCM_X25519), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        wait_until(r2.child_settled, 10, "the CHILD_SA")
        assert "ESTABLISHED" in ss.ctl("--list-sas")
        # The first Delete is lost: only its retransmission (1 s later) gets answered.
        for rule in ("add table inet r2t",
                     "add chain inet r2t out { type filter hook output priority 0 ; }",
                     "add rule inet r2t out udp dport { 500, 4500 } drop"):
            assert pair.run("A", "nft", rule).returncode == 0
        iked = r2.procs["iked"]
        iked.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert pair.run("A", "nft", "delete table inet r2t").returncode == 0
        assert iked.wait(10) == 0
        log = r2.log()
        # The Delete was answered: the IKE SA ended with "deleted", not by the time limit.
        assert re.search(r"IKE SA \S+ with \S+ deleted: deleted$", log, re.M), log
        assert "did not answer our Delete" not in log
        assert "received DELETE for IKE_SA" in ss.log()
        assert "ESTABLISHED" not in ss.ctl("--list-sas")
        # Nothing of iked's stays in A's kernel, larval SAs included.
        assert pair.run("A", "ip", "xfrm", "state").stdout == ""
    finally:
        r2.stop()
        ss.stop()


def test_restart_after_kill_removes_the_stale_sas(pair: Namespaces, tmp_path: Path) -> None:
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    conf = racoon2_conf(a.d, "A", 4, False, CBC_MODP).replace(
        "max_retry_to_send 3;", "max_retry_to_send 3; initial_contact on;")
    try:
        _up(a, b, conf)
        [old] = b.established()
        stale = _our_spis(pair, "A")
        assert stale
        a.procs.pop("iked").kill()  # SIGKILL: no Delete, nothing removed
        assert _our_spis(pair, "A") == stale
        with open(a.d / "iked.log", "ab") as out:
            a.procs["iked"] = subprocess.Popen(
                ["ip", "netns", "exec", pair.name("A"), str(BIN / "iked"), "-j", "1", "-F", "-f",
                 str(a.conf), "-S", "out"],
                stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: "stale kernel SA(s) of iked" in a.log(), 15, "the clean-up")
        assert f"removed {len(stale)} stale kernel SA(s) of iked" in a.log()
        assert not set(stale) & set(_our_spis(pair, "A"))
        # The new IKE SA carries INITIAL_CONTACT: B ends the old one at once (RFC 7296 §2.4).
        wait_until(lambda: "the peer restarted (INITIAL_CONTACT)" in b.log(), 20,
                   "INITIAL_CONTACT at the peer")
        assert re.search(rf"IKE SA {old} with \S+ deleted: the peer restarted", b.log())
    finally:
        a.stop()
        b.stop()

