"""Simultaneous rekeys with an RFC 9370 additional key exchange (ML-KEM-768 after Curve25519),
real daemons in namespaces: iked ↔ iked, and iked ↔ strongSwan 6 from the Debian 13 root
(tests/harness/peers/trixie-root.sh, as test_pq_interop.py).  Each collision must end with one
IKE SA and one CHILD_SA pair on each side (RFC 7296 §2.8.1, §2.8.2, RFC 9370 §2.2.4).

Both ends have the same short IKE SA lifetime, but left alone their timers run out one message
apart (the responder of a rekey has its new IKE SA one message before the initiator), so they
collide only by chance.  To make each round a collision, both daemons are stopped (SIGSTOP)
past the lifetime and continued at once: each one's overdue timer starts its rekey before it
reads the other's request.  CHILD_SA rekeys need the kernel's soft expiry, and this host's
kernel has no ESP (the CHILD_SA is negotiated, its SAs refused, as in test_pq_interop.py): they
are asked for on both sides (``ikedctl rekey SPI``, ``swanctl --rekey``).  Between two ikeds
one side's datagrams are dropped meanwhile (nftables), so that the retransmissions cross;
against strongSwan both are stopped while asked, which makes a collision likely, not certain
(the side that waits longer for its SPI from the kernel answers the other's rekey first and
drops its own).  The collisions are counted from the log lines (doc/iked.md, "Rekeying and
collisions").
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers import ADDR, BIN, HARNESS, Namespaces, Racoon2, StrongSwan, wait_until
from test_pq_interop import PQ_PFS, pq_conf, trixie  # noqa: F401 (trixie: a fixture)

LIFE = 12  # seconds: the IKE SA lifetime of both ends (a CHILD_SA collision fits in it)
ROUNDS = 2
#: Seconds both stay stopped while each side's ``ikedctl``/``swanctl`` starts and sends its
#: rekey request (a Python or swanctl start on a loaded host).
ASK = 3.0
IKE_COLLISION = "IKE SA rekey collision"
CHILD_COLLISION = re.compile(r"CHILD_SA of policy pol rekey collision")


def conf(r2: Racoon2, side: str) -> str:
    """test_pq_interop.py's racoon2.conf (IPv4, tunnel, ML-KEM-768 as ADDKE1), with need_pfs
    (so every CHILD_SA rekey has it too) and an IKE SA lifetime of LIFE seconds."""
    return pq_conf(r2, side).replace("max_retry_to_send 3;", "max_retry_to_send 3; need_pfs "
                                     f"on; kmp_sa_lifetime_time {LIFE} sec;")


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    """One signal to every daemon in turn, as close together as one loop allows."""
    for pid in pids:
        os.kill(pid, sig)


def stopped(pids: list[int], seconds: float, during: Callable[[], object] = lambda: None
            ) -> None:
    """Stop the daemons for ``seconds`` (``during`` runs meanwhile), then continue them."""
    signal_all(pids, signal.SIGSTOP)
    try:
        during()
        time.sleep(seconds)
    finally:
        signal_all(pids, signal.SIGCONT)


def ikedctl(r2: Racoon2, *args: str) -> subprocess.Popen[str]:
    """``ikedctl --json ARGS`` against ``r2``'s iked, started (not waited for)."""
    return subprocess.Popen(["ip", "netns", "exec", r2.ns.name(r2.side), str(BIN / "ikedctl"),
                             "-s", str(r2.d / "iked.ctl"), "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def sa_list(r2: Racoon2) -> list[dict[str, Any]]:
    """The established IKE SAs ``ikedctl sa list`` shows."""
    return [sa for sa in r2.sas() if sa["version"] == 2 and sa["state"] == "established"]


def one_sa_and_pair(a: Racoon2, b: Racoon2) -> tuple[str, str]:
    """Each side: one established IKE SA, the same, with one CHILD_SA, the same pair (waited
    for while a rekey ends); its (A's inbound, B's inbound) SPIs."""
    seen: list[tuple[str, str]] = []

    def settled() -> bool:
        sas_a, sas_b = sa_list(a), sa_list(b)
        if len(sas_a) != 1 or len(sas_b) != 1 or sas_a[0]["name"] != sas_b[0]["name"]:
            return False
        ca, cb = sas_a[0]["children"], sas_b[0]["children"]
        if len(ca) != 1 or len(cb) != 1:
            return False
        assert (ca[0]["spi_in"], ca[0]["spi_out"]) == (cb[0]["spi_out"], cb[0]["spi_in"])
        seen.append((ca[0]["spi_in"], cb[0]["spi_in"]))
        return True

    wait_until(settled, 15, "one IKE SA and one CHILD_SA pair on each side")
    return seen[-1]


def ike_round(pids: list[int], logs: list[Callable[[], str]], due: float,
              done: str = "deleted: rekeyed") -> float:
    """Both IKE SA lifetimes run out (at ``due``, monotonic) while both daemons are stopped;
    then wait until each log has one more ``done`` line (the old IKE SA's end).  When the
    new IKE SA's lifetime runs out."""
    before = [log().count(done) for log in logs]
    stopped(pids, max(0.5, due + 0.7 - time.monotonic()))
    wait_until(functools.partial(_more, logs, done, before), 30, "the IKE SA rekey")
    return time.monotonic() + LIFE


def _more(logs: list[Callable[[], str]], line: str, before: list[int]) -> bool:
    return all(log().count(line) > n for log, n in zip(logs, before, strict=True))


@pytest.fixture
def iked_pair(pair: Namespaces, tmp_path: Path) -> Iterator[tuple[Racoon2, Racoon2]]:
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    try:
        b.start(conf(b, "B"))
        a.start(conf(a, "A"), "-S", "out")
        wait_until(lambda: bool(a.established() and b.established()), 30, "the IKE SA")
        wait_until(lambda: a.child_settled() and b.child_settled(), 10, "the CHILD_SA")
        yield a, b
    finally:
        a.stop()
        b.stop()


@contextlib.contextmanager
def lost(ns: Namespaces, side: str, sender: str) -> Iterator[None]:
    """IKE datagrams from ``sender`` to ``side`` are dropped meanwhile (nftables in the side's
    namespace): the retransmissions after it get through."""
    for rule in ("add table inet rk23", "add chain inet rk23 hold { type filter hook input "
                 "priority 0 ; }", f"add rule inet rk23 hold ip saddr {sender} udp dport "
                 "{ 500, 4500 } drop"):
        assert ns.run(side, "nft", rule).returncode == 0, rule
    try:
        yield
    finally:
        ns.run(side, "nft", "delete table inet rk23")


def rekey_child(r2: Racoon2, spi: str) -> None:
    """``ikedctl rekey 0xSPI``: the rekey is queued (its request follows within ms)."""
    out, _ = ikedctl(r2, "rekey", "0x" + spi).communicate(timeout=20)
    assert '"rekeying"' in out, out


def child_collision(a: Racoon2, b: Racoon2) -> tuple[str, str]:
    """Both rekey the CHILD_SA, each asked by its own inbound SPI, their requests crossing
    for certain (the SAs' (A's, B's) inbound SPIs before):

        A            B
          x<------   CREATE_CHILD_SA (B's): lost, as B's datagrams to A are meanwhile
          ------>    CREATE_CHILD_SA (A's): B answers it, its own in flight
          x<------   the answer: lost
        (A stopped)
          <------    B's retransmission (1, 3, 7 s after its request) waits for A
        (A continued: it answers B's request, its own still unanswered)
          ------>    A's retransmission, answered again by B: each end has all four
                     nonces when its own answer comes (RFC 7296 §2.8.1, RFC 9370 §2.2.4)
    """
    spi_a, spi_b = one_sa_and_pair(a, b)
    pid = a.procs["iked"].pid
    with lost(a.ns, "A", ADDR[("B", 4)]):
        rekey_child(b, spi_b)
        sent = time.monotonic()
        rekey_child(a, spi_a)
        time.sleep(0.3)
        os.kill(pid, signal.SIGSTOP)
    try:
        retry = next(t for t in (3.0, 7.0) if sent + t > time.monotonic() + 0.3)
        time.sleep(sent + retry + 0.5 - time.monotonic())
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: f"(spi in 0x{spi_a} out 0x{spi_b}) deleted" in a.log() and
               f"(spi in 0x{spi_b} out 0x{spi_a}) deleted" in b.log(), 20,
               "the CHILD_SA rekey and the old CHILD_SA's Delete")
    return spi_a, spi_b


def test_iked_iked_rekey_collisions_with_addke(iked_pair: tuple[Racoon2, Racoon2]) -> None:
    a, b = iked_pair
    pids = [r.procs["iked"].pid for r in (a, b)]
    started = time.monotonic()
    due = ike_round(pids, [a.log, b.log], started + LIFE)
    spi_a, spi_b = child_collision(a, b)
    ike_round(pids, [a.log, b.log], due)
    new_a, new_b = one_sa_and_pair(a, b)
    assert {new_a, new_b}.isdisjoint({spi_a, spi_b})
    logs = [r.log() for r in (a, b)]
    ike = [log.count(IKE_COLLISION) for log in logs]
    child = [len(CHILD_COLLISION.findall(log)) for log in logs]
    losers = sum(log.count("our rekey is redundant") for log in logs)
    not_started = sum(log.count("IKE_FOLLOWUP_KE exchanges not started") for log in logs)
    # A loser whose own answer came while it still waited for the kernel's SPI to answer the
    # winner's request knew only its own nonces then: it ran its follow-up, and deletes its
    # CHILD_SA once both are installed.
    late = sum(log.count("deleted: redundant rekey") for log in logs)
    tempfail = sum(log.count("failed: TEMPORARY_FAILURE") for log in logs)
    print(f"REKEY COLLISIONS iked-iked: ike={ike[0]} child={child[0]} losers={losers} "
          f"followups_not_started={not_started} child_deleted_after_followup={late} "
          f"temporary_failures={tempfail} seconds={time.monotonic() - started:.1f}")
    # Each collision is logged by both ends, one of which lost it; each ended with one IKE SA
    # and one CHILD_SA pair on each side (checked above).
    assert ike[0] == ike[1] and child[0] == child[1], logs
    assert ike[0] >= 1 and child[0] == 1, logs
    assert losers == not_started + late == ike[0] + child[0], logs
    for log in logs:
        assert "STATE_NOT_FOUND" not in log, log
        assert log.count("rekey of") >= ROUNDS, log


def test_iked_strongswan6_rekey_collisions_with_addke(pair: Namespaces, tmp_path: Path,
                                                       trixie: str) -> None:  # noqa: F811
    """The same against strongSwan 6.1 (rekey_time LIFE s, no jitter, the same proposal with
    PFS): each collision must leave one IKE SA and one CHILD_SA on each side."""
    a = Racoon2(pair, "A", tmp_path / "a")
    ss = StrongSwan(pair, "B", tmp_path / "ss", root=trixie)
    try:
        ss.start(4, True, PQ_PFS, initiator=False, ike_rekey=f"{LIFE}s")
        a.start(conf(a, "A"), "-S", "out")
        wait_until(lambda: bool(a.established()), 30, "the IKE SA")
        wait_until(a.child_settled, 10, "the CHILD_SA")
        pids = [a.procs["iked"].pid, int((ss.d / "pid").read_text())]
        started = time.monotonic()
        (sa,) = sa_list(a)
        (child,) = sa["children"]
        asked: list[subprocess.Popen[str]] = []

        def ask() -> None:
            asked.append(ikedctl(a, "rekey", "0x" + child["spi_in"]))
            asked.append(subprocess.Popen(
                ["bash", str(HARNESS / "strongswan.sh"), "ctl", ss.name, "--rekey", "--child",
                 ss.name], env=ss._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True))

        stopped(pids, ASK, ask)
        for p in asked:
            p.wait(timeout=30)  # as above: one may find the CHILD_SA rekeyed already
        wait_until(lambda: f"(spi in 0x{child['spi_in']}" in a.log(), 20,
                   "the old CHILD_SA's end")
        due = started + LIFE
        for _ in range(ROUNDS):
            due = ike_round(pids, [a.log], due)

        def one_each() -> bool:
            sas = sa_list(a)
            listed = ss.ctl("--list-sas")
            return len(sas) == 1 and len(sas[0]["children"]) == 1 and \
                listed.count("ESTABLISHED") == 1 and listed.count("INSTALLED") == 1

        wait_until(one_each, 20, "one IKE SA and one CHILD_SA on each side")
        log, charon = a.log(), ss.log()
        ike = log.count(IKE_COLLISION)
        child_coll = len(CHILD_COLLISION.findall(log))
        print(f"REKEY COLLISIONS iked-strongswan6: ike={ike} child={child_coll} "
              f"iked_lost={log.count('our rekey is redundant')} "
              f"temporary_failures={log.count('failed: TEMPORARY_FAILURE')} "
              f"charon_collision_lines={charon.lower().count('collision')} "
              f"seconds={time.monotonic() - started:.1f}")
        assert "STATE_NOT_FOUND" not in log, log
        lost = log.count("our rekey is redundant")
        assert lost == log.count("IKE_FOLLOWUP_KE exchanges not started") + log.count(
            "deleted: redundant rekey"), log
        # Both ends decided each collision alike: what iked lost charon won, and the reverse.
        assert charon.count("rekey collision won") == lost, charon
        # charon may process iked's Delete of the old IKE SA (the winner's initiator deletes
        # it, RFC 7296 §2.8.2) before iked's answer to its losing rekey: it then logs that
        # collision as one with the Delete, not as lost (a run of 2026-12-03 did).
        charon_lost = charon.count("rekey collision lost") + charon.count(
            "IKE_REKEY collision with IKE_DELETE")
        assert charon_lost == ike + child_coll - lost, charon
    finally:
        a.stop()
        ss.stop()
