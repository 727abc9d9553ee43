"""RFC 8784 post-quantum preshared keys, two cores in memory.

The key update is checked against an independent computation: RFC 8784 §3's SK_d = prf+(PPK,
SK_d'), SK_pi = prf+(PPK, SK_pi'), SK_pr = prf+(PPK, SK_pr') written out step by step with
``cryptography``'s HMAC (prf+ as RFC 7296 §2.13: T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S |
0x02), ...), then the initiator's PSK AUTH (RFC 7296 §2.15) recomputed with the updated SK_pi,
and NO_PPK_AUTH's with the un-updated SK_pi'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from iked.events import IkeSaUp, NegotiationFailed
from iked.ikev2.sa import IkeSa
from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.errors import ConfigError
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.payloads import Auth, IDi, Notify, encode_body, first

from .harness import Msg, exchange, ike_sas, of, pump, side_config, two_sides

INIT, AUTH = ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH
USE, IDENT, NO_AUTH = NotifyType.USE_PPK, NotifyType.PPK_IDENTITY, NotifyType.NO_PPK_AUTH
GROUP = "kmp_dh_group { modp2048; };"
PSK = b"secret-psk"
PPK = bytes(range(32))


def _hmac(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def _prf_plus_32(key: bytes, seed: bytes) -> bytes:
    """prf+(K, S) cut to 32 bytes (HMAC-SHA2-256's preferred key size): T1 alone."""
    return _hmac(key, seed + b"\x01")


def ppk(tmp: Path, *entries: tuple[str, bytes], required: bool | None = None) -> str:
    """``ppk`` lines (each key in a 0600 file under ``tmp``) and ``ppk_required``."""
    tmp.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (ident, key) in enumerate(entries):
        path = tmp / f"ppk{n}"
        path.write_bytes(key)
        path.chmod(0o600)
        lines.append(f'ppk "{ident}" "{path}";')
    if required is not None:
        lines.append(f"ppk_required {'on' if required else 'off'};")
    return " ".join(lines)


def edit(lines: str) -> tuple[tuple[str, str], ...]:
    return ((GROUP, GROUP + " " + lines),)


@pytest.fixture
def keys_set(monkeypatch: pytest.MonkeyPatch) -> list[tuple[IkeSa, Any]]:
    """Every key set an SA takes, in order."""
    seen: list[tuple[IkeSa, Any]] = []
    real = IkeSa.set_crypto

    def set_crypto(self: IkeSa, *args: Any) -> None:
        seen.append((self, args[3]))
        real(self, *args)

    monkeypatch.setattr(IkeSa, "set_crypto", set_crypto)
    return seen


def test_ppk_both_sides(tmp_path: Path, keys_set: list[tuple[IkeSa, Any]]) -> None:
    pair = two_sides(tmp_path, edit(ppk(tmp_path / "ka", ("ppk-1", PPK))),
                     edit(ppk(tmp_path / "kb", ("other", b"x" * 32), ("ppk-1", PPK))))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    # IKE_SA_INIT  i -> r  HDR, SAi1, KEi, Ni, N(USE_PPK), N(NAT_D), N(NAT_D)
    m = exchange(a, b)
    assert USE in m.notifies, m.draw()
    init_request = m.data
    # IKE_SA_INIT  i <- r  HDR, SAr1, KEr, Nr, N(USE_PPK), N(NAT_D), N(NAT_D)
    m = exchange(b, a)
    assert USE in m.notifies, m.draw()
    nonce_r = m.payloads[2].data  # type: ignore[attr-defined]
    # IKE_AUTH  i -> r  HDR, SK { IDi, AUTH, N(PPK_IDENTITY), N(NO_PPK_AUTH), SAi2, TSi, TSr }
    auth = exchange(a, b)
    assert auth.exchange == AUTH and [IDENT, NO_AUTH] == [
        n for n in auth.notifies if n in (IDENT, NO_AUTH)], auth.draw()
    notes = {p.type: p.data for p in auth.payloads if isinstance(p, Notify)}
    assert notes[IDENT] == b"\x02ppk-1"  # PPK_ID_FIXED, then the PPK_ID (RFC 8784 §5.1)
    # IKE_AUTH  i <- r  HDR, SK { IDr, AUTH, N(PPK_IDENTITY), SAr2, TSi, TSr }
    m = exchange(b, a)
    assert IDENT in m.notifies and NO_AUTH not in m.notifies, m.draw()
    pump(pair)
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
    assert [e.ppk for e in (*of(a, IkeSaUp), *of(b, IkeSaUp))] == ["ppk-1"] * 2
    assert [s["ppk"] for s in (*ike_sas(a), *ike_sas(b))] == ["ppk-1"] * 2

    # RFC 8784 §3, independently: the initiator's keys before (K') and after (K) IKE_AUTH.
    initiator = next(sa for sa, _ in keys_set if sa.initiator)
    before, after = [k for sa, k in keys_set if sa is initiator]
    assert after.sk_d == _prf_plus_32(PPK, before.sk_d) != before.sk_d
    assert after.sk_pi == _prf_plus_32(PPK, before.sk_pi)
    assert after.sk_pr == _prf_plus_32(PPK, before.sk_pr)
    assert (after.sk_ei, after.sk_er, after.sk_ai, after.sk_ar) == (
        before.sk_ei, before.sk_er, before.sk_ai, before.sk_ar)
    # AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi')), with
    # the updated SK_pi; NO_PPK_AUTH's the same with SK_pi'.
    idi, au = first(auth.payloads, IDi), first(auth.payloads, Auth)
    assert idi is not None and au is not None
    pad = _hmac(PSK, b"Key Pad for IKEv2")
    for sk_pi, data in ((after.sk_pi, au.data), (before.sk_pi, notes[NO_AUTH])):
        assert data == _hmac(pad, init_request + nonce_r + _hmac(sk_pi, encode_body(idi)))


def test_optional_ppk_meets_a_responder_without_it(tmp_path: Path) -> None:
    """The initiator's PPK is optional and the responder has another: NO_PPK_AUTH."""
    pair = two_sides(tmp_path, edit(ppk(tmp_path / "ka", ("ppk-1", PPK))),
                     edit(ppk(tmp_path / "kb", ("ppk-2", PPK))))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    pump(pair, record=wire)
    answer = next(m for m in wire if m.exchange == AUTH and m.response)
    assert IDENT not in answer.notifies, answer.draw()
    assert len(of(a, IkeSaUp)) == len(of(b, IkeSaUp)) == 1
    assert [s["ppk"] for s in (*ike_sas(a), *ike_sas(b))] == [None, None]


@pytest.mark.parametrize("required", ["a", "b"])
def test_required_ppk_mismatch_fails(tmp_path: Path, required: str) -> None:
    """Different PPK_IDs and one side requiring a PPK: AUTHENTICATION_FAILED (RFC 8784 §3)."""
    pair = two_sides(
        tmp_path, edit(ppk(tmp_path / "ka", ("ppk-1", PPK), required=required == "a")),
        edit(ppk(tmp_path / "kb", ("ppk-2", PPK), required=required == "b")))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    pump(pair, record=wire)
    request = next(m for m in wire if m.exchange == AUTH and not m.response)
    # A required PPK: no NO_PPK_AUTH to fall back on.
    assert (NO_AUTH in request.notifies) == (required != "a")
    answer = next(m for m in wire if m.exchange == AUTH and m.response)
    assert answer.notifies == [NotifyType.AUTHENTICATION_FAILED]
    assert not of(a, IkeSaUp) and not of(b, IkeSaUp)
    assert "PPK_ID ppk-1" in of(b, NegotiationFailed)[0].reason


def test_required_ppk_and_a_peer_without_use_ppk(tmp_path: Path) -> None:
    """The responder requires a PPK, the initiator has none: AUTHENTICATION_FAILED; the
    initiator requiring one of a responder without: it stops before IKE_AUTH."""
    pair = two_sides(tmp_path, (), edit(ppk(tmp_path / "kb", ("ppk-1", PPK), required=True)))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire: list[Msg] = []
    pump(pair, record=wire)
    assert USE not in wire[1].notifies
    assert wire[-1].notifies == [NotifyType.AUTHENTICATION_FAILED]
    assert "ppk_required is on" in of(b, NegotiationFailed)[0].reason

    (tmp_path / "2").mkdir()
    pair = two_sides(tmp_path / "2", edit(ppk(tmp_path / "ka", ("ppk-1", PPK), required=True)))
    a, b = pair["a"], pair["b"]
    assert a.core.initiate("peer_out", 0.0) is not None
    wire = []
    pump(pair, record=wire)
    assert [m.exchange for m in wire] == [INIT, INIT]
    assert "responder sent no USE_PPK" in of(a, NegotiationFailed)[0].reason


def test_config_checks(tmp_path: Path) -> None:
    """-n: a PPK file readable by others, a PPK_ID twice, ppk_required without a ppk."""
    def check(lines: str) -> list[str]:
        text = side_config("ikev2-transport.conf", tmp_path, "192.0.2.1", "192.0.2.2",
                           edit=edit(lines))
        return [w.message for w in check_config(loads(text, f"{tmp_path}/racoon2.conf"),
                                                 "iked")]

    # Two PPKs are noted as a repeated directive (both count), nothing else.
    assert [w for w in check(ppk(tmp_path / "ok", ("ppk-1", PPK), ("ppk-2", PPK),
                                 required=True)) if "ppk" in w.lower()] == [
        "'ppk' repeated in 'ikev2' (first at line 29): both PPKs are known, the first one is "
        "offered"]
    # RFC 8784 §3: at least 256 bits.
    assert any("holds fewer than 32 bytes; make one with: pskgen -r -s 32" in w
               for w in check(ppk(tmp_path / "short", ("s", PPK[:16]))))
    loose = tmp_path / "loose"
    loose.write_bytes(PPK)
    loose.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644 lets others read a secret"):
        check(f'ppk "x" "{loose}";')
    with pytest.raises(ConfigError, match="found PPK_ID 'x' twice"):
        check(ppk(tmp_path / "twice", ("x", PPK), ("x", PPK)))
    with pytest.raises(ConfigError, match="ppk_required on but no ppk"):
        check("ppk_required on;")
    with pytest.raises(ConfigError, match=r"racoon2\.conf:\d+: .*a PPK_ID and its key file"):
        check('ppk "only-an-id";')
