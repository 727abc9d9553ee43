"""Two kinkd in network namespaces against a real MIT KDC.

Traffic from A to B makes A's kernel ACQUIRE; A asks spmd which selector that is, gets a
ticket for B from the KDC and sends CREATE; B answers and both install their ESP SAs.  Where
the kernel has ESP (the project's VM: tests/vm/test_kink.py runs this module there) the tests
check the SAs in both kernels and ping through them.  This machine's kernel refuses ESP SAs,
and there the tests check exactly that: B says so, answers INTERR, and neither side keeps the
SPI it allocated.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from interop.peers import BIN, ROOT, wait_until

from racoon2.kernel import api
from racoon2.kernel.probe import probe_capabilities

from .pair import KinkPair, KinkSide

HAS_ESP = api.Proto.ESP in probe_capabilities().protos
if os.environ.get("R2_REQUIRE_ESP") and not HAS_ESP:
    raise RuntimeError("R2_REQUIRE_ESP is set but this kernel has no ESP")
POLICY = "host_b_policy"  # A's policy; B's is host_a_policy
INJECT = ROOT / "tests" / "kink" / "inject.py"


def _start(pair: KinkPair, *, mode: str = "transport", b_user_to_user: bool = False,
           **conf: str) -> None:
    pair.a.start(pair.config("A", "B", mode=mode, **conf))
    pair.b.start(pair.config("B", "A", mode=mode, **conf), user_to_user=b_user_to_user)


def _esp_spis(side: KinkSide) -> set[int]:
    out = side.sh("ip", "xfrm", "state").stdout
    return {int(s, 16) for s in re.findall(r"proto esp spi (0x[0-9a-f]+)", out)} - {0}


def _ping(side: KinkSide, dst: str, src: str | None = None, count: int = 1) -> bool:
    argv = ["ping", "-c", str(count), "-W", "2", *(["-I", src] if src else []), dst]
    return side.sh(*argv).returncode == 0


def _negotiated(pair: KinkPair, dst: str = "192.0.2.2", src: str | None = None) -> None:
    """Trigger an ACQUIRE on A and wait for the outcome on both sides."""
    def settled() -> bool:
        if not HAS_ESP:
            return "KINK_ERROR INTERR" in pair.a.log()
        _ping(pair.a, dst, src)
        return f"ESP SAs of policy {POLICY} up" in pair.a.log() and \
            "ESP SAs of policy host_a_policy up" in pair.b.log()
    if not HAS_ESP:
        _ping(pair.a, dst, src)
    wait_until(settled, 120, f"the CREATE's outcome\nA:\n{pair.a.log()}\nB:\n{pair.b.log()}")


def _check_outcome(pair: KinkPair, dst: str = "192.0.2.2", src: str | None = None) -> None:
    a, b = pair.a.log(), pair.b.log()
    assert f"policy {POLICY}: CREATE to 192.0.2.2[910] (kink/host-b.example.com@KINK.TEST, " \
        "ACQUIRE)" in a
    if HAS_ESP:
        # The SPIs each side logged are the SPIs in both kernels, crossed.
        spi_in, spi_out = (int(x, 16) for x in re.search(
            r"spi in (0x[0-9a-f]+) out (0x[0-9a-f]+)", a.split(f"ESP SAs of policy {POLICY} up")
            [1]).groups())  # type: ignore[union-attr]
        assert f"spi in 0x{spi_out:08x} out 0x{spi_in:08x}" in b
        assert {spi_in, spi_out} <= _esp_spis(pair.a) and {spi_in, spi_out} <= _esp_spis(pair.b)
        assert _ping(pair.a, dst, src, count=3)
        counters = pair.a.sh("ip", "-s", "xfrm", "state").stdout
        assert re.search(r"lifetime current:\s+[1-9]\d*\(bytes\), [1-9]\d*\(packets\)",
                         counters), counters
        # kinkdctl shows the pair with the kernel's counters (doc/ikedctl.md, kinkdctl).
        rows = [r for r in pair.a.ctl("sa", "list")["sa_pairs"]
                if int(r["spi_in"], 16) == spi_in]
        assert len(rows) == 1 and rows[0]["kernel"] == "installed", rows
        assert int(rows[0]["spi_out"], 16) == spi_out and rows[0]["out"]["packets"] >= 3, rows
    else:
        assert "cannot install the inbound ESP SA" in b and "Protocol not supported" in b
        assert "peer sent KINK_ERROR INTERR" in a
        # Neither side keeps the SPI it allocated.
        wait_until(lambda: not _esp_spis(pair.a) and not _esp_spis(pair.b), 10,
                   "the allocated SPIs to go")


@pytest.mark.esp
def test_acquire_creates_esp_sas_and_stop_deletes_them(kink_pair: KinkPair) -> None:
    _start(kink_pair)
    _negotiated(kink_pair)
    _check_outcome(kink_pair)
    assert "got a ticket for kink/host-b.example.com@KINK.TEST from the KDC" in kink_pair.a.log()
    assert "TGS_REQ" in kink_pair.kdc_log()
    assert kink_pair.a.stop("kinkd") == {"kinkd": 0}
    if HAS_ESP:
        # A's DELETE reached B, and no ESP SA is left in either kernel.
        wait_until(lambda: "deleted: deleted by the peer" in kink_pair.b.log(), 60,
                   f"B to act on A's DELETE\n{kink_pair.b.log()}")
        assert "deleted: kinkd is stopping" in kink_pair.a.log()
    wait_until(lambda: not _esp_spis(kink_pair.a) and not _esp_spis(kink_pair.b), 30,
               "no ESP SA left in either kernel")


@pytest.mark.esp
def test_user_to_user_when_the_responder_has_no_keytab(kink_pair: KinkPair) -> None:
    _start(kink_pair, b_user_to_user=True)
    assert "user-to-user only, with the TGT from FILE:" in kink_pair.b.log()
    _negotiated(kink_pair)
    a, b = kink_pair.a.log(), kink_pair.b.log()
    assert "(KRB_ERROR 66 sent)" in b and "sent our TGT for a user-to-user ticket" in b
    assert "wants a user-to-user ticket: asking it for its TGT" in a
    assert "got a user-to-user ticket for kink/host-b.example.com@KINK.TEST" in a
    _check_outcome(kink_pair)
    # The responder stops: it gets a ticket for A to tell it (DELETE).
    assert kink_pair.b.stop("kinkd") == {"kinkd": 0}
    if HAS_ESP:
        wait_until(lambda: "deleted: deleted by the peer" in kink_pair.a.log(), 60,
                   f"A to act on B's DELETE\n{kink_pair.a.log()}")
    assert not _esp_spis(kink_pair.b)


@pytest.mark.esp
def test_tunnel_mode_with_ids(kink_pair: KinkPair) -> None:
    _start(kink_pair, mode="tunnel", auth="hmac_sha2_256")
    _negotiated(kink_pair, dst="198.51.100.17", src="198.51.100.1")
    # B found its policy by the IDs the CREATE carried (the lo networks, not the hosts).
    assert "matches no policy" not in kink_pair.b.log()
    if HAS_ESP:
        assert "tunnel spi in" in kink_pair.a.log()
    _check_outcome(kink_pair, dst="198.51.100.17", src="198.51.100.1")


def test_principals_from_etc_hosts(kink_pair: KinkPair) -> None:
    """Without peers_principal both sides derive kink/<host name>@<realm> from /etc/hosts
    (``ip netns exec`` shows each namespace its own /etc/netns/NS/hosts)."""
    hosts = "192.0.2.1 host-a.example.com\n192.0.2.2 host-b.example.com\n"
    made = []
    try:
        for side in (kink_pair.a, kink_pair.b):
            d = Path("/etc/netns") / side.ns
            d.mkdir(parents=True, exist_ok=False)
            made.append(d)
            (d / "hosts").write_text(hosts)
        for name, peer in (("A", "B"), ("B", "A")):
            conf = kink_pair.config(name, peer)
            conf = re.sub(r'\n\s*peers_principal "[^"]*";', "", conf)
            assert "peers_principal" not in conf
            kink_pair.side(name).start(conf)
        _negotiated(kink_pair)
        _check_outcome(kink_pair)
        assert "CREATE to 192.0.2.2[910] (kink/host-b.example.com@KINK.TEST, ACQUIRE)" in \
            kink_pair.a.log()
        assert "matches no policy" not in kink_pair.b.log()
    finally:
        for side in (kink_pair.a, kink_pair.b):
            side.stop()
        for d in made:
            (d / "hosts").unlink(missing_ok=True)
            d.rmdir()


def test_create_is_retransmitted_until_the_responder_answers(kink_pair: KinkPair) -> None:
    """B's kinkd is not running when A's CREATE leaves: A sends it again (after 1, 2, 4… s)
    and the exchange completes once B is up."""
    kink_pair.a.start(kink_pair.config("A", "B"))
    _ping(kink_pair.a, "192.0.2.2")
    wait_until(lambda: "no REPLY to XID" in kink_pair.a.log(), 30, "a retransmission")
    kink_pair.b.start(kink_pair.config("B", "A"))
    _negotiated(kink_pair)
    _check_outcome(kink_pair)
    assert re.search(r"no REPLY to XID \d+ \(try 1\)", kink_pair.a.log())


@pytest.mark.esp
def test_three_message_create_with_ack(kink_pair: KinkPair) -> None:
    """B does not take A's first transform: its REPLY asks for an ACK, and B installs its
    outbound SA only when the ACK comes."""
    kink_pair.a.start(kink_pair.config("A", "B", enc="aes256_cbc; aes128_cbc"))
    kink_pair.b.start(kink_pair.config("B", "A", enc="aes128_cbc"))
    _negotiated(kink_pair)
    _check_outcome(kink_pair)
    if HAS_ESP:
        assert "outbound SA after the ACK" in kink_pair.b.log()
        assert re.search(r"ACK received, outbound SA 0x[0-9a-f]{8} installed", kink_pair.b.log())
        assert "ACK sent to 192.0.2.2[910]" in kink_pair.a.log()


@pytest.mark.esp
def test_rekey_on_soft_expiry(kink_pair: KinkPair) -> None:
    if not HAS_ESP:
        pytest.skip("needs SAs in the kernel to expire: tests/vm/test_kink.py runs it in the "
                    "VM, whose kernel has ESP")
    _start(kink_pair, lifetime="20 sec")
    _negotiated(kink_pair)
    wait_until(lambda: f"policy {POLICY}: CREATE to 192.0.2.2[910] "
               "(kink/host-b.example.com@KINK.TEST, rekey)" in kink_pair.a.log(), 60,
               f"A's rekey\n{kink_pair.a.log()}")
    wait_until(lambda: kink_pair.a.log().count(f"ESP SAs of policy {POLICY} up") == 2, 60,
               f"the new SAs\n{kink_pair.a.log()}")
    wait_until(lambda: "reached their hard lifetime" in kink_pair.a.log(), 30,
               "the old SAs' end")
    assert _ping(kink_pair.a, "192.0.2.2", count=3)  # through the new SAs


def _inject(pair: KinkPair, kind: str, path: Path | None = None) -> list[str]:
    a = pair.a
    done = a.sh(str(BIN / "python"), str(INJECT), a.principal, pair.b.principal, "192.0.2.2",
                kind, str(path or ""))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_bad_input_is_dropped_and_the_daemon_goes_on(kink_pair: KinkPair) -> None:
    """Garbage, a forged checksum and a replayed CREATE get no answer (nothing for a forger
    to learn) and are logged; the replay cache outlives a restart of kinkd; a genuine
    exchange still works afterwards."""
    _start(kink_pair)
    b = kink_pair.b
    assert _inject(kink_pair, "garbage") == ["no answer"] * 3
    assert _inject(kink_pair, "forged") == ["no answer"]
    assert "dropped CREATE: CREATE checksum does not verify with the session key" in b.log()
    # kinkdctl counts them, and serves every command.
    stats = b.ctl("stats")
    assert stats["dropped"]["unauthenticated"] == 1 and stats["dropped"]["malformed"] >= 1
    status = b.ctl("status")
    assert status["daemon"] == "kinkd" and status["principal"] == b.principal
    assert b.ctl("log-level", "info")["was"] == "debug"
    assert "SA pair(s) kept" in b.ctl("reload")["message"]
    prom = subprocess.run([str(BIN / "kinkdctl"), "-s", str(b.ctl_socket), "stats",
                           "--prometheus"], capture_output=True, text=True, check=True).stdout
    assert 'racoon2_kinkd_dropped_total{reason="unauthenticated"} 1' in prom, prom
    saved = kink_pair.dir / "create.bin"
    first = _inject(kink_pair, "valid", saved)
    assert first[0].startswith("answer 03"), first  # a REPLY
    # The same bytes from another port are no retransmission but a replay.
    assert _inject(kink_pair, "replay", saved) == ["no answer"]
    assert b.log().count("replays an authenticator") == 1
    b.stop("kinkd")
    b.start(kink_pair.config("B", "A"))
    assert _inject(kink_pair, "replay", saved) == ["no answer"]
    assert b.log().count("replays an authenticator") == 2
    _negotiated(kink_pair)
    _check_outcome(kink_pair)


def test_a_kdc_that_does_not_answer_stalls_nothing_else(kink_pair: KinkPair) -> None:
    """A's KDC requests vanish (dropped in A's namespace, where the KDC lives).  While A's
    CREATE waits for a ticket, A still answers a peer's CREATE and SIGUSR1; then the CREATE
    fails with one line naming the KDC, and A goes on running."""
    _start(kink_pair)
    a, b = kink_pair.a, kink_pair.b
    made = kink_pair.dir / "b-create.bin"
    done = b.sh(str(BIN / "python"), str(INJECT), b.principal, a.principal, "192.0.2.1",
                "make", str(made))
    assert done.returncode == 0, done.stderr
    # Started now, it sends on request: Python's start-up must not eat the KDC's timeout.
    injector = subprocess.Popen(
        ["ip", "netns", "exec", b.ns, str(BIN / "python"), str(INJECT), b.principal,
         a.principal, "192.0.2.1", "replay-when-told", str(made)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert injector.stdout is not None and injector.stdin is not None
        assert injector.stdout.readline() == "ready\n"
        for rule in ("add table inet r2kdc",
                     "add chain inet r2kdc in { type filter hook input priority 0; }",
                     "add rule inet r2kdc in meta l4proto { tcp, udp } th dport 88 drop"):
            nft = a.sh("nft", *rule.split())
            assert nft.returncode == 0, nft.stderr
        _ping(a, "192.0.2.2")
        wait_until(lambda: f"policy {POLICY}: CREATE to 192.0.2.2[910]" in a.log(), 30,
                   "A's CREATE to start")
        injector.stdin.write("go\n")
        injector.stdin.flush()
        answer = injector.stdout.readline()
        assert answer.startswith("answer 03"), answer + a.log()
    finally:
        injector.kill()
        injector.wait()
    a.procs["kinkd"].send_signal(signal.SIGUSR1)
    wait_until(lambda: '"principal": "kink/host-a.example.com@KINK.TEST"' in a.log(), 10,
               "the status line")
    assert "CREATE to 192.0.2.2 failed" not in a.log()  # still waiting for the KDC
    # libkrb5 gives up after its own retries, or kinkd after --kdc-timeout (10 s).
    failed = re.compile(r"CREATE to 192\.0\.2\.2 failed: (the KDC did not answer within "
                        r"10 s|Cannot contact any KDC)")
    wait_until(lambda: failed.search(a.log()) is not None, 60,
               f"A to give up on the KDC\n{a.log()}")
    assert a.procs["kinkd"].poll() is None


def _spis(side: KinkSide) -> set[int]:
    """Every SPI in the side's kernel, larval SAs included."""
    out = side.sh("ip", "xfrm", "state").stdout
    return {int(s, 16) for s in re.findall(r"spi (0x[0-9a-f]+)", out)}


def _plant(side: KinkSide, src: str, dst: str, spi: int) -> None:
    """An ESP SA of reqid 4242 in the side's kernel: a complete one where the kernel has ESP,
    else a larval one (ALLOCSPI in a one-SPI range: the host refuses ESP SAs)."""
    sa = ["src", src, "dst", dst, "proto", "esp"]
    if HAS_ESP:
        argv = ["add", *sa, "spi", hex(spi), "reqid", "4242", "mode", "transport",
                "enc", "cbc(aes)", "0x" + "11" * 16, "auth", "hmac(sha256)", "0x" + "22" * 32]
    else:
        argv = ["allocspi", *sa, "reqid", "4242", "min", str(spi), "max", str(spi)]
    done = side.sh("ip", "xfrm", "state", *argv)
    assert done.returncode == 0, done.stderr


@pytest.mark.esp
def test_restart_after_kill_removes_the_stale_sas(kink_pair: KinkPair) -> None:
    """After ``kill -9`` the new kinkd removes the SAs in its SPI band (it owns none yet) and
    those paired with them (same reqid, same two addresses), and nothing else.  The SAs a
    killed kinkd leaves are planted by hand, so that the VM's run costs no negotiation: in the
    VM complete ESP SAs, an inbound one in kinkd's band with its outbound one (the peer's SPI,
    out of the band); here, where the kernel refuses ESP SAs, a larval one in the band.  One
    in iked's band with the same reqid must stay.  B's daemons are not needed."""
    a = kink_pair.a
    a.start(kink_pair.config("A", "B"))
    band, iked = api.spi_band(api.Owner.KINKD), api.spi_band(api.Owner.IKED)
    _plant(a, "192.0.2.2", "192.0.2.1", band[0] + 0x42)
    _plant(a, "192.0.2.2", "192.0.2.1", iked[0] + 0x42)
    stale = {band[0] + 0x42}
    if HAS_ESP:
        _plant(a, "192.0.2.1", "192.0.2.2", 0xC0001234)
        stale.add(0xC0001234)
    before = _spis(a)
    assert stale < before, a.sh("ip", "xfrm", "state").stdout
    a.procs.pop("kinkd").kill()  # SIGKILL: no DELETE, nothing removed
    assert _spis(a) == before
    a.start(kink_pair.config("A", "B"))
    assert f"removed {len(stale)} stale kernel SA(s) of kinkd" in a.log()
    assert _spis(a) == before - stale
