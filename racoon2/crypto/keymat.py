"""Key derivation for IKEv2 (RFC 7296 §2.13-2.18, RFC 9370 additional key exchanges) and
IKEv1 (RFC 2409 §5, §5.5 and Appendix B).

All functions are pure: they take the negotiated PRF and the exchanged values and return
bytes.  Names follow the RFCs (``g_ir`` is the key exchange's shared secret).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

from racoon2.crypto.prf import Prf
from racoon2.crypto.transforms import Transform
from racoon2.errors import CryptoError
from racoon2.frozen import frozen

# PRFs that RFC 7296 §2.14 treats as taking a fixed 128-bit key when it is built from nonces.
_FIXED_KEY_PRFS = {4, 8}


def _nonce_key(prf: Prf, ni: bytes, nr: bytes) -> bytes:
    # RFC 7296 §2.14: a fixed-length-key PRF takes half its key from the start of each nonce.
    if prf.transform.ident in _FIXED_KEY_PRFS:
        half = prf.key_size // 2
        return ni[:half] + nr[:half]
    return ni + nr


@frozen
class IkeKeys:
    """The seven IKE SA keys of RFC 7296 §2.14 (SK_ai/SK_ar empty for AEAD ciphers)."""

    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def skeyseed(prf: Prf, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    """SKEYSEED = prf(Ni | Nr, g^ir) for a new IKE SA."""
    return prf.compute(_nonce_key(prf, ni, nr), g_ir)


def rekey_skeyseed(prf: Prf, old_sk_d: bytes, g_ir_new: bytes, ni: bytes, nr: bytes,
                   additional: Sequence[bytes] = ()) -> bytes:
    """SKEYSEED for a rekeyed IKE SA: prf(SK_d (old), g^ir (new) | Ni | Nr [| SK(1) | ... |
    SK(n)]) (RFC 7296 §2.18; RFC 9370 §2.2.4 appends the additional key exchanges' shared
    secrets ``additional`` after the nonces, so that none leaves RFC 7296's formula)."""
    return prf.compute(old_sk_d, g_ir_new + ni + nr + b"".join(additional))


def ike_sa_keys(prf: Prf, encr: Transform, integ: Transform | None, seed: bytes,
                ni: bytes, nr: bytes, spi_i: bytes, spi_r: bytes) -> IkeKeys:
    """SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr = prf+(SKEYSEED, Ni|Nr|SPIi|SPIr).

    ``integ`` is None for AEAD ciphers; SK_e keys include the cipher's salt/nonce bytes.
    """
    if integ is None and not encr.aead:
        raise CryptoError(f"{encr.name} needs an integrity algorithm")
    p, a, e = prf.key_size, integ.key_size if integ else 0, encr.keymat_size
    stream = prf.plus(seed, ni + nr + spi_i + spi_r, 3 * p + 2 * a + 2 * e)
    cuts = [p, a, a, e, e, p, p]
    parts: list[bytes] = []
    offset = 0
    for size in cuts:
        parts.append(stream[offset : offset + size])
        offset += size
    return IkeKeys(*parts)


def ppk_keys(prf: Prf, ppk: bytes, keys: IkeKeys) -> IkeKeys:
    """RFC 8784 §3: SK_d = prf+(PPK, SK_d'), SK_pi = prf+(PPK, SK_pi'), SK_pr = prf+(PPK,
    SK_pr'), each as long as the PRF's preferred key; SK_a and SK_e are kept."""
    n = prf.key_size
    return replace(keys, sk_d=prf.plus(ppk, keys.sk_d, n), sk_pi=prf.plus(ppk, keys.sk_pi, n),
                   sk_pr=prf.plus(ppk, keys.sk_pr, n))


def intermediate_skeyseed(prf: Prf, previous_sk_d: bytes, shared: bytes, ni: bytes,
                          nr: bytes) -> bytes:
    """SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) after an RFC 9370 IKE_INTERMEDIATE key
    exchange (§2.2.2); feed it to :func:`ike_sa_keys` with the same nonces/SPIs."""
    return prf.compute(previous_sk_d, shared + ni + nr)


def child_keymat(prf: Prf, sk_d: bytes, ni: bytes, nr: bytes, length: int,
                 g_ir_new: bytes = b"", additional: Sequence[bytes] = ()) -> bytes:
    """KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr [| SK(1) | ... | SK(n)]) (RFC 7296 §2.17,
    RFC 9370 §2.2.4: the additional shared secrets after the nonces); the PFS and additional
    shared secrets are optional."""
    return prf.plus(sk_d, g_ir_new + ni + nr + b"".join(additional), length)


@frozen
class ChildKeys:
    """One CHILD_SA's keys, per direction (initiator-to-responder first, RFC 7296 §2.17)."""

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes


def child_keymat_size(encr: Transform | None, integ: Transform | None) -> int:
    """Bytes of KEYMAT a CHILD_SA with these transforms consumes (AH has no ``encr``)."""
    return 2 * ((encr.keymat_size if encr else 0) + (integ.key_size if integ else 0))


def split_child_keymat(keymat: bytes, encr: Transform | None,
                       integ: Transform | None) -> ChildKeys:
    """Cut KEYMAT into the two directions' encryption (with salt) and integrity keys."""
    e, a = (encr.keymat_size if encr else 0), (integ.key_size if integ else 0)
    if len(keymat) != 2 * (e + a):
        raise CryptoError(f"CHILD_SA needs {2 * (e + a)} bytes of KEYMAT, got {len(keymat)}")
    return ChildKeys(keymat[:e], keymat[e : e + a], keymat[e + a : 2 * e + a],
                     keymat[2 * e + a :])


# ---- IKEv1 (RFC 2409) ----

_HASHES = {1: "md5", 2: "sha1", 5: "sha256", 6: "sha384", 7: "sha512"}


def ikev1_hash(prf: Prf, data: bytes) -> bytes:
    """The negotiated Phase 1 hash itself (not its HMAC, the PRF ``prf``): RFC 2409's IVs,
    and NAT-D (RFC 3947 §3.2)."""
    name = _HASHES.get(prf.transform.ident)
    if name is None:
        raise CryptoError(f"IKEv1 has no hash for {prf.transform.name}")
    return hashlib.new(name, data).digest()


def skeyid_psk(prf: Prf, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    """SKEYID = prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409 §5)."""
    return prf.compute(psk, ni_b + nr_b)


def skeyid_sig(prf: Prf, ni_b: bytes, nr_b: bytes, g_xy: bytes) -> bytes:
    """SKEYID = prf(Ni_b | Nr_b, g^xy) for signature authentication."""
    return prf.compute(ni_b + nr_b, g_xy)


def skeyid_pke(prf: Prf, ni_b: bytes, nr_b: bytes, cky_i: bytes, cky_r: bytes) -> bytes:
    """SKEYID = prf(hash(Ni_b | Nr_b), CKY-I | CKY-R) for public-key encryption methods."""
    return prf.compute(ikev1_hash(prf, ni_b + nr_b), cky_i + cky_r)


@frozen
class Ikev1Keys:
    """SKEYID and its three children."""

    skeyid: bytes
    skeyid_d: bytes
    skeyid_a: bytes
    skeyid_e: bytes


def ikev1_keys(prf: Prf, skeyid: bytes, g_xy: bytes, cky_i: bytes, cky_r: bytes) -> Ikev1Keys:
    """SKEYID_d, SKEYID_a, SKEYID_e (RFC 2409 §5), each chained from the previous one."""
    tail = g_xy + cky_i + cky_r
    d = prf.compute(skeyid, tail + b"\x00")
    a = prf.compute(skeyid, d + tail + b"\x01")
    e = prf.compute(skeyid, a + tail + b"\x02")
    return Ikev1Keys(skeyid, d, a, e)


def ikev1_encryption_key(prf: Prf, skeyid_e: bytes, key_size: int) -> bytes:
    """The Phase 1 cipher key: SKEYID_e's first bytes, or Ka = K1 | K2 | ... with
    K1 = prf(SKEYID_e, 0) and Kn = prf(SKEYID_e, Kn-1) when it is too short (Appendix B)."""
    if len(skeyid_e) >= key_size:
        return skeyid_e[:key_size]
    out = block = prf.compute(skeyid_e, b"\x00")
    while len(out) < key_size:
        block = prf.compute(skeyid_e, block)
        out += block
    return out[:key_size]


def quick_mode_keymat(prf: Callable[[bytes], bytes], protocol: int, spi: bytes, ni_b: bytes,
                      nr_b: bytes, length: int, g_xy_qm: bytes = b"") -> bytes:
    """KEYMAT = K1 | K2 | ..., K1 = prf([g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
    Kn = prf(Kn-1 | same) (RFC 2409 §5.5), ``prf`` already keyed: IKEv1 keys it with
    SKEYID_d, KINK (RFC 4430 §5) with the Kerberos session key's RFC 3961 PRF."""
    seed = g_xy_qm + bytes([protocol]) + spi + ni_b + nr_b
    out = block = prf(seed)
    while len(out) < length:
        block = prf(block + seed)
        out += block
    return out[:length]


def ikev1_keymat(prf: Prf, skeyid_d: bytes, protocol: int, spi: bytes, ni_b: bytes,
                 nr_b: bytes, length: int, g_xy_qm: bytes = b"") -> bytes:
    """Quick Mode KEYMAT with prf(SKEYID_d, ...) (RFC 2409 §5.5)."""
    return quick_mode_keymat(lambda data: prf.compute(skeyid_d, data), protocol, spi, ni_b,
                             nr_b, length, g_xy_qm)


def ikev1_phase1_iv(prf: Prf, g_xi: bytes, g_xr: bytes, block_size: int) -> bytes:
    """The first Phase 1 IV: hash(g^xi | g^xr) truncated to the cipher block (Appendix B)."""
    return ikev1_hash(prf, g_xi + g_xr)[:block_size]


def ikev1_phase2_iv(prf: Prf, last_phase1_block: bytes, message_id: bytes,
                    block_size: int) -> bytes:
    """A Quick Mode/Informational IV: hash(last Phase 1 CBC block | M-ID) (Appendix B)."""
    return ikev1_hash(prf, last_phase1_block + message_id)[:block_size]
