"""Cost of IKE's cryptography per operation, in microseconds (best of ``--repeat`` runs).

* key exchange, per group: one side's whole share of the work (make the key pair, compute
  the shared secret from the peer's value); MODP both over OpenSSL and pure-Python ``pow``;
  ML-KEM as the initiator (keygen + decapsulation) and as the responder (encapsulation);
* signatures: AUTH payload signing and verification for RSA-2048 (PKCS#1 v1.5 and PSS,
  RFC 7427), ECDSA P-256 (method 9) and Ed25519;
* a full IKE SA key derivation: SKEYSEED, the seven SK_* keys and one CHILD_SA KEYMAT.

    python benchmarks/crypto.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from functools import partial

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from racoon2.crypto import auth, dh, keymat
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.rng import SystemRng
from racoon2.crypto.transforms import Transform, TransformType, by_id, by_keyword

RNG = SystemRng()


def best_us(func: Callable[[], object], repeat: int) -> float:
    """Best per-call time in µs, with the loop count picked so one run takes ~0.2 s."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, number // 2)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def _exchange(ident: int, peer: bytes, use_library: bool = True) -> bytes:
    return dh.start(ident, RNG, use_library).shared_secret(peer)


def key_exchanges(repeat: int) -> list[tuple[str, float]]:
    rows = []
    for ident in (1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 31, 32, 36, 37):
        name = by_id(TransformType.KE, ident).name
        initiator = dh.start(ident, RNG)
        peer = initiator.public_bytes()
        if ident in (36, 37):
            ciphertext, _ = dh.respond(ident, peer, RNG)
            keygen = best_us(partial(dh.start, ident, RNG), repeat)
            decap = best_us(partial(initiator.shared_secret, ciphertext), repeat)
            rows.append((f"{name} initiator (keygen + decapsulate)", keygen + decap))
            rows.append((f"{name} responder (encapsulate)",
                         best_us(partial(dh.respond, ident, peer, RNG), repeat)))
            continue
        if not name.startswith("MODP"):
            rows.append((name, best_us(partial(_exchange, ident, peer), repeat)))
            continue
        if getattr(initiator, "use_library", False):
            rows.append((f"{name}, OpenSSL", best_us(partial(_exchange, ident, peer), repeat)))
        rows.append((f"{name}, pure-Python pow",
                     best_us(partial(_exchange, ident, peer, False), repeat)))
    return rows


def signatures(repeat: int) -> list[tuple[str, float, float]]:
    octets = bytes(600)
    m = auth.AuthMethod
    cases: list[tuple[str, auth.PrivateKey, auth.AuthMethod, str | None]] = [
        ("RSA-2048 PKCS#1 v1.5 SHA-256 (RFC 7427)", rsa.generate_private_key(65537, 2048),
         m.DIGITAL_SIGNATURE, "sha256WithRSAEncryption"),
        ("RSA-2048 PSS SHA-256 (RFC 7427)", rsa.generate_private_key(65537, 2048),
         m.DIGITAL_SIGNATURE, "rsassa-pss-sha256"),
        ("ECDSA P-256 SHA-256 (method 9)", ec.generate_private_key(ec.SECP256R1()),
         m.ECDSA_SHA256_P256, None),
        ("Ed25519 (RFC 7427)", ed25519.Ed25519PrivateKey.generate(), m.DIGITAL_SIGNATURE,
         "ed25519"),
    ]
    rows = []
    for name, key, method, scheme in cases:
        data = auth.sign(method, key, octets, scheme)
        sign_us = best_us(partial(auth.sign, method, key, octets, scheme), repeat)
        verify_us = best_us(partial(auth.verify, method, key.public_key(), octets, data), repeat)
        rows.append((name, sign_us, verify_us))
    return rows


def _derive(prf: Prf, encr: Transform, integ: Transform | None, g_ir: bytes) -> None:
    ni, nr, spi_i, spi_r = bytes(32), bytes(range(32)), bytes(8), bytes(range(8))
    seed = keymat.skeyseed(prf, ni, nr, g_ir)
    keys = keymat.ike_sa_keys(prf, encr, integ, seed, ni, nr, spi_i, spi_r)
    size = keymat.child_keymat_size(encr, integ)
    keymat.split_child_keymat(keymat.child_keymat(prf, keys.sk_d, ni, nr, size), encr, integ)


def derivations(repeat: int) -> list[tuple[str, float]]:
    suites = [("AES-256-CBC, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256, MODP-2048 secret",
               "aes256_cbc", 12, 5, 256),
              ("AES-256-GCM-16, PRF-HMAC-SHA2-512, ECP-384 secret", "aes256_gcm16", None, 7, 48),
              ("AES-128-CBC, AES-XCBC-96, PRF-AES128-XCBC, Curve25519 secret", "aes128_cbc", 5,
               4, 32)]
    rows = []
    for name, encr_kw, integ_id, prf_id, g_size in suites:
        integ = by_id(TransformType.INTEG, integ_id) if integ_id else None
        job = partial(_derive, prf_for(prf_id), by_keyword(TransformType.ENCR, encr_kw), integ,
                      bytes(g_size))
        rows.append((name, best_us(job, repeat)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| Key exchange | µs |\n|---|---|")
    for name, us in key_exchanges(args.repeat):
        print(f"| {name} | {us:,.0f} |")
    print("\n| Signature | sign µs | verify µs |\n|---|---|---|")
    for name, sign_us, verify_us in signatures(args.repeat):
        print(f"| {name} | {sign_us:,.0f} | {verify_us:,.0f} |")
    print("\n| IKE SA + one CHILD_SA key derivation | µs |\n|---|---|")
    for name, us in derivations(args.repeat):
        print(f"| {name} | {us:,.1f} |")


if __name__ == "__main__":
    main()
