"""iked -j 2 on this host's kernel: the reuseport BPF program steers every message of an IKE SA
to the worker that holds it.

The responder in B is ``iked -j 2 -D 0x8``.  From A, strongSwan's charon initiates one IKE SA
(and later rekeys it, so the rekeyed SA's messages carry the responder SPI the worker chose)
and the benchmark's driver, iked's own IKEv2 initiator (benchmarks/ike_responder.py), brings up
many more over one socket.  Then: every SA is up, spread over both workers; each SA's log lines
all name one worker, the one its SPI's low bits name (iked.steering); no message was dropped
for an unknown SPI (what a message steered to the wrong worker would be); ikedctl's merged
answers add up.  Then a racoon2 pair, both sides -j 2 with spmd, negotiates on a kernel
ACQUIRE through A's coordinator.  About 60 s in all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from peers import (
    BIN,
    CBC_MODP,
    Namespaces,
    Proposal,
    Racoon2,
    StrongSwan,
    racoon2_conf,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import ike_responder  # noqa: E402

DRIVEN = 40
#: The benchmark responder's proposal (ike_responder.racoon2_conf) in strongSwan's words.
X25519_CBC = Proposal(("aes128_cbc", "hmac_sha2_256", "hmac_sha2_256", "curve25519"),
                      ("aes128_cbc", "hmac_sha2_256"), "aes128-sha256-x25519", "aes128-sha256",
                      "", "")
_LINE = re.compile(r"worker (\d): IKE SA ([0-9a-f]{16}):([0-9a-f]{16}) ")


def _ctl(d: Path, command: str) -> dict[str, object]:
    out = subprocess.run([str(BIN / "ikedctl"), "-s", str(d / "iked.ctl"), "--json",
                          *command.split()], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert isinstance(result, dict)
    return result


def test_two_workers_keep_each_ike_sa(pair: Namespaces, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "b"
    d.mkdir(mode=0o700)
    (d / "racoon2.conf").write_text(ike_responder.racoon2_conf(d, ""))
    ike_responder._secret(d / "bench.psk", "racoon2-interop-psk")  # peers.PSK, charon's
    monkeypatch.setattr(ike_responder, "PSK", "racoon2-interop-psk")  # the driver's too
    log = d / "iked.log"
    with open(log, "wb") as out:
        iked = subprocess.Popen(["ip", "netns", "exec", pair.name("B"), str(BIN / "iked"),
                                 "-j", "2", "-F", "-D", "0x8", "--ctl-socket",
                                 str(d / "iked.ctl"), "-f", str(d / "racoon2.conf")],
                                stdout=out, stderr=subprocess.STDOUT)
    ss = StrongSwan(pair, "A", tmp_path / "ss")
    try:
        wait_until(lambda: "serving with 2 workers" in log.read_text(), 120, "iked -j 2")
        ss.start(4, False, X25519_CBC, True, ike_rekey="0")
        ss.initiate()
        up, _ = ike_responder.drive(pair.prefix, DRIVEN, 8, "")
        assert up == DRIVEN, log.read_text()[-3000:]
        wait_until(lambda: "ESTABLISHED" in ss.ctl("--list-sas"), 20, "charon's IKE SA")
        # charon rekeys its IKE SA: the new one's SPIs are new, ours steer to the same worker.
        ss.ctl("--rekey", "--ike", ss.name)
        wait_until(lambda: "rekey of" in log.read_text(), 20, "the IKE SA rekey")

        sas = _ctl(d, "sa list")["sas"]
        assert isinstance(sas, list) and len(sas) == DRIVEN + 1, sas
        workers = {sa["worker"] for sa in sas}
        assert workers == {0, 1}, "the peers' random SPIs spread the SAs over both workers"

        owner: dict[str, set[int]] = {}
        for worker, spi_i, spi_r in _LINE.findall(log.read_text()):
            owner.setdefault(f"{spi_i}:{spi_r}", set()).add(int(worker))
        assert len(owner) >= DRIVEN + 2  # and charon's before and after its rekey
        for name, ws in owner.items():
            # Each SA in one worker, the one its responder SPI (ours) names.
            assert ws == {int(name[-8:], 16) % 2}, (name, ws)

        stats = _ctl(d, "stats")
        dropped = stats["dropped"]
        assert isinstance(dropped, dict) and dropped["unknown_spi"] == 0, stats
        assert stats["ike_sas"] == DRIVEN + 1, stats  # added over the workers
        status = _ctl(d, "status")
        assert status["ike_sas"] == DRIVEN + 1
        assert [w["worker"] for w in status["workers"]] == [0, 1]  # type: ignore[index]
        assert "Traceback" not in log.read_text()
    finally:
        ss.stop()
        iked.terminate()
        assert iked.wait(60) == 0


def test_racoon2_pair_with_workers_initiates_on_acquire(pair: Namespaces,
                                                        tmp_path: Path) -> None:
    # Both sides -j 2 with spmd: A's coordinator takes the ACQUIRE, asks spmd for its
    # selector and hands it to one worker; that worker's CHILD_SA goes to the kernel (refused
    # without ESP, as in test_iked_interop) and B's worker answers in the SA B steered to it.
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    try:
        b.start(racoon2_conf(b.d, "B", 4, False, CBC_MODP), "-j", "2")
        a.start(racoon2_conf(a.d, "A", 4, False, CBC_MODP), "-j", "2")
        for side in (a, b):
            wait_until(lambda side=side: "serving with 2 workers" in side.log(), 120,
                       f"iked -j 2 of {side.side}")
        pair.run("A", "ping", "-c1", "-W1", "192.0.2.2")  # meets the policy: ACQUIRE
        wait_until(lambda: bool(a.established() and b.established()), 30, "IKE SAs")
        assert a.established() == b.established()
        assert "ACQUIRE for 192.0.2.1/32" in a.log() and "selector out" in a.log()
        for side in (a, b):
            wait_until(side.child_settled, 20, "the CHILD_SA")
            assert "Traceback" not in side.log()
        name = a.established()[0]
        worker_a = re.search(rf"worker (\d): IKE SA {name} established", a.log())
        worker_b = re.search(rf"worker (\d): IKE SA {name} established", b.log())
        assert worker_a and worker_b
        # A initiated: its initiator SPI names its worker; B's responder SPI names B's.
        assert int(worker_a[1]) == int(name[8:16], 16) % 2
        assert int(worker_b[1]) == int(name[-8:], 16) % 2
        assert a.stop() == {"iked": 0, "spmd": 0}
        wait_until(lambda: "deleted by the peer" in b.log(), 20, "the Delete exchange")
    finally:
        a.stop()
        b.stop()
