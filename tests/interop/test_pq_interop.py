"""Post-quantum IKEv2 against strongSwan 6: ML-KEM-768 as ADDKE1 after Curve25519 (RFC 9370
in RFC 9242 IKE_INTERMEDIATE), both roles, and an additional exchange strongSwan refuses; IKE SA
rekeys and CHILD_SAs (made by iked, rekeyed by strongSwan) with an IKE_FOLLOWUP_KE.

Neither Debian 12's strongSwan nor Debian 13's 6.0.1 does ML-KEM, so charon runs from a Debian
13 root with unstable's strongSwan (6.1, ML-KEM through OpenSSL 3.5) that
tests/harness/peers/trixie-root.sh builds once with debootstrap and caches under /var/cache
(bounded time; about 4 minutes and 60 MB of downloads the first time).  Each side verifying
the other's AUTH proves the IntAuth of RFC 9242 §3.3.2 and the key updates of RFC 9370 §2.2.2
agree.  As in test_iked_interop.py, this host's kernel has no ESP: the CHILD_SA negotiation
completes and our kernel then refuses the ESP SAs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import HARNESS, Namespaces, Proposal, Racoon2, StrongSwan, racoon2_conf, wait_until

ROOT = "/var/cache/racoon2-trixie"
#: Curve25519 in IKE_SA_INIT, then ML-KEM-768 (racoon2: kmp_addke1; strongSwan: ke1_).
PQ = Proposal(("aes128_cbc", "hmac_sha2_256", "hmac_sha2_256", "curve25519"),
              ("aes128_cbc", "hmac_sha2_256"), "aes128-sha256-x25519-ke1_mlkem768",
              "aes128-sha256", "", "")


def pq_conf(r2: Racoon2, side: str, addke: str = "mlkem768") -> str:
    """The interop pair's racoon2.conf (IPv4, tunnel) with ``kmp_addke1 ADDKE``."""
    text = racoon2_conf(r2.d, side, 4, True, PQ)
    line = "kmp_dh_group { curve25519; };"
    assert line in text
    return text.replace(line, f"{line} kmp_addke1 {addke};")


@pytest.fixture(scope="module")
def trixie() -> str:
    """The Debian 13 root (built on first use, within trixie-root.sh's time bound)."""
    done = subprocess.run(["bash", str(HARNESS / "trixie-root.sh"), ROOT], capture_output=True,
                          text=True, check=False, timeout=1200)
    if done.returncode:
        pytest.fail("no Debian 13 root for strongSwan 6: " + done.stdout + done.stderr)
    return ROOT


@pytest.fixture
def charon6(pair: Namespaces, tmp_path: Path, trixie: str) -> Iterator[StrongSwan]:
    ss = StrongSwan(pair, "B", tmp_path / "ss", root=trixie)
    yield ss
    ss.stop()


def _proposal_line(ss: StrongSwan) -> str:
    return next((line for line in ss.log().splitlines() if "selected proposal: IKE:" in line),
                "")


def test_iked_initiator_strongswan6_responder(pair: Namespaces, tmp_path: Path,
                                              charon6: StrongSwan) -> None:
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    try:
        charon6.start(4, True, PQ, initiator=False)
        r2.start(pq_conf(r2, "A"), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        wait_until(r2.child_settled, 10, "the CHILD_SA")
        sas = charon6.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "INSTALLED" in sas, sas + charon6.log()
        assert "CURVE_25519/KE1_ML_KEM_768" in _proposal_line(charon6), charon6.log()
        assert "initiator, key exchanges CURVE25519 ML_KEM_768)" in r2.log(), r2.log()
        (sa,) = r2.sas()  # ikedctl says it too
        assert (sa["key_exchanges"], sa["ppk"]) == (["CURVE25519", "ML_KEM_768"], None), sa
    finally:
        r2.stop()


def test_strongswan6_initiator_iked_responder(pair: Namespaces, tmp_path: Path,
                                              trixie: str) -> None:
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    try:
        r2.start(pq_conf(r2, "B"))
        ss.start(4, True, PQ, initiator=True)
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        wait_until(r2.child_settled, 10, "the CHILD_SA")
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "INSTALLED" in sas, out + sas + ss.log()
        assert "KE1_ML_KEM_768" in _proposal_line(ss), ss.log()
    finally:
        r2.stop()
        ss.stop()


def test_strongswan6_refuses_an_additional_exchange(pair: Namespaces, tmp_path: Path,
                                                    charon6: StrongSwan) -> None:
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    try:
        charon6.start(4, True, PQ, initiator=False)
        r2.start(pq_conf(r2, "A", "mlkem1024"), "-S", "out")
        wait_until(lambda: "NO_PROPOSAL_CHOSEN" in r2.log(), 20, "the refusal")
        assert not r2.established()
        assert "ADDKE1 ML_KEM_1024" in r2.log(), r2.log()
    finally:
        r2.stop()


@pytest.mark.parametrize("rekeyer", ["strongswan", "iked"])
def test_ike_sa_rekey_with_followup_ke(pair: Namespaces, tmp_path: Path, trixie: str,
                                       rekeyer: str) -> None:
    """The IKE SA is rekeyed after 3 s by one side with ML-KEM-768 again, in an
    IKE_FOLLOWUP_KE exchange after the CREATE_CHILD_SA (RFC 9370 §2.2.4): the successor
    takes the CHILD_SA, the old SA is deleted, on both sides."""
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    conf = pq_conf(r2, "B")
    if rekeyer == "iked":
        conf = conf.replace("max_retry_to_send 3;", "max_retry_to_send 3; "
                            "kmp_sa_lifetime_time 3 sec;")
    try:
        r2.start(conf)
        ss.start(4, True, PQ, initiator=True, ike_rekey="3s" if rekeyer == "strongswan" else "0")
        ss.initiate()
        wait_until(lambda: "rekey of" in r2.log() and "deleted: rekeyed" in r2.log(), 30,
                   "the IKE SA rekey")
        log = ss.log()
        assert re.search(r"(generating|parsed) IKE_FOLLOWUP_KE request \d+ \[ KE N\(ADD_KE\) \]",
                         log), log
        assert re.search(r"IKE_SA r2\[2\] (rekeyed|established)", log), log
        sas = ss.ctl("--list-sas")
        assert "KE1_ML_KEM_768" in sas, sas
        # The successor's keys agree (SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(1))): a
        # CHILD_SA rekey over it is opened and answered by both.
        ss.ctl("--rekey", "--child", "r2")
        wait_until(lambda: "deleted by the peer" in r2.log(), 20, "a CHILD_SA rekey over it")
        assert "integrity check failed" not in ss.log(), ss.log()
    finally:
        r2.stop()
        ss.stop()


def test_iked_refuses_strongswan6s_additional_exchange(pair: Namespaces, tmp_path: Path,
                                                       trixie: str) -> None:
    """strongSwan requires ML-KEM-1024 as ADDKE1, iked allows only ML-KEM-768: iked's
    IKE_SA_INIT answer is NO_PROPOSAL_CHOSEN."""
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    strict = Proposal(PQ.racoon2_ike, PQ.racoon2_esp, "aes128-sha256-x25519-ke1_mlkem1024",
                      PQ.strongswan_esp, "", "")
    try:
        r2.start(pq_conf(r2, "B"))
        ss.start(4, True, strict, initiator=True)
        out = ss.initiate()
        wait_until(lambda: "no proposal chosen" in r2.log(), 20, "iked's refusal")
        assert "ADDKE1 ML_KEM_1024" in r2.log() and "ADDKE1 ML_KEM_768" in r2.log(), r2.log()
        assert "received NO_PROPOSAL_CHOSEN notify error" in ss.log(), out + ss.log()
    finally:
        r2.stop()
        ss.stop()


def test_optional_addke_with_strongswan6_without_it(pair: Namespaces, tmp_path: Path,
                                                    charon6: StrongSwan) -> None:
    """iked offers ML-KEM-768 or NONE as ADDKE1; strongSwan configured without additional
    exchanges picks NONE: no IKE_INTERMEDIATE, IKE_AUTH right after IKE_SA_INIT."""
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    plain = Proposal(PQ.racoon2_ike, PQ.racoon2_esp, "aes128-sha256-x25519",
                     PQ.strongswan_esp, "", "")
    try:
        charon6.start(4, True, plain, initiator=False)
        r2.start(pq_conf(r2, "A", "{ mlkem768; none; }"), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        log = charon6.log()
        assert "IKE_INTERMEDIATE" not in log and "parsed IKE_AUTH request 1 " in log, log
        assert "key exchanges" not in r2.log()
    finally:
        r2.stop()


#: ``PQ`` with PFS in CREATE_CHILD_SA: Curve25519, then ML-KEM-768 in an IKE_FOLLOWUP_KE.
PQ_PFS = Proposal(PQ.racoon2_ike, PQ.racoon2_esp, PQ.strongswan_ike,
                  "aes128-sha256-x25519-ke1_mlkem768", "", "")


def test_strongswan6_rekeys_child_sa_with_followup_ke(pair: Namespaces, tmp_path: Path,
                                                      trixie: str) -> None:
    """charon rekeys the CHILD_SA after 3 s with Curve25519 and ML-KEM-768 (RFC 9370 §2.2.4):
    CREATE_CHILD_SA, one IKE_FOLLOWUP_KE, then charon deletes the old CHILD_SA.  The host's
    kernel refuses the ESP SAs, as for the first CHILD_SA."""
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    try:
        r2.start(pq_conf(r2, "B").replace("max_retry_to_send 3;",
                                          "max_retry_to_send 3; need_pfs on;"))
        ss.start(4, True, PQ_PFS, initiator=True, child_rekey="3s")
        out = ss.initiate()
        wait_until(lambda: "deleted by the peer" in r2.log(), 30, "the rekey and the Delete")
        log = ss.log()
        assert re.search(r"generating IKE_FOLLOWUP_KE request \d+ \[ KE N\(ADD_KE\) \]", log), \
            out + log
        assert re.search(r"CHILD_SA r2\{2\} established", log), log
        assert "CURVE_25519/KE1_ML_KEM_768" in ss.ctl("--list-sas"), log
        # Keyed after the follow-up, the rekeyed CHILD_SA's SAs go to the kernel, which has
        # no ESP here: refused, as the first CHILD_SA's.
        refused = re.findall(r"cannot install (?:inbound|outbound) SA spi 0x\w+: \w+ SA ESP "
                             r"spi 0x\w+ [\d.]+ -> [\d.]+: Protocol not supported", r2.log())
        assert len(refused) == 4, r2.log()
    finally:
        r2.stop()
        ss.stop()


def test_iked_makes_a_child_sa_with_followup_ke(pair: Namespaces, tmp_path: Path,
                                                charon6: StrongSwan) -> None:
    """A second policy's CHILD_SA (UDP, the first one's TCP) over the IKE SA, started by an
    ACQUIRE: iked's CREATE_CHILD_SA with Curve25519 and ADDKE1 ML-KEM-768, then its
    IKE_FOLLOWUP_KE (RFC 9370 §2.2.4); strongSwan installs the CHILD_SA, the host's kernel
    refuses iked's ESP SAs."""
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    conf = pq_conf(r2, "A").replace("max_retry_to_send 3;", "max_retry_to_send 3; "
                                    "need_pfs on;").replace("upper_layer_protocol any;",
                                                            "upper_layer_protocol tcp;")
    conf += """
selector out2 { direction outbound; src "198.51.100.0/28"; dst "198.51.100.16/28";
    upper_layer_protocol udp; policy_index pol2; };
selector in2 { direction inbound; src "198.51.100.16/28"; dst "198.51.100.0/28";
    upper_layer_protocol udp; policy_index pol2; };
policy pol2 { action auto_ipsec; remote_index peer; ipsec_mode tunnel;
    ipsec_index { ipsec_esp; }; ipsec_level require;
    my_sa_ipaddr "192.0.2.1"; peers_sa_ipaddr "192.0.2.2"; };
"""
    try:
        charon6.start(4, True, PQ_PFS, initiator=False)
        r2.start(conf, "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        # A UDP datagram into the tunnel: its policy has no SA, the kernel's ACQUIRE.
        a = pair.name("A")
        subprocess.run(["ip", "-n", a, "route", "add", "198.51.100.16/28", "via", "192.0.2.2",
                        "src", "198.51.100.1"], check=True)
        subprocess.run(["ip", "netns", "exec", a, sys.executable, "-c",
                        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        "s.sendto(b'x', ('198.51.100.17', 9))"], check=True)
        wait_until(lambda: "CHILD_SA r2{2} established" in charon6.log(), 20, "the CHILD_SA")
        log = charon6.log()
        assert "parsed CREATE_CHILD_SA request 3 [ SA No KE TSi TSr ]" in log, log
        assert "generating CREATE_CHILD_SA response 3 [ SA No KE TSi TSr N(ADD_KE) ]" in log
        assert "parsed IKE_FOLLOWUP_KE request 4 [ KE N(ADD_KE) ]" in log, log
        assert "TS 198.51.100.16/28[17] === 198.51.100.0/28[17]" in log, log
        assert "ACQUIRE for 198.51.100.1/32" in r2.log() and "selector out2" in r2.log()
        wait_until(lambda: len(re.findall(r"cannot install (?:in|out)bound SA", r2.log())) == 4,
                   10, "the kernel's refusal of the second CHILD_SA")
        assert r2.log().count("Protocol not supported") == 4, r2.log()
    finally:
        r2.stop()
