"""iked's IKEv1 against real peers in network namespaces on this machine's kernel.

iked as initiator and responder against strongSwan's charon (swanctl ``version = 1``), Main
Mode and Aggressive Mode with a pre-shared key, Quick Mode in tunnel mode with and without
PFS, transport mode over IPv6; iked <-> iked initiated by a kernel ACQUIRE, tunnel and
transport; the Delete on SIGTERM seen by the peer; a wrong PSK.  strongSwan runs with
kernel-libipsec (user-space ESP): its IPsec SAs install.  This host's kernel has no ESP: on
our side phase 1 and Quick Mode complete and then the kernel refuses the ESP SAs, which is
what :func:`assert_child` asserts.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from pair.ikev1.conf import ikev1_conf
from peers import (
    ADDR,
    INNER,
    PSK,
    Libreswan,
    Namespaces,
    Proposal,
    Racoon2,
    StrongSwan,
    wait_until,
)
from test_iked_interop import HAS_ESP, assert_child, pki_files

IKEV1 = Proposal(("aes128_cbc", "", "sha2_256", "modp2048"), ("aes128_cbc", "hmac_sha1"),
                 "aes128-sha256-modp2048", "aes128-sha1", "aes128-sha2_256;modp2048",
                 "aes128-sha1")
PFS = Proposal(IKEV1.racoon2_ike, IKEV1.racoon2_esp, IKEV1.strongswan_ike,
               "aes128-sha1-modp2048", IKEV1.libreswan_ike, IKEV1.libreswan_esp)


def conf(r2: Racoon2, tunnel: bool = True, family: int = 4, **options: object) -> str:
    """iked's configuration for side ``r2.side`` of the pair."""
    peer = "B" if r2.side == "A" else "A"
    nets = {"src": INNER[r2.side], "dst": INNER[peer]} if tunnel else {}
    return ikev1_conf(r2.d, ADDR[(r2.side, family)], ADDR[(peer, family)], psk=PSK.encode(),
                      tunnel=tunnel, **nets, **options)  # type: ignore[arg-type]


@pytest.fixture
def charon(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    monkeypatch.setenv("VERSION", "1")


#: charon with the host's XFRM: strongSwan 5.9's kernel-libipsec takes ESP in UDP only
#: (test_ikev1_natt_interop.py has it, behind a NAT).
KERNEL = "netlink"


def assert_strongswan(ss: StrongSwan, out: str = "") -> None:
    """charon agrees: ISAKMP SA up, our Quick Mode proposal and selectors taken; then its
    IPsec SAs installed where the kernel has ESP, refused where it has not."""
    wait_until(lambda: "IPsec SA" in ss.log() or "CHILD_SA r2{" in ss.log(), 5,
               "charon's IPsec SA")
    sas, log = ss.ctl("--list-sas"), ss.log()
    assert "ESTABLISHED" in sas and "IKEv1" in sas, out + sas + log
    assert "selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96" in log, log
    assert f"{INNER['A']} === {INNER['B']}" in log or f"{INNER['B']} === {INNER['A']}" in log
    if HAS_ESP:
        assert "INSTALLED" in sas and "TUNNEL" in sas, sas + log
    else:
        assert "unable to install inbound and outbound IPsec SA (SAD) in kernel" in log, log


CASES = [
    pytest.param(False, False, id="main-mode"),
    pytest.param(False, True, id="main-mode-pfs"),
    pytest.param(True, False, id="aggressive-mode"),
]


def _conn(aggressive: bool) -> str:
    return "aggressive = yes" if aggressive else ""


def _charon(aggressive: bool) -> str:
    # charon refuses aggressive mode with a PSK as responder unless told (VU#886601 too).
    return "i_dont_care_about_security_and_use_aggressive_mode_psk = yes" if aggressive \
        else ""


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize(("aggressive", "pfs"), CASES)
def test_iked_initiator_strongswan_responder(pair: Namespaces, tmp_path: Path,
                                             aggressive: bool, pfs: bool) -> None:
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, PFS if pfs else IKEV1, initiator=False,
                 extra_conn=_conn(aggressive), kernel=KERNEL,
                 extra_charon=_charon(aggressive))
        began = time.monotonic()
        r2.start(conf(r2, aggressive=aggressive, pfs=pfs), "-S", "sel_out")
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA")
        wait_until(r2.child_settled, 10, "the IPsec SA")
        print(f"IKEv1 {'aggressive' if aggressive else 'main'} mode{' + PFS' if pfs else ''}:"
              f" phase 1 and Quick Mode in {time.monotonic() - began:.2f} s")
        assert_strongswan(ss)
        assert_child(r2)
        if aggressive:
            assert "CERT VU#886601" in r2.log()
    finally:
        r2.stop()
        ss.stop()
    assert "deleting IKE_SA" in ss.log() or "received DELETE for IKE_SA" in ss.log(), ss.log()


#: What Windows' and Apple's L2TP clients offer, as far as iked's pair configuration has it:
#: 3DES and SHA-1 in phase 1, SHA-1 in Quick Mode.
WEAK = Proposal(IKEV1.racoon2_ike, IKEV1.racoon2_esp, "3des-sha1-modp2048", "aes128-sha1",
                "3des-sha1;modp2048", "aes128-sha1")


@pytest.mark.usefixtures("charon")
def test_weak_algorithms_are_accepted_and_named(pair: Namespaces, tmp_path: Path) -> None:
    """charon accepts only 3DES/SHA-1 for phase 1: iked, which offers them after AES/SHA-2
    for the native L2TP clients, agrees and names them in one warning line (the Quick Mode's
    SHA-1 is named when its SAs are in a kernel with ESP: tests/vm/l2tp.sh)."""
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, WEAK, initiator=False, kernel=KERNEL)
        r2.start(conf(r2), "-S", "sel_out")
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA")
        log = r2.log()
        (line,) = [x for x in log.splitlines() if "weak algorithms accepted" in x]
        assert "ENCR_3DES (64-bit block (Sweet32), RFC 8221 §5 SHOULD NOT), PRF_HMAC_SHA1 " \
            "(SHA-1, RFC 8247 §2.2 MUST-)" in line, log
        assert "MODP_2048" not in line and "WARNING" in line.upper(), line
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize(("aggressive", "pfs"), CASES)
def test_strongswan_initiator_iked_responder(pair: Namespaces, tmp_path: Path,
                                             aggressive: bool, pfs: bool) -> None:
    ss, r2 = StrongSwan(pair, "A", tmp_path / "ss"), Racoon2(pair, "B", tmp_path / "r2")
    try:
        r2.start(conf(r2, aggressive=aggressive, pfs=pfs))
        ss.start(4, True, PFS if pfs else IKEV1, initiator=True, extra_conn=_conn(aggressive),
                 kernel=KERNEL, extra_charon=_charon(aggressive))
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA")
        assert_strongswan(ss, out)
        if HAS_ESP:
            wait_until(r2.child_settled, 10, "the IPsec SA")
            assert_child(r2)
        else:
            # charon installs its SAs before it sends QM3 (RFC 2409 §5.5 lets it); refused
            # by the kernel, it sends N(NO-PROPOSAL-CHOSEN) instead, which ends our Quick Mode.
            wait_until(lambda: "quick mode failed: the peer said NO_PROPOSAL_CHOSEN" in
                       r2.log(), 10, "our Quick Mode's end")
        assert "Traceback" not in r2.log()
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize("iked_initiates", [True, False], ids=["iked-initiator",
                                                             "charon-initiator"])
def test_ipv6_transport_with_strongswan(pair: Namespaces, tmp_path: Path,
                                        iked_initiates: bool) -> None:
    """Main Mode and Quick Mode over IPv6, transport mode, either side initiating: both
    agree on the SAs between the two IPv6 addresses, and our kernel refuses them (no ESP)."""
    ours, theirs = ("A", "B") if iked_initiates else ("B", "A")
    ss, r2 = StrongSwan(pair, theirs, tmp_path / "ss"), Racoon2(pair, ours, tmp_path / "r2")
    try:
        if iked_initiates:
            ss.start(6, False, IKEV1, initiator=False, kernel=KERNEL)
            r2.start(conf(r2, tunnel=False, family=6), "-S", "sel_out")
        else:
            r2.start(conf(r2, tunnel=False, family=6))
            ss.start(6, False, IKEV1, initiator=True, kernel=KERNEL)
            ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + ss.log()[-2000:])
        assert re.search(rf"established with {re.escape(ADDR[(theirs, 6)])}\[500\]",
                         r2.log()), r2.log()
        wait_until(lambda: "selected proposal: ESP:AES_CBC_128/HMAC_SHA1_96" in ss.log(), 10,
                   "charon's Quick Mode")
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "IKEv1" in sas and ADDR[(ours, 6)] in sas, sas
        if iked_initiates:
            wait_until(r2.child_settled, 10, "the IPsec SA")
            assert_child(r2)
        assert "Traceback" not in r2.log()
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize("iked_initiates", [True, False], ids=["iked-initiator",
                                                             "charon-initiator"])
def test_rsa_certificates_with_strongswan(pair: Namespaces, tmp_path: Path,
                                          iked_initiates: bool) -> None:
    """Main Mode with RSA signatures: each side checks the other's CERT chain up to the CA
    and the ID against the certificate's subjectAltName."""
    files = pki_files(tmp_path, "rsa")
    ss_side, r2_side = ("B", "A") if iked_initiates else ("A", "B")
    ss, r2 = StrongSwan(pair, ss_side, tmp_path / "ss"), Racoon2(pair, r2_side, tmp_path / "r2")
    try:
        text = conf(r2, cert=files[r2_side])
        if iked_initiates:
            ss.start(4, True, IKEV1, initiator=False, kernel=KERNEL, cert=files[ss_side])
            r2.start(text, "-S", "sel_out")
        else:
            r2.start(text)
            ss.start(4, True, IKEV1, initiator=True, kernel=KERNEL, cert=files[ss_side])
            ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + ss.log()[-1500:])
        # charon verified our SIG: PKCS#1 of the bare HASH, no DigestInfo (RFC 2409 §5.1).
        assert re.search(rf"authentication of '{ADDR[(r2_side, 4)]}' with "
                         r"RSA_EMSA_PKCS1_NULL successful", ss.log()), ss.log()
        assert_strongswan(ss)
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.usefixtures("charon")
def test_wrong_psk_fails_cleanly(pair: Namespaces, tmp_path: Path) -> None:
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, IKEV1, initiator=False, kernel=KERNEL)
        text = conf(r2, retry=1)
        (r2.d / "peer.psk").write_text("not the key")
        r2.start(text, "-S", "sel_out")
        # charon cannot decrypt MM5 and says nothing (RFC 2409 gives it no way to tell);
        # we retransmit MM5 and give up.
        wait_until(lambda: "phase 1 failed: no answer after 2 transmissions" in r2.log(), 10,
                   "the failure")
        assert not r2.established() and "Traceback" not in r2.log()
        assert "ESTABLISHED" not in ss.ctl("--list-sas")
        assert "integrity check failed" in ss.log() or "invalid HASH_V1" in ss.log() or \
            "could not decrypt" in ss.log(), ss.log()
    finally:
        r2.stop()
        ss.stop()


SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "ikev1-tunnel.conf"


def sample_conf(r2: Racoon2) -> str:
    """samples/ikev1-tunnel.conf as side ``r2.side`` of the pair: the gateways are the pair's
    addresses, the networks behind them the inner ones, the files in ``r2.d``."""
    peer = "B" if r2.side == "A" else "A"
    text = SAMPLE.read_text()
    for old, token in (("198.51.100.1", "@ME@"), ("203.0.113.1", "@PEER@"),
                       ("192.0.2.0/25", "@LNET@"), ("192.0.2.128/25", "@RNET@")):
        text = text.replace(old, token)
    for token, new in (("@ME@", ADDR[(r2.side, 4)]), ("@PEER@", ADDR[(peer, 4)]),
                       ("@LNET@", INNER[r2.side]), ("@RNET@", INNER[peer]),
                       ('"/var/run/racoon2/spmif"', f'"{r2.d}/spmif"'),
                       ('"/usr/local/etc/racoon2/spmd.pwd"', f'"{r2.d}/spmd.pwd"'),
                       ('"/usr/local/etc/racoon2/psk/gw_b.psk"', f'"{r2.d}/peer.psk"')):
        text = text.replace(token, new)
    return text


@pytest.mark.parametrize("tunnel", [True, False], ids=["sample-tunnel", "transport"])
def test_iked_pair_initiates_on_acquire(pair: Namespaces, tmp_path: Path, tunnel: bool) -> None:
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    try:
        if tunnel:
            # The inner networks are on lo: each reaches the other's through the veth.
            for me, peer in (("A", "B"), ("B", "A")):
                pair.run(me, "ip", "route", "add", INNER[peer], "via", ADDR[(peer, 4)])
        b.start(sample_conf(b) if tunnel else conf(b, tunnel))
        a.start(sample_conf(a) if tunnel else conf(a, tunnel))
        began = time.monotonic()
        target = "198.51.100.17" if tunnel else "192.0.2.2"
        source = ["-I", "198.51.100.1"] if tunnel else []
        pair.run("A", "ping", "-c1", "-W1", *source, target)  # meets the policy: ACQUIRE
        wait_until(lambda: bool(a.established() and b.established()), 20, "ISAKMP SAs")
        for side in (a, b):
            wait_until(side.child_settled, 10, "the IPsec SA")
            assert_child(side)
        print(f"iked <-> iked IKEv1 ({'tunnel' if tunnel else 'transport'}) after ACQUIRE in"
              f" {time.monotonic() - began:.2f} s")
        assert a.established() == b.established()
        assert re.search(r"ACQUIRE for .*: selector (net|sel)_out", a.log()), a.log()
        assert a.stop() == {"iked": 0, "spmd": 0}
        wait_until(lambda: "deleted: the peer deleted it" in b.log(), 10, "the Delete")
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def pluto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERSION", "1")


def assert_pluto(lsw: Libreswan, r2: Racoon2, auth: str = "PRESHARED_KEY") -> None:
    """pluto agrees: phase 1 up (authenticated by ``auth``), our Quick Mode taken; then its
    IPsec SAs installed where the kernel has ESP, refused (errno 93) where it has not.
    pluto installs before it answers QM1 or sends QM3, so without ESP our side's Quick Mode
    gets no further message."""
    wait_until(lambda: "Add SA esp" in lsw.log() or "IPsec SA established" in lsw.log(), 10,
               "pluto's IPsec SA")
    log = lsw.log()
    assert f"IKE SA established {{auth={auth} cipher=AES_CBC_128" in log, log
    if HAS_ESP:
        wait_until(r2.child_settled, 10, "the IPsec SA")
        assert_child(r2)
    else:
        assert re.search(r"netlink response for Add SA esp[.:][0-9a-f]+@\S+: Protocol not "
                         r"supported", log), log
    assert "Traceback" not in r2.log()


def assert_pluto_quick(lsw: Libreswan, r2: Racoon2, iked_initiates: bool, family: int,
                       tunnel: bool, pfs: bool) -> None:
    """The Quick Mode as pluto saw it: as responder, the selectors it took from our IDci/IDcr
    (networks behind the gateways in tunnel mode, the two hosts in transport mode); as
    initiator, what it proposed (TUNNEL, PFS and its group) and, without ESP, our answer's
    inbound SA refused by our kernel between the two gateways."""
    ours, theirs = ("A", "B") if iked_initiates else ("B", "A")
    me, him = ADDR[(theirs, family)], ADDR[(ours, family)]  # pluto's end, ours
    log = lsw.log()
    if iked_initiates:
        us, them = (f"{INNER[theirs]}==={me}", f"{him}==={INNER[ours]}") if tunnel else \
            (me, him)
        assert f"us: {us}  them: {them}" in log, log
        # pluto with pfs=yes refuses a QM1 without KE ("we require PFS but Quick I1 SA
        # specifies no GROUP_DESCRIPTION", seen with iked's need_pfs off): taken, it had one.
        assert "we require PFS" not in log, log
        return
    ((policy, group),) = re.findall(r"initiating Quick Mode (\S+) \{using isakmp#\d+ "
                                    r"msgid:[0-9a-f]+ proposal=AES_CBC_128-HMAC_SHA1_96 "
                                    r"pfsgroup=(\S+)\}", log)
    flags = policy.split("+")
    assert ("TUNNEL" in flags, "PFS" in flags) == (tunnel, pfs), policy
    assert group == ("MODP2048" if pfs else "no-pfs"), log
    if not HAS_ESP:
        assert re.search(rf"cannot install inbound SA spi 0x[0-9a-f]{{8}}: UPDSA SA ESP spi "
                         rf"0x[0-9a-f]{{8}} {re.escape(me)} -> {re.escape(him)}: Protocol not "
                         r"supported", r2.log()), r2.log()


#: The libreswan matrix (issue 18's proof): (family, tunnel, pfs, aggressive, rsa), every
#: dimension both ways and in both roles, not their whole product.
LIBRESWAN = [
    pytest.param(4, True, True, False, False, id="main-psk-tunnel-pfs"),
    pytest.param(4, True, False, False, False, id="main-psk-tunnel-no-pfs"),
    pytest.param(4, False, False, False, False, id="main-psk-transport"),
    pytest.param(6, True, True, False, False, id="main-psk-tunnel-ipv6"),
    pytest.param(6, False, False, False, False, id="main-psk-transport-ipv6"),
    pytest.param(4, True, True, False, True, id="main-rsa-tunnel"),
    pytest.param(4, True, True, True, False, id="aggressive-psk-tunnel"),
]


@pytest.mark.usefixtures("pluto")
@pytest.mark.parametrize("iked_initiates", [True, False], ids=["iked-initiator",
                                                             "pluto-initiator"])
@pytest.mark.parametrize(("family", "tunnel", "pfs", "aggressive", "rsa"), LIBRESWAN)
def test_libreswan(pair: Namespaces, tmp_path: Path, iked_initiates: bool, family: int,
                   tunnel: bool, pfs: bool, aggressive: bool, rsa: bool) -> None:
    """iked and pluto (libreswan 4.10, IKEv1) in either role: phase 1 (Main Mode with a PSK
    or RSA certificates, Aggressive Mode with a PSK) and Quick Mode (tunnel or transport,
    with or without PFS, IPv4 or IPv6) agreed on both sides."""
    theirs, ours = ("B", "A") if iked_initiates else ("A", "B")
    lsw, r2 = Libreswan(pair, theirs, tmp_path / "lsw"), Racoon2(pair, ours, tmp_path / "r2")
    files = pki_files(tmp_path, "rsa") if rsa else None
    lines = [f"pfs={'yes' if pfs else 'no'}"] + (["aggressive=yes"] if aggressive else [])
    text = conf(r2, tunnel=tunnel, family=family, pfs=pfs, aggressive=aggressive,
                cert=files[ours] if files else None)
    try:
        if iked_initiates:
            lsw.start(family, tunnel, IKEV1, initiator=False,
                      cert=files[theirs] if files else None, conn="\n\t".join(lines))
            r2.start(text, "-S", "sel_out")
        else:
            r2.start(text)
            lsw.start(family, tunnel, IKEV1, initiator=True,
                      cert=files[theirs] if files else None, conn="\n\t".join(lines))
            lsw.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + lsw.log()[-2000:])
        assert_pluto(lsw, r2, "RSA_SIG" if rsa else "PRESHARED_KEY")
        assert_pluto_quick(lsw, r2, iked_initiates, family, tunnel, pfs)
        mode = "Aggressive" if aggressive else "Main"
        assert (f"responding to {mode} Mode" if iked_initiates else
                f"initiating IKEv1 {mode} Mode connection") in lsw.log(), lsw.log()
        assert ("CERT VU#886601" in r2.log()) == aggressive, r2.log()
    finally:
        r2.stop()
        lsw.stop()
