"""RFC 7383 IKEv2 fragmentation on this machine's kernel: IKE_AUTH with 4096-bit RSA
certificates in 576-octet datagrams while both namespaces drop every IP fragment, so it
completes only in IKE fragments; against strongSwan 5.9 (``fragmentation = yes``,
``fragment_size = 576``) in both roles, and iked with iked, where a sender of forged
fragments and a flood of them then leave the established IKE SA as it was and iked's
memory bounded; and ML-KEM-1024 from strongSwan 6.1 in fragmented IKE_INTERMEDIATE."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from peers import ADDR, CBC_MODP, Namespaces, Racoon2, StrongSwan, racoon2_conf, wait_until
from test_iked_interop import charon, pki_files  # noqa: F401 (charon: the fixture)
from test_pq_interop import PQ, charon6, pq_conf, trixie  # noqa: F401 (fixtures)

#: Every IPv4 fragment dropped before the kernel could put it together (priority -500: ahead
#: of conntrack's defragmentation at -400): a message that outgrows the path must be cut by IKE.
NO_IP_FRAGMENTS = ("nft add table ip r2frag; nft 'add chain ip r2frag pre { type filter hook "
                   "prerouting priority -500 ; }'; nft add rule ip r2frag pre "
                   "'ip frag-off & 0x3fff != 0 counter drop'")
SPLIT = re.compile(r"splitting IKE message \((\d+) bytes\) into (\d+) fragments")


def _drop_ip_fragments(pair: Namespaces) -> None:
    for side in "AB":
        done = pair.run(side, "bash", "-c", NO_IP_FRAGMENTS)
        assert done.returncode == 0, done.stderr


def _dropped_ip_fragments(pair: Namespaces, side: str) -> str:
    return pair.run(side, "nft", "list", "table", "ip", "r2frag").stdout


def frag_conf(r2: Racoon2, side: str, cert: tuple[str, str, str], size: int = 576) -> str:
    """The interop pair's racoon2.conf (IPv4, tunnel, certificates), ``fragment_size``."""
    text = racoon2_conf(r2.d, side, 4, True, CBC_MODP, cert=cert)
    line = "max_retry_to_send 3;"
    assert line in text
    return text.replace(line, f"{line} fragment_size {size};")


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize("iked_initiates", [True, False],
                         ids=["iked-initiator", "charon-initiator"])
def test_rsa4096_ike_auth_in_fragments_with_strongswan(pair: Namespaces, tmp_path: Path,
                                                       iked_initiates: bool) -> None:
    files = pki_files(tmp_path, "rsa4096")
    ss_side, r2_side = ("B", "A") if iked_initiates else ("A", "B")
    ss, r2 = StrongSwan(pair, ss_side, tmp_path / "ss"), Racoon2(pair, r2_side, tmp_path / "r2")
    _drop_ip_fragments(pair)
    options: dict[str, Any] = {"cert": files[ss_side], "extra_conn": "fragmentation = yes",
                               "extra_charon": "fragment_size = 576"}
    try:
        if iked_initiates:
            ss.start(4, True, CBC_MODP, initiator=False, **options)
            r2.start(frag_conf(r2, r2_side, files[r2_side]), "-S", "out")
        else:
            r2.start(frag_conf(r2, r2_side, files[r2_side]))
            ss.start(4, True, CBC_MODP, initiator=True, **options)
            ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + ss.log()[-3000:])
        log = ss.log()
        assert re.search(rf"authentication of '{ADDR[(r2_side, 4)]}' with RSA", log), log
        # charon put our IKE_AUTH message together and cut its own
        ours, its = ("request", "response") if iked_initiates else ("response", "request")
        assert re.search(rf"parsed IKE_AUTH {ours} 1 \[ EF\(1/\d+\) \]", log), log
        assert "reassembled fragmented IKE message" in log, log
        assert re.search(rf"generating IKE_AUTH {its} 1 \[ EF\(1/\d+\) \]", log), log
        assert SPLIT.search(log), log
        assert "counter packets 0" in _dropped_ip_fragments(pair, r2_side)
        assert "Traceback" not in r2.log()
    finally:
        r2.stop()
        ss.stop()


#: A sender in B's namespace: ``count`` Encrypted Fragment datagrams (INFORMATIONAL requests,
#: Message ID 2: the one B's window expects next, so that each reaches the ICV check) with the
#: SPIs given (``spis`` hex, 32 digits, or "random") and random bodies.
SENDER = """
import os, socket, struct, sys, time
spis, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    if i % 20 == 0:
        time.sleep(0.01)  # 2000 a second: most reach iked (the socket buffer drops the rest)
    spi = os.urandom(16) if spis == "random" else bytes.fromhex(spis)
    body = os.urandom(480)
    skf = struct.pack("!BBHHH", 41 if i % 64 == 0 else 0, 0, 8 + len(body), i % 64 + 1, 64)
    head = spi + struct.pack("!BBBBII", 53, 0x20, 37, 0x08, 2, 28 + len(skf) + len(body))
    s.sendto(head + skf + body, (sys.argv[3], 500))
"""


def _status(r2: Racoon2, nth: int) -> dict[str, Any]:
    r2.procs["iked"].send_signal(signal.SIGUSR1)
    wait_until(lambda: r2.log().count("status {") >= nth, 10, "the status line")
    line = r2.log().split("status ", nth)[nth].splitlines()[0]
    out: dict[str, Any] = json.loads(line)
    return out


def _rss_kib(r2: Racoon2) -> int:
    status = Path(f"/proc/{r2.procs['iked'].pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def test_iked_pair_in_576_octet_fragments_survives_forged_fragments(
        pair: Namespaces, tmp_path: Path) -> None:
    files = pki_files(tmp_path, "rsa4096")
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    _drop_ip_fragments(pair)
    try:
        # both started at once (A retransmits until B listens): half the daemons' start-up
        with ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(b.start, frag_conf(b, "B", files["B"])),
                         pool.submit(a.start, frag_conf(a, "A", files["A"]), "-S", "out")]:
                done.result()
        wait_until(lambda: bool(a.established() and b.established()), 20,
                   "IKE SAs: " + a.log()[-2000:] + b.log()[-2000:])
        # the IKE_AUTH messages were cut: B dropped no IP fragment because none was sent
        assert "counter packets 0" in _dropped_ip_fragments(pair, "B")
        before = _status(b, 1)
        (sa,) = before["ike_sas"]
        rss_before = _rss_kib(b)
        spis = sa["sa"].replace(":", "")
        # forged fragments of the established SA (no key: each fails its ICV), then a flood
        # of fragments for IKE SAs that do not exist
        for target, count in ((spis, 600), ("random", 3000)):
            done = pair.run("B", sys.executable, "-c", SENDER, target, str(count), ADDR[("B", 4)])
            assert done.returncode == 0, done.stderr
        time.sleep(1)  # what the socket holds yet
        after = _status(b, 2)
        rss_after = _rss_kib(b)
        print(f"\niked B: VmRSS {rss_before} KiB before, {rss_after} KiB after 600 forged "
              f"and 3000 unknown-SPI fragments; reassembly {after['fragments']}; "
              f"dropped {after['dropped']}")
        # each that reached iked is counted (a busy machine's socket buffer may lose some)
        assert after["dropped"]["bad_icv"] >= 300, after["dropped"]
        assert after["dropped"]["unknown_spi"] >= 1500, after["dropped"]
        assert after["fragments"] == {"pending": 0, "held": 0}
        assert [(s["sa"], s["state"]) for s in after["ike_sas"]] == [(sa["sa"], "established")]
        assert rss_after - rss_before < 8192, (rss_before, rss_after)
        assert b.procs["iked"].poll() is None and "Traceback" not in b.log()
    finally:
        a.stop()
        b.stop()


def test_ml_kem_1024_intermediate_in_fragments_with_strongswan6(
        pair: Namespaces, tmp_path: Path, charon6: StrongSwan) -> None:  # noqa: F811
    """RFC 9242 §3: ML-KEM-1024's 1568-octet key and ciphertext outgrow 1280 octets; both
    IKE_INTERMEDIATE messages go in fragments and each side's AUTH verifies the other's."""
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    _drop_ip_fragments(pair)
    prop = type(PQ)(PQ.racoon2_ike, PQ.racoon2_esp, "aes128-sha256-x25519-ke1_mlkem1024",
                    PQ.strongswan_esp, "", "")
    try:
        charon6.start(4, True, prop, initiator=False, extra_conn="fragmentation = yes")
        r2.start(pq_conf(r2, "A", "mlkem1024"), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + charon6.log()[-3000:])
        log = charon6.log()
        # charon put our request together, and cut its response, each in fragments
        assert re.search(r"parsed IKE_INTERMEDIATE request 1 \[ EF\(1/\d\) \]", log), log
        assert "reassembled fragmented IKE message" in log, log
        assert re.search(r"generating IKE_INTERMEDIATE response 1 \[ EF\(1/\d\) \]", log), log
        assert "initiator, key exchanges CURVE25519 ML_KEM_1024)" in r2.log(), r2.log()
    finally:
        r2.stop()
