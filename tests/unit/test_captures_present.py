"""The IKE captures in tests/vectors/captures/ are complete and consistent with their keys.

The captures come from strongSwan and libreswan (tests/harness/peers/capture.sh). These tests
use no project code: they check the files themselves, so that a codec test failing on them
points at the codec, not at the data. Beyond structure (JSON, IKE header version and length),
they recompute the key derivation from the captured nonces with hashlib (RFC 7296 §2.13-2.14,
RFC 2409 §5) and check the keys against the protected messages: HMAC ICVs and AES-GCM tags
(RFC 5282) for IKEv2, AES-CBC decryption of Main Mode's identities and Quick Mode for IKEv1;
and they verify the IKE_AUTH AUTH payloads: PSK MICs (RFC 7296 §2.15) and ECDSA signatures
(RFC 7427) under the certificates of the capture's test CA.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CAPTURES = Path(__file__).resolve().parents[1] / "vectors" / "captures"
DIRS = sorted(p for p in CAPTURES.iterdir() if p.is_dir())
IKEV2_DIRS = [d for d in DIRS if d.name.startswith("ikev2-")]
IKEV1_DIRS = [d for d in DIRS if d.name.startswith("ikev1-")]

IKE_HEADER = 28
SK = 46  # IKEv2 Encrypted payload (RFC 7296 §3.14)
SKF = 53  # IKEv2 Encrypted Fragment payload (RFC 7383 §2.5)
NONCE_V2 = 40
SA_V1 = 1
KE_V1 = 4
ID_V1 = 5
HASH_V1 = 8
IKE_SA_INIT = 34
IKE_AUTH = 35
IDI, IDR, CERT, AUTH = 35, 36, 37, 39
# DER AlgorithmIdentifier of ecdsa-with-SHA256 (RFC 5758), as in RFC 7427 Appendix A
ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
PSK = b"racoon2-capture-psk"
MAIN_MODE = 2
AGGRESSIVE_MODE = 4
QUICK_MODE = 32


def _messages(d: Path) -> list[dict[str, Any]]:
    data = json.loads((d / "messages.json").read_text())
    assert isinstance(data, list)
    return data


def _keys(d: Path) -> list[dict[str, Any]]:
    data = json.loads((d / "keys.json").read_text())
    assert isinstance(data, list)
    return data


def _payloads(
    msg: bytes, first: int, offset: int = IKE_HEADER, ikev2: bool = True
) -> list[tuple[int, bytes]]:
    """(type, body) of each payload in the chain starting at offset with type first.

    An IKEv2 SK or SKF payload is always last; its "next payload" names the first payload inside
    it (or 0 in fragments after the first).
    """
    out = []
    kind = first
    while kind:
        nxt, length = msg[offset], int.from_bytes(msg[offset + 2 : offset + 4], "big")
        assert length >= 4 and offset + length <= len(msg), f"payload {kind} overruns message"
        out.append((kind, msg[offset + 4 : offset + length]))
        kind, offset = nxt, offset + length
        if ikev2 and out[-1][0] in (SK, SKF):
            assert offset == len(msg), "SK/SKF is not the last payload"
            break
    return out


def _prf_plus(key: bytes, seed: bytes, size: int) -> bytes:
    """prf+ of RFC 7296 §2.13 with PRF_HMAC_SHA2_256."""
    out, t, n = b"", b"", 1
    while len(out) < size:
        t = hmac.new(key, t + seed + bytes([n]), hashlib.sha256).digest()
        out += t
        n += 1
    return out[:size]


def test_every_capture_has_its_files() -> None:
    assert len(DIRS) >= 4
    for d in DIRS:
        for name in ("messages.json", "keys.json", "capture.pcap", "README.md", "sas.txt"):
            assert (d / name).is_file(), f"{d.name} lacks {name}"
        assert list((d / "wireshark").glob("ikev*_decryption_table")), f"{d.name}: no key table"


@pytest.mark.parametrize("d", DIRS, ids=lambda d: d.name)
def test_messages_are_ike_with_matching_lengths(d: Path) -> None:
    version = 0x20 if d.name.startswith("ikev2-") else 0x10
    records = _messages(d)
    assert len(records) >= 5
    for i, r in enumerate(records):
        assert r["index"] == i
        assert set(r) >= {"from", "to", "src", "dst", "non_esp_marker_stripped", "hex"}
        msg = bytes.fromhex(r["hex"])
        assert len(msg) >= IKE_HEADER
        assert msg[17] == version, f"message {i}: version byte {msg[17]:#04x}"
        assert int.from_bytes(msg[24:28], "big") == len(msg), f"message {i}: length field"
        on_4500 = r["src"].endswith(":4500") or r["dst"].endswith(":4500")
        assert r["non_esp_marker_stripped"] == on_4500
        if version == 0x20 or not msg[19] & 1:  # IKEv1 ciphertext hides its chain
            chain = _payloads(msg, msg[16], ikev2=version == 0x20)
            end = IKE_HEADER + sum(4 + len(body) for _, body in chain)
            assert end == len(msg), f"message {i}: payloads do not fill the message"


@pytest.mark.parametrize("d", DIRS, ids=lambda d: d.name)
def test_keys_name_spis_seen_on_the_wire(d: Path) -> None:
    headers = {bytes.fromhex(r["hex"])[:16].hex() for r in _messages(d)}
    keys = _keys(d)
    assert keys
    for k in keys:
        assert k["spi_i"] + k["spi_r"] in headers, f"no message carries {k['spi_i']}/{k['spi_r']}"
        for name, value in k.items():
            if name not in ("ike_version", "spi_i", "spi_r", "algorithms"):
                assert len(bytes.fromhex(value)) > 0


def _ikev2_key_sizes(algorithms: str) -> tuple[int, int]:
    """(SK_a* size, SK_e* size) for the strongSwan algorithm names in these captures."""
    integ = 32 if "HMAC_SHA2_256_128" in algorithms else 0
    enc = {"AES_CBC-128": 16, "AES_GCM_16-128": 20, "AES_GCM_16-256": 36}
    sizes = [size for name, size in enc.items() if algorithms.startswith(name)]
    assert len(sizes) == 1, algorithms
    return integ, sizes[0]


def _successful_init(records: list[bytes]) -> tuple[bytes, bytes]:
    """The IKE_SA_INIT request and response that set up the first IKE SA (after any COOKIE
    or INVALID_KE_PAYLOAD round)."""
    at = next(
        i
        for i, m in enumerate(records)
        if m[18] == IKE_SA_INIT and m[19] & 0x20 and NONCE_V2 in dict(_payloads(m, m[16]))
    )
    request, response = records[at - 1], records[at]
    assert request[18] == IKE_SA_INIT and request[:8] == response[:8]
    return request, response


@pytest.mark.parametrize("d", IKEV2_DIRS, ids=lambda d: d.name)
def test_ikev2_initial_keys_follow_from_the_nonces(d: Path) -> None:
    request, response = _successful_init([bytes.fromhex(r["hex"]) for r in _messages(d)])
    ni = dict(_payloads(request, request[16]))[NONCE_V2]
    nr = dict(_payloads(response, response[16]))[NONCE_V2]
    k = _keys(d)[0]
    assert k["spi_i"] + k["spi_r"] == response[:16].hex()
    assert "PRF_HMAC_SHA2_256" in k["algorithms"]
    skeyseed = hmac.new(ni + nr, bytes.fromhex(k["dh_shared_secret"]), hashlib.sha256).digest()
    assert skeyseed.hex() == k["skeyseed"]
    integ, enc = _ikev2_key_sizes(k["algorithms"])
    sizes = {"sk_d": 32, "sk_ai": integ, "sk_ar": integ, "sk_ei": enc, "sk_er": enc}
    sizes |= {"sk_pi": 32, "sk_pr": 32}
    stream = _prf_plus(skeyseed, ni + nr + response[:16], sum(sizes.values()))
    for name, size in sizes.items():
        if size:
            assert stream[:size].hex() == k[name], name
        stream = stream[size:]


def _sk_open(msg: bytes, k: dict[str, Any]) -> bytes:
    """The plaintext (padding removed) of an SK or SKF payload, after checking its ICV or tag."""
    from_initiator = bool(msg[19] & 0x08)
    integ, _ = _ikev2_key_sizes(k["algorithms"])
    # the IV follows the generic header, and for SKF Fragment Number and Total Fragments
    head = IKE_HEADER + (8 if msg[16] == SKF else 4)
    enc_key = bytes.fromhex(k["sk_ei" if from_initiator else "sk_er"])
    if integ:
        auth_key = bytes.fromhex(k["sk_ai" if from_initiator else "sk_ar"])
        icv = hmac.new(auth_key, msg[:-16], hashlib.sha256).digest()[:16]
        assert icv == msg[-16:], "ICV"
        plain = _cbc_decrypt(enc_key, msg[head : head + 16], msg[head + 16 : -16])
    else:
        # RFC 5282: key | 4-byte salt; nonce = salt | 8-byte IV; AAD runs up to the IV
        nonce = enc_key[-4:] + msg[head : head + 8]
        plain = AESGCM(enc_key[:-4]).decrypt(nonce, msg[head + 8 :], msg[:head])
    assert plain[-1] < len(plain), "pad length"
    return plain[: -plain[-1] - 1]


@pytest.mark.parametrize("d", IKEV2_DIRS, ids=lambda d: d.name)
def test_ikev2_protected_messages_verify_with_the_saved_keys(d: Path) -> None:
    keys = {k["spi_i"] + k["spi_r"]: k for k in _keys(d)}
    checked = 0
    for r in _messages(d):
        msg = bytes.fromhex(r["hex"])
        if msg[16] in (SK, SKF):
            _sk_open(msg, keys[msg[:16].hex()])
            checked += 1
    assert checked >= 3


def _ike_auth(records: list[bytes], k: dict[str, Any], response: bool) -> dict[int, bytes]:
    """The payloads of the first IKE_AUTH request or response, fragments reassembled."""
    parts = [
        m
        for m in records
        if m[18] == IKE_AUTH
        and bool(m[19] & 0x20) == response
        and m[:16].hex() == k["spi_i"] + k["spi_r"]
    ]
    first = parts[0]
    if first[16] == SK:
        return dict(_payloads(_sk_open(first, k), first[IKE_HEADER], 0))
    # RFC 7383: fragments 1..total, the first one's "next payload" starts the inner chain
    total = int.from_bytes(first[34:36], "big")
    by_number = {int.from_bytes(m[32:34], "big"): m for m in parts}
    plain = b"".join(_sk_open(by_number[n], k) for n in range(1, total + 1))
    return dict(_payloads(plain, by_number[1][IKE_HEADER], 0))


@pytest.mark.parametrize("d", [d for d in IKEV2_DIRS if "-psk-" in d.name], ids=lambda d: d.name)
def test_ikev2_psk_auth_payloads_verify(d: Path) -> None:
    """RFC 7296 §2.15: AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>), where the
    initiator signs its IKE_SA_INIT request | Nr | prf(SK_pi, IDi') and the responder its
    response | Ni | prf(SK_pr, IDr')."""
    records = [bytes.fromhex(r["hex"]) for r in _messages(d)]
    request, response = _successful_init(records)
    ni = dict(_payloads(request, request[16]))[NONCE_V2]
    nr = dict(_payloads(response, response[16]))[NONCE_V2]
    k = _keys(d)[0]
    pad = hmac.new(PSK, b"Key Pad for IKEv2", hashlib.sha256).digest()
    for is_response, message, nonce, sk_p, id_type in (
        (False, request, nr, "sk_pi", IDI),
        (True, response, ni, "sk_pr", IDR),
    ):
        payloads = _ike_auth(records, k, is_response)
        id_mac = hmac.new(bytes.fromhex(k[sk_p]), payloads[id_type], hashlib.sha256).digest()
        expected = hmac.new(pad, message + nonce + id_mac, hashlib.sha256).digest()
        auth = payloads[AUTH]
        assert auth[0] == 2, "Shared Key Message Integrity Code"
        assert auth[4:] == expected, f"AUTH of the {'responder' if is_response else 'initiator'}"


@pytest.mark.parametrize("d", [d for d in IKEV2_DIRS if "-cert-" in d.name], ids=lambda d: d.name)
def test_ikev2_certificate_auth_payloads_verify(d: Path) -> None:
    """RFC 7427 digital signature AUTH (method 14): a length-prefixed AlgorithmIdentifier, then
    the ECDSA signature over the same octets as a PSK MIC, with the key of the peer's CERT
    (encoding 4, X.509 DER), which the capture's test CA signed."""
    records = [bytes.fromhex(r["hex"]) for r in _messages(d)]
    request, response = _successful_init(records)
    ni = dict(_payloads(request, request[16]))[NONCE_V2]
    nr = dict(_payloads(response, response[16]))[NONCE_V2]
    k = _keys(d)[0]
    ca = x509.load_pem_x509_certificate((d / "config" / "pki" / "ca.pem").read_bytes())
    for is_response, message, nonce, sk_p, id_type in (
        (False, request, nr, "sk_pi", IDI),
        (True, response, ni, "sk_pr", IDR),
    ):
        payloads = _ike_auth(records, k, is_response)
        assert payloads[CERT][0] == 4, "X.509 Certificate - Signature"
        cert = x509.load_der_x509_certificate(payloads[CERT][1:])
        cert.verify_directly_issued_by(ca)
        id_mac = hmac.new(bytes.fromhex(k[sk_p]), payloads[id_type], hashlib.sha256).digest()
        auth = payloads[AUTH]
        assert auth[0] == 14, "Digital Signature (RFC 7427)"
        algorithm_id = auth[5 : 5 + auth[4]]
        assert algorithm_id == ECDSA_WITH_SHA256
        public_key = cert.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        signature = auth[5 + auth[4] :]
        public_key.verify(signature, message + nonce + id_mac, ec.ECDSA(hashes.SHA256()))


def _cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


@pytest.mark.parametrize("d", IKEV1_DIRS, ids=lambda d: d.name)
def test_ikev1_messages_decrypt_with_the_saved_keys(d: Path) -> None:
    """Phase 1's encrypted messages (Main Mode 5/6, Aggressive Mode 3 from libreswan) open to
    a HASH (and ID payloads naming the peers), the first Quick Mode message to HASH(1), SA."""
    records = [bytes.fromhex(r["hex"]) for r in _messages(d)]
    checked = 0
    for k in _keys(d):
        cookies = bytes.fromhex(k["spi_i"] + k["spi_r"])
        ours = [m for m in records if m[:8] == cookies[:8]]
        phase1 = [m for m in ours if m[18] in (MAIN_MODE, AGGRESSIVE_MODE)]
        clear = [m for m in phase1 if not m[19] & 1]
        ke = [dict(_payloads(m, m[16], ikev2=False)).get(KE_V1) for m in clear]
        ke_i, ke_r = (v for v in ke if v is not None)
        ka = bytes.fromhex(k["ka"])
        # RFC 2409 Appendix B: the first IV is hash(g^xi | g^xr); each next one is the last
        # cipher block of the message before; phase 2 starts from hash(that block | M-ID).
        iv = hashlib.sha256(ke_i + ke_r).digest()[:16]
        for m in [m for m in phase1 if m[19] & 1][:2]:
            chain = dict(_payloads(_cbc_decrypt(ka, iv, m[IKE_HEADER:]), m[16], 0, ikev2=False))
            if m[18] == MAIN_MODE:
                assert chain[ID_V1][0] == 1, "ID_IPV4_ADDR"
                assert chain[ID_V1][4:8] in (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
            assert len(chain[HASH_V1]) == 32, "HASH_I/HASH_R, SHA2-256"
            iv = m[-16:]
            checked += 1
        quick = [m for m in ours if m[18] == QUICK_MODE]
        if quick:
            m = quick[0]
            iv2 = hashlib.sha256(iv + m[20:24]).digest()[:16]
            plain = _cbc_decrypt(ka, iv2, m[IKE_HEADER:])
            hash_payload = _payloads(plain, HASH_V1, 0, ikev2=False)
            assert m[16] == HASH_V1 and len(hash_payload[0][1]) == 32, "HASH(1), SHA2-256"
            assert hash_payload[1][0] == SA_V1
            checked += 1
    assert checked >= 1


HARNESS = Path(__file__).resolve().parents[1] / "harness" / "peers" / "capture.sh"


def _missing_for_capture() -> str | None:
    """Why the peer harness cannot run here, or None."""
    if os.geteuid() != 0:
        return "capture.sh needs root (network namespaces, tcpdump)"
    for tool in ("/usr/sbin/charon-systemd", "/usr/sbin/swanctl", "/usr/bin/tcpdump"):
        if not Path(tool).exists():
            return f"{tool} is missing: run tests/harness/setup-host.sh"
    return None


@pytest.mark.interop
def test_capture_harness_regenerates_consistent_captures(tmp_path: Path) -> None:
    """capture.sh runs strongSwan and libreswan in namespaces; what it writes passes the
    same checks as the committed captures."""
    reason = _missing_for_capture()
    if reason:
        pytest.skip(reason)
    env = os.environ | {"CAPTURE_NETNS": f"r2t{os.getpid() % 100000}"}
    done = subprocess.run(
        ["bash", str(HARNESS), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    made = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [p.name for p in made] == [p.name for p in DIRS]
    for d in made:
        test_messages_are_ike_with_matching_lengths(d)
        test_keys_name_spis_seen_on_the_wire(d)
        if d.name.startswith("ikev1-"):
            test_ikev1_messages_decrypt_with_the_saved_keys(d)
            continue
        test_ikev2_initial_keys_follow_from_the_nonces(d)
        test_ikev2_protected_messages_verify_with_the_saved_keys(d)
        if "-cert-" in d.name:
            test_ikev2_certificate_auth_payloads_verify(d)
        else:
            test_ikev2_psk_auth_payloads_verify(d)
