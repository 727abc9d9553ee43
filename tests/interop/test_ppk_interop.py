"""RFC 8784 post-quantum preshared keys against strongSwan 6.1 (the Debian 13 root of
test_pq_interop.py), with ML-KEM-768 as ADDKE1 after Curve25519 as an admin would run them.

strongSwan's side is swanctl.conf's ``ppk_id`` and ``ppk_required`` and a ``ppk`` secret;
iked's ``ppk "PPK_ID" "FILE";`` and ``ppk_required``.  Each side verifying the other's AUTH
proves the key update of RFC 8784 §3 agrees (the AUTH uses the updated SK_pi/SK_pr); the
NO_PPK_AUTH cases prove the fallback AUTH with the un-updated keys.  As in test_pq_interop.py,
this host's kernel has no ESP: the CHILD_SA negotiation completes and our kernel refuses it.
"""

from __future__ import annotations

from pathlib import Path

from peers import Namespaces, Racoon2, StrongSwan, wait_until
from test_pq_interop import PQ, pq_conf, trixie  # noqa: F401 (trixie: a fixture)

PPK = bytes(range(64))


def ss_ppk(ppk_id: str, required: bool) -> dict[str, str]:
    """strongSwan's connection lines and its ppk secret (hex, the same bytes as iked's)."""
    return {"extra_conn": f"ppk_id = {ppk_id}\n    ppk_required = {'yes' if required else 'no'}",
            "extra_swanctl": f"secrets {{\n  ppk-1 {{\n    id = {ppk_id}\n"
                             f"    secret = 0x{PPK.hex()}\n  }}\n}}"}


def r2_conf(r2: Racoon2, side: str, ppk_id: str, required: bool) -> str:
    """The post-quantum pair's racoon2.conf with one PPK."""
    key = r2.d / "ppk.key"
    r2.d.mkdir(parents=True, exist_ok=True)
    key.write_bytes(PPK)
    key.chmod(0o600)
    line = "kmp_addke1 mlkem768;"
    return pq_conf(r2, side).replace(line, f'{line} ppk "{ppk_id}" "{key}"; '
                                           f"ppk_required {'on' if required else 'off'};")


def test_required_both_sides_iked_initiates(pair: Namespaces, tmp_path: Path,
                                            trixie: str) -> None:  # noqa: F811
    ss = StrongSwan(pair, "B", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, PQ, initiator=False, **ss_ppk("ppk-1", True))
        r2.start(r2_conf(r2, "A", "ppk-1", True), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        wait_until(r2.child_settled, 10, "the CHILD_SA")
        assert "key exchanges CURVE25519 ML_KEM_768, PPK ppk-1)" in r2.log(), r2.log()
        (sa,) = r2.sas()  # ikedctl says it too
        assert (sa["key_exchanges"], sa["ppk"]) == (["CURVE25519", "ML_KEM_768"], "ppk-1"), sa
        assert "cannot install outbound" in r2.log()  # the host's kernel has no ESP
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "INSTALLED" in sas, sas + ss.log()
        assert "PPK_ID" in ss.log() and "NO_PPK_AUTH" not in ss.log(), ss.log()
    finally:
        r2.stop()
        ss.stop()


def test_required_both_sides_strongswan_initiates(pair: Namespaces, tmp_path: Path,
                                                  trixie: str) -> None:  # noqa: F811
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    try:
        r2.start(r2_conf(r2, "B", "ppk-1", True))
        ss.start(4, True, PQ, initiator=True, **ss_ppk("ppk-1", True))
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        assert "responder, key exchanges CURVE25519 ML_KEM_768, PPK ppk-1)" in r2.log(), \
            r2.log()
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "INSTALLED" in sas, out + sas + ss.log()
    finally:
        r2.stop()
        ss.stop()


def test_optional_strongswan_initiator_no_ppk_auth(pair: Namespaces, tmp_path: Path,
                                                   trixie: str) -> None:  # noqa: F811
    """strongSwan's PPK is optional and iked knows another PPK_ID: iked checks strongSwan's
    NO_PPK_AUTH and the IKE SA comes up without a PPK."""
    ss = StrongSwan(pair, "A", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    try:
        r2.start(r2_conf(r2, "B", "ppk-2", False))
        ss.start(4, True, PQ, initiator=True, **ss_ppk("ppk-1", False))
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        assert "responder, key exchanges CURVE25519 ML_KEM_768)" in r2.log(), r2.log()
        log = ss.log()
        assert "N(NO_PPK) N(PPK_ID) ]" in log and "peer didn't use PPK for PPK_ID 'ppk-1'" in \
            log, out + log
        assert "ESTABLISHED" in ss.ctl("--list-sas"), out + log
    finally:
        r2.stop()
        ss.stop()


def test_optional_iked_initiator_no_ppk_auth(pair: Namespaces, tmp_path: Path,
                                             trixie: str) -> None:  # noqa: F811
    """iked's PPK is optional and strongSwan has a PPK of another PPK_ID, not required:
    strongSwan checks iked's NO_PPK_AUTH."""
    ss = StrongSwan(pair, "B", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    try:
        extra = ss_ppk("ppk-9", False)
        ss.start(4, True, PQ, initiator=False, extra_conn="ppk_required = no",
                 extra_swanctl=extra["extra_swanctl"])
        r2.start(r2_conf(r2, "A", "ppk-1", False), "-S", "out")
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA")
        assert "initiator, key exchanges CURVE25519 ML_KEM_768)" in r2.log(), r2.log()
        log = ss.log()
        assert "IKE_AUTH request 2 [ IDi AUTH N(PPK_ID) N(NO_PPK) N(MOBIKE_SUP) SA TSi TSr ]" \
            in log, log
        assert "no PPK available, using NO_PPK_AUTH notify" in log, log
        assert "ESTABLISHED" in ss.ctl("--list-sas"), log
    finally:
        r2.stop()
        ss.stop()


def test_mismatch_refused(pair: Namespaces, tmp_path: Path, trixie: str) -> None:  # noqa: F811
    """iked requires its PPK, strongSwan knows only another one and requires it too:
    strongSwan answers AUTHENTICATION_FAILED."""
    ss = StrongSwan(pair, "B", tmp_path / "ss", root=trixie)
    r2 = Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, PQ, initiator=False, **ss_ppk("ppk-2", True))
        r2.start(r2_conf(r2, "A", "ppk-1", True), "-S", "out")
        wait_until(lambda: "AUTHENTICATION_FAILED" in r2.log(), 20, "the refusal")
        assert not r2.established()
        assert "received PPK_ID 'ppk-1', but require 'ppk-2'" in ss.log(), ss.log()
        assert "ESTABLISHED" not in ss.ctl("--list-sas")
    finally:
        r2.stop()
        ss.stop()
