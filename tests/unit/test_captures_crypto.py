"""racoon2.crypto against real traffic: the strongSwan/libreswan captures of tests/vectors/captures.

Each capture carries the DH shared secret and every key strongSwan derived (keys.json). Here the
project's own key derivation (racoon2.crypto.keymat), ciphers and integrity checks (encr, integ)
and AUTH verification (auth) must reproduce them from the captured messages alone: SKEYSEED and
SK_* of the first IKE SA, of the IKE SA made by a CREATE_CHILD_SA rekey (RFC 7296 §2.18, with
the nonces decrypted from that exchange), the PSK MICs and RFC 7427 signatures of IKE_AUTH, and
IKEv1's SKEYID chain, Phase 1 key and IVs (RFC 2409 §5, Appendix B).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from racoon2.crypto import auth, keymat
from racoon2.crypto.encr import Encr, encr_for, unpad_ikev2
from racoon2.crypto.integ import Integ, integ_for
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.transforms import Transform, TransformType, by_id
from racoon2.crypto.x509 import certificate_public_key, load_certificates

CAPTURES = Path(__file__).resolve().parents[1] / "vectors" / "captures"
DIRS = sorted(p for p in CAPTURES.iterdir() if p.is_dir())
IKEV2_DIRS = [d for d in DIRS if d.name.startswith("ikev2-")]
IKEV1_DIRS = [d for d in DIRS if d.name.startswith("ikev1-")]
PSK = b"racoon2-capture-psk"

HEADER = 28
SA, KE, IDI, IDR, CERT, AUTH, NONCE, SK, SKF = 33, 34, 35, 36, 37, 39, 40, 46, 53
IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA = 34, 35, 36
V1_KE, V1_NONCE = 4, 10
MAIN_MODE, AGGRESSIVE_MODE = 2, 4

# strongSwan's names in keys.json -> (IANA ENCR id, key bits) / INTEG id / PRF id
ENCR = {"AES_CBC-128": (12, 128), "AES_GCM_16-128": (20, 128), "AES_GCM_16-256": (20, 256)}
INTEG = {"HMAC_SHA2_256_128": 12}
PRF = {"PRF_HMAC_SHA2_256": 5}


class Suite:
    """The negotiated transforms of one IKE SA, from its strongSwan algorithm string."""

    def __init__(self, algorithms: str) -> None:
        names = algorithms.split("/")
        self.encr: Encr = encr_for(*ENCR[names[0]])
        self.encr_t: Transform = by_id(TransformType.ENCR, *ENCR[names[0]])
        integ = [INTEG[n] for n in names if n in INTEG]
        self.integ: Integ | None = integ_for(integ[0]) if integ else None
        self.integ_t = by_id(TransformType.INTEG, integ[0]) if integ else None
        self.prf: Prf = prf_for(next(PRF[n] for n in names if n in PRF))


def _records(d: Path) -> list[bytes]:
    return [bytes.fromhex(r["hex"]) for r in json.loads((d / "messages.json").read_text())]


def _keys(d: Path) -> list[dict[str, Any]]:
    data = json.loads((d / "keys.json").read_text())
    assert isinstance(data, list)
    return data


def _chain(data: bytes, first: int, offset: int = 0) -> dict[int, bytes]:
    """Payload type -> body of a chain (the first of each type); stops after SK/SKF."""
    out: dict[int, bytes] = {}
    kind = first
    while kind:
        length = int.from_bytes(data[offset + 2 : offset + 4], "big")
        out.setdefault(kind, data[offset + 4 : offset + length])
        if kind in (SK, SKF):
            break
        kind, offset = data[offset], offset + length
    return out


def _init_pair(records: list[bytes]) -> tuple[bytes, bytes]:
    """The IKE_SA_INIT request and response that made the first IKE SA."""
    at = next(
        i
        for i, m in enumerate(records)
        if m[18] == IKE_SA_INIT and m[19] & 0x20 and NONCE in _chain(m, m[16], HEADER)
    )
    return records[at - 1], records[at]


def _open(msg: bytes, k: dict[str, Any], suite: Suite) -> bytes:
    """Verify and decrypt an SK/SKF payload with racoon2.crypto; the padded-off plaintext."""
    from_initiator = bool(msg[19] & 0x08)
    head = HEADER + (8 if msg[16] == SKF else 4)
    iv_size = suite.encr_t.iv_size
    enc_key = bytes.fromhex(k["sk_ei" if from_initiator else "sk_er"])
    iv = msg[head : head + iv_size]
    if suite.integ is not None and suite.integ_t is not None:
        icv_size = suite.integ_t.icv_size
        auth_key = bytes.fromhex(k["sk_ai" if from_initiator else "sk_ar"])
        suite.integ.verify(auth_key, msg[:-icv_size], msg[-icv_size:])
        plain = suite.encr.decrypt(enc_key, iv, msg[head + iv_size : -icv_size])
    else:
        icv_size = suite.encr_t.icv_size
        plain = suite.encr.decrypt(
            enc_key, iv, msg[head + iv_size : -icv_size], msg[-icv_size:], msg[:head]
        )
    return unpad_ikev2(plain)


def _opened(
    records: list[bytes], k: dict[str, Any], suite: Suite
) -> list[tuple[bytes, dict[int, bytes]]]:
    """(first message, inner payloads) of each protected message of one IKE SA, in order;
    RFC 7383 fragments (Fragment Number, Total Fragments after the generic header) joined."""
    out: list[tuple[bytes, dict[int, bytes]]] = []
    fragments: dict[bytes, dict[int, bytes]] = {}
    for m in records:
        if m[:16].hex() != k["spi_i"] + k["spi_r"] or m[16] not in (SK, SKF):
            continue
        if m[16] == SK:
            out.append((m, _chain(_open(m, k, suite), m[HEADER])))
            continue
        # one message: same Message ID and direction
        parts = fragments.setdefault(m[19:24], {})
        parts[int.from_bytes(m[32:34], "big")] = m
        total = int.from_bytes(m[34:36], "big")
        if len(parts) == total:
            plain = b"".join(_open(parts[n], k, suite) for n in range(1, total + 1))
            out.append((parts[1], _chain(plain, parts[1][HEADER])))
            del fragments[m[19:24]]
    return out


@pytest.mark.parametrize("d", IKEV2_DIRS, ids=lambda d: d.name)
def test_ike_sa_keys_match_strongswan(d: Path) -> None:
    request, response = _init_pair(_records(d))
    ni = _chain(request, request[16], HEADER)[NONCE]
    nr = _chain(response, response[16], HEADER)[NONCE]
    k = _keys(d)[0]
    suite = Suite(k["algorithms"])
    seed = keymat.skeyseed(suite.prf, ni, nr, bytes.fromhex(k["dh_shared_secret"]))
    assert seed.hex() == k["skeyseed"]
    keys = keymat.ike_sa_keys(
        suite.prf, suite.encr_t, suite.integ_t, seed, ni, nr, response[:8], response[8:16]
    )
    for name in ("sk_d", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
        assert getattr(keys, name).hex() == k[name], name
    assert keys.sk_ai.hex() == k.get("sk_ai", "")
    assert keys.sk_ar.hex() == k.get("sk_ar", "")


@pytest.mark.parametrize("d", IKEV2_DIRS, ids=lambda d: d.name)
def test_every_protected_message_opens(d: Path) -> None:
    records = _records(d)
    protected = sum(1 for m in records if m[16] in (SK, SKF))
    opened = 0
    for k in _keys(d):
        suite = Suite(k["algorithms"])
        for m, _ in _opened(records, k, suite):
            opened += int.from_bytes(m[34:36], "big") if m[16] == SKF else 1
    assert opened == protected >= 3


def _is_ike_rekey(payloads: dict[int, bytes]) -> bool:
    # first proposal's Protocol ID (RFC 7296 §3.3.1): 1 = IKE
    return SA in payloads and payloads[SA][5] == 1


@pytest.mark.parametrize("d", [d for d in IKEV2_DIRS if len(_keys(d)) > 1], ids=lambda d: d.name)
def test_rekeyed_ike_sa_keys_match_strongswan(d: Path) -> None:
    old, new = _keys(d)[:2]
    suite = Suite(old["algorithms"])
    opened = [(m, p) for m, p in _opened(_records(d), old, suite) if m[18] == CREATE_CHILD_SA]
    request = next(p for m, p in opened if not m[19] & 0x20 and _is_ike_rekey(p))
    response = next(p for m, p in opened if m[19] & 0x20 and _is_ike_rekey(p))
    # the new SA's SPIs are the proposals' SPIs (SPI Size 8 follows the 8-byte header)
    assert request[SA][8:16].hex() == new["spi_i"] and response[SA][8:16].hex() == new["spi_r"]
    ni, nr = request[NONCE], response[NONCE]
    seed = keymat.rekey_skeyseed(
        suite.prf, bytes.fromhex(old["sk_d"]), bytes.fromhex(new["dh_shared_secret"]), ni, nr
    )
    assert seed.hex() == new["skeyseed"]
    keys = keymat.ike_sa_keys(
        suite.prf,
        suite.encr_t,
        suite.integ_t,
        seed,
        ni,
        nr,
        bytes.fromhex(new["spi_i"]),
        bytes.fromhex(new["spi_r"]),
    )
    assert keys.sk_d.hex() == new["sk_d"] and keys.sk_ei.hex() == new["sk_ei"]
    assert keys.sk_pr.hex() == new["sk_pr"]


def _auth_exchange(d: Path) -> tuple[bytes, bytes, dict[int, bytes], dict[int, bytes], Suite]:
    records = _records(d)
    request, response = _init_pair(records)
    k = _keys(d)[0]
    suite = Suite(k["algorithms"])
    found = [(m, p) for m, p in _opened(records, k, suite) if m[18] == IKE_AUTH]
    auth_i = next(p for m, p in found if not m[19] & 0x20)
    auth_r = next(p for m, p in found if m[19] & 0x20)
    return request, response, auth_i, auth_r, suite


@pytest.mark.parametrize("d", IKEV2_DIRS, ids=lambda d: d.name)
def test_auth_payloads_verify(d: Path) -> None:
    request, response, auth_i, auth_r, suite = _auth_exchange(d)
    ni = _chain(request, request[16], HEADER)[NONCE]
    nr = _chain(response, response[16], HEADER)[NONCE]
    k = _keys(d)[0]
    for message, nonce, sk_p, payloads, id_type in (
        (request, nr, "sk_pi", auth_i, IDI),
        (response, ni, "sk_pr", auth_r, IDR),
    ):
        octets = auth.signed_octets(
            message, nonce, suite.prf, bytes.fromhex(k[sk_p]), payloads[id_type]
        )
        method, data = payloads[AUTH][0], payloads[AUTH][4:]
        if method == auth.AuthMethod.SHARED_KEY_MIC:
            auth.verify_psk_auth(suite.prf, PSK, octets, data)
        else:
            assert payloads[CERT][0] == 4, "X.509 Certificate - Signature"
            cert = load_certificates(payloads[CERT][1:])[0]
            auth.verify(auth.AuthMethod(method), certificate_public_key(cert), octets, data)


@pytest.mark.parametrize("d", IKEV1_DIRS, ids=lambda d: d.name)
def test_ikev1_keys_match_strongswan(d: Path) -> None:
    records = _records(d)
    for k in _keys(d):
        cky = bytes.fromhex(k["spi_i"] + k["spi_r"])
        phase1 = [m for m in records if m[:8] == cky[:8] and m[18] in (MAIN_MODE, AGGRESSIVE_MODE)]
        clear = [_chain(m, m[16], HEADER) for m in phase1 if not m[19] & 1]
        kes = [p[V1_KE] for p in clear if V1_KE in p]
        nonces = [p[V1_NONCE] for p in clear if V1_NONCE in p]
        prf = prf_for(5)  # HMAC-SHA2-256, the only IKEv1 PRF in these captures
        skeyid = keymat.skeyid_psk(prf, PSK, nonces[0], nonces[1])
        assert skeyid.hex() == k["skeyid"]
        g_xy = bytes.fromhex(k["dh_shared_secret"])
        chain = keymat.ikev1_keys(prf, skeyid, g_xy, cky[:8], cky[8:])
        assert chain.skeyid_d.hex() == k["skeyid_d"]
        assert chain.skeyid_a.hex() == k["skeyid_a"]
        assert chain.skeyid_e.hex() == k["skeyid_e"]
        assert keymat.ikev1_encryption_key(prf, chain.skeyid_e, 16).hex() == k["ka"]
        iv = keymat.ikev1_phase1_iv(prf, kes[0], kes[1], 16)
        encrypted = [m for m in phase1 if m[19] & 1]
        cbc = encr_for(12, 128)
        plain = cbc.decrypt(bytes.fromhex(k["ka"]), iv, encrypted[0][HEADER:])
        assert _chain(plain, encrypted[0][16]), "first encrypted Phase 1 message parses"
