"""Proposal profiles: built-in IKE and ESP proposal sets for remote-access clients, pure.

``proposal_profile { roadwarrior; windows_legacy; };`` in a remote's ikev2 block adds these
sets to what its ``kmp_*`` lists and its policies' ``sa`` blocks configure (doc/iked.md,
"Proposal profiles").  The lists come from what the native clients send
(from the strongSwan interop pages and the clients'
sources):

* ``roadwarrior``: Windows 11 with AES-256/MODP2048 enabled, iOS/macOS, Android's built-in
  client, the strongSwan app and NetworkManager all find a proposal here; nothing weaker than
  AES-128, SHA2-256 and a 2048-bit MODP or 256-bit elliptic group is in it.
* ``windows_legacy``: what Windows' built-in client offers by default, which is weak: IKE only
  with MODP1024 (RFC 8247 §2.4 says MUST NOT), ESP only with HMAC-SHA1-96.  Opt-in only.

The responder tries the configured lists first, then each profile in the order written, and
takes the first that accepts the offer (:func:`choose`), so a Windows client that also offers
MODP2048 is given the strong suite; the log names the profile that matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iked.ikev2 import proposals
from iked.ikev2.proposals import Chosen
from racoon2.config.model import AlgSpec
from racoon2.crypto import transforms as tt
from racoon2.ikev2.payloads import Proposal

Algs = tuple[AlgSpec, ...]
#: The name the log gives the remote's own kmp_* lists and sa blocks.
CONFIGURED = "configured"


def _algs(*names: str) -> Algs:
    return tuple(AlgSpec(n, "built-in profile") for n in names)


@dataclass(frozen=True)
class Profile:
    """One named set: IKE algorithm lists and ESP (cipher, integrity) alternatives."""

    name: str
    enc: Algs
    prf: Algs
    integ: Algs
    groups: Algs
    esp: tuple[tuple[Algs, Algs], ...]

    def ike(self) -> tuple[Proposal, ...]:
        """The IKE SA proposals (one classic, one AEAD: RFC 5282 §8)."""
        return proposals.ike_proposals(self.enc, self.prf, self.integ, self.groups)

    def child(self, spi: bytes, pfs: Sequence[tt.Transform] = ()) -> tuple[Proposal, ...]:
        """The ESP proposals with our ``spi`` (and a PFS group in ``pfs``)."""
        out: list[Proposal] = []
        for enc, auth in self.esp:
            out += proposals.child_proposal(len(out) + 1, spi, enc, auth, True, pfs)
        return tuple(out)


_SHA2 = _algs("hmac_sha2_256", "hmac_sha2_384", "hmac_sha2_512")
_AES_CBC = _algs("aes256_cbc", "aes192_cbc", "aes128_cbc")
_AEAD = _algs("aes256_gcm16", "aes128_gcm16", "aes192_gcm16", "chacha20_poly1305")

PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("roadwarrior", _AES_CBC + _AEAD, _SHA2, _SHA2,
            _algs("curve25519", "ecp256", "ecp384", "ecp521", "modp2048", "modp3072",
                  "modp4096", "modp8192", "curve448"),
            ((_AES_CBC, _SHA2), (_AEAD, ()))),
    # Windows: {3DES, AES-CBC} x {SHA1, SHA2-256, SHA2-384} x MODP1024 (AES-GCM on Windows 11);
    # ESP {AES-256, AES-128, 3DES, DES, NULL} x HMAC-SHA1.  3DES, DES and SHA1 in IKE are
    # left out: every Windows build offers AES with SHA2-256 too.
    Profile("windows_legacy", _AES_CBC + _algs("aes256_gcm16", "aes128_gcm16"),
            _algs("hmac_sha2_256", "hmac_sha2_384"), _algs("hmac_sha2_256", "hmac_sha2_384"),
            _algs("modp1024"), ((_algs("aes256_cbc", "aes128_cbc"), _algs("hmac_sha1")),)),
)}


def choose(offered: Sequence[Proposal], sets: Sequence[tuple[str, Sequence[Proposal]]]
           ) -> tuple[str, Chosen] | None:
    """The first of ``sets`` (name, our proposals) that accepts ``offered``, and its choice."""
    for name, mine in sets:
        if mine and (chosen := proposals.choose(offered, mine)) is not None:
            return name, chosen
    return None


def configured(sets: Sequence[tuple[str, Sequence[Proposal]]]) -> str:
    """What a refusal's log line says we accept: our own lists in full, a profile by name
    (its lists are in doc/iked.md), so that the line stays readable."""
    return "; ".join(proposals.describe(mine) if name == CONFIGURED else
                     f"proposal_profile {name}" for name, mine in sets)
