"""SA payload proposals: built from racoon2.conf, chosen from the peer's (RFC 7296 §2.7, §3.3).

As the original (doc/iked.md, IKE_SA_INIT) an IKE SA is offered as one proposal holding every
configured transform in order, and each ``ipsec`` alternative of a policy becomes one CHILD_SA
proposal.  AEAD ciphers cannot share a proposal with an integrity algorithm (RFC 5282 §8), so
they go into a proposal of their own.  The responder takes the first acceptable proposal of the
initiator and, within it, the initiator's first acceptable transform of each type.

RFC 9370 §2.2.1-2.2.2: an IKE proposal may hold Additional Key Exchange transforms (ADDKE1-7),
each type one position of the additional exchanges; transform ID 0 (NONE) makes a position
optional.  A type a proposal leaves out counts as NONE on both sides of the match, so a
responder configured without additional exchanges accepts an offer that allows NONE, and a
position the responder answers NONE for (or leaves out) is skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from racoon2.config.effective import EffectiveIpsec
from racoon2.config.model import AlgSpec, SaProtocol
from racoon2.crypto import dh as kex
from racoon2.crypto import transforms as tt
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError
from racoon2.frozen import frozen
from racoon2.ikev2.constants import ProtocolId
from racoon2.ikev2.payloads import Attribute, Proposal, Transform

KEY_LENGTH = 14  # the Key Length transform attribute (RFC 7296 §3.3.5)
ESN_NO, ESN_YES = 0, 1
NONE = 0  # the ADDKE transform ID that makes a position optional (RFC 9370 §2.2.1)
#: The Additional Key Exchange transform types, positions 1 to 7 (RFC 9370 §2.2.1).
ADDKE_TYPES = tuple(TransformType(t) for t in range(TransformType.ADDKE1,
                                                       TransformType.ADDKE7 + 1))


def wire(t: tt.Transform) -> Transform:
    """The Transform substructure for a table row (Key Length for variable-key ciphers)."""
    attrs = (Attribute(KEY_LENGTH, t.key_size * 8),) if (
        t.kind is TransformType.ENCR and t.variable_key) else ()
    return Transform(t.kind, t.ident, attrs)


def row(t: Transform) -> tt.Transform:
    """The table row a received Transform names; CryptoError when unsupported."""
    try:
        kind = TransformType(t.type)
    except ValueError:
        raise CryptoError(f"unsupported transform type {t.type}") from None
    return tt.by_id(kind, t.id, t.key_length if kind is TransformType.ENCR else None)


def _rows(kind: TransformType, specs: Sequence[AlgSpec] | None) -> list[tt.Transform]:
    out = []
    for spec in specs or ():
        if kind is TransformType.KE and spec.name.isdigit():
            out.append(tt.by_id(kind, int(spec.name)))
        else:
            out.append(tt.by_keyword(kind, spec.name, spec.keylen))
    return out


def _split_aead(encrs: list[tt.Transform]) -> list[list[tt.Transform]]:
    plain = [t for t in encrs if not t.aead]
    aead = [t for t in encrs if t.aead]
    return [group for group in (plain, aead) if group]


def _addke(position: int, specs: Sequence[AlgSpec]) -> list[Transform]:
    """ADDKE<position>'s transforms; ``none`` is the NONE transform (RFC 9370 §2.2.1)."""
    kind = ADDKE_TYPES[position]
    return [Transform(kind, NONE) if spec.name == "none" else
            Transform(kind, tt.by_keyword(TransformType.KE, spec.name).ident) for spec in specs]


def ike_proposals(enc: Sequence[AlgSpec] | None, prf: Sequence[AlgSpec] | None,
                  integ: Sequence[AlgSpec] | None, dh: Sequence[AlgSpec] | None,
                  addke: Sequence[Sequence[AlgSpec]] = ()) -> tuple[Proposal, ...]:
    """The IKE SA proposals of one remote's ``kmp_*_alg`` and ``kmp_dh_group`` lists, and
    ``kmp_addke1``..``kmp_addke7`` (``addke[i]`` is position i+1; empty: not offered)."""
    prfs = _rows(TransformType.PRF, prf)
    integs = _rows(TransformType.INTEG, integ)
    groups = _rows(TransformType.KE, dh)
    if not prfs:
        # The original requires kmp_prf_alg for IKEv2; a missing one takes the PRFs named
        # like the integrity algorithms, which is what admins mean by "hmac_sha2_256".
        prfs = [tt.by_keyword(TransformType.PRF, t.keyword or "") for t in integs]
    out: list[Proposal] = []
    for encrs in _split_aead(_rows(TransformType.ENCR, enc)):
        ts = [*encrs, *prfs, *([] if encrs[0].aead else integs), *groups]
        extra = [t for i, specs in enumerate(addke) for t in _addke(i, specs)]
        out.append(Proposal(len(out) + 1, ProtocolId.IKE, b"",
                            tuple(wire(t) for t in ts) + tuple(extra)))
    return tuple(out)


def child_proposal(number: int, spi: bytes, enc: Sequence[AlgSpec] | None,
                   auth: Sequence[AlgSpec] | None, esn: bool,
                   pfs: Sequence[tt.Transform] = (),
                   addke: Sequence[Transform] = ()) -> list[Proposal]:
    """The ESP proposal(s) of one ``sa`` block (two when AEAD and classic ciphers mix);
    ``pfs`` the KE group of a CREATE_CHILD_SA, ``addke`` its ADDKE transforms (RFC 9370)."""
    integs = _rows(TransformType.INTEG, auth)
    esns = [ESN_YES, ESN_NO] if esn else [ESN_NO]
    out: list[Proposal] = []
    for encrs in _split_aead(_rows(TransformType.ENCR, enc)):
        ts = [wire(t) for t in (*encrs, *([] if encrs[0].aead else integs), *pfs)]
        ts += [Transform(TransformType.ESN, e) for e in esns]
        out.append(Proposal(number + len(out), ProtocolId.ESP, spi, tuple(ts) + tuple(addke)))
    return out


def ah_proposal(number: int, spi: bytes, auth: Sequence[AlgSpec] | None, esn: bool,
                pfs: Sequence[tt.Transform] = (),
                addke: Sequence[Transform] = ()) -> list[Proposal]:
    """The AH proposal of one ``sa`` block: integrity and ESN transforms only (RFC 7296
    §3.3.3)."""
    ts = [wire(t) for t in (*_rows(TransformType.INTEG, auth), *pfs)]
    ts += [Transform(TransformType.ESN, e) for e in ([ESN_YES, ESN_NO] if esn else [ESN_NO])]
    return [Proposal(number, ProtocolId.AH, spi, tuple(ts) + tuple(addke))]


#: IPComp transform IDs of IPCOMP_SUPPORTED (RFC 7296 §3.10.1) and the kernel's names.
IPCOMP_IDS: dict[str, int] = {"deflate": 2, "lzs": 3}
IPCOMP_NAMES: dict[int, str] = {v: k for k, v in IPCOMP_IDS.items()}


def ipcomp_ids(ipsec: EffectiveIpsec) -> tuple[int, ...]:
    """The IPComp transforms ``ipsec`` offers (deflate when its ipcomp sa names none)."""
    for sa in ipsec.sas:
        if sa.sa_protocol is SaProtocol.IPCOMP:
            return tuple(IPCOMP_IDS[a.name] for a in sa.ipcomp_alg or () if a.name in
                         IPCOMP_IDS) or (IPCOMP_IDS["deflate"],)
    return ()


@frozen
class Chosen:
    """One accepted proposal: the peer's proposal number and SPI, one transform per type."""

    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def get(self, kind: TransformType) -> tt.Transform | None:
        """The table row of the chosen transform of ``kind`` (None when absent or NONE)."""
        for t in self.transforms:
            if t.type == kind and kind is not TransformType.ESN and not (
                    kind in ADDKE_TYPES and t.id == NONE):
                return row(t)
        return None

    def additional(self) -> tuple[int, ...]:
        """The additional key exchanges agreed, in position order, NONE left out (RFC 9370
        §2.2.2: one IKE_INTERMEDIATE each)."""
        return tuple(t.id for kind in ADDKE_TYPES for t in self.transforms
                     if t.type == kind and t.id != NONE)

    @property
    def esn(self) -> bool:
        """Extended sequence numbers were chosen."""
        return any(t.type == TransformType.ESN and t.id == ESN_YES for t in self.transforms)

    def proposal(self, spi: bytes | None = None) -> Proposal:
        """The proposal to send back (with our own SPI for a CHILD_SA)."""
        return Proposal(self.number, self.protocol, self.spi if spi is None else spi,
                        self.transforms)


def _key(t: Transform) -> tuple[int, int, int | None]:
    return (t.type, t.id, t.key_length)


def _supported(t: Transform) -> bool:
    if t.type == TransformType.ESN:
        return t.id in (ESN_NO, ESN_YES)
    if t.type in ADDKE_TYPES:
        return t.id == NONE or kex.available(t.id)
    try:
        row(t)
    except CryptoError:
        return False
    return True


def _with_none(p: Proposal) -> tuple[Transform, ...]:
    """A proposal's transforms with NONE for each ADDKE type it leaves out (RFC 9370 §2.2.2,
    §2.2.4 for ESP and AH in CREATE_CHILD_SA: an absent type is no additional exchange in
    that position)."""
    return _filled(p.transforms)


def _filled(transforms: tuple[Transform, ...]) -> tuple[Transform, ...]:
    present = {t.type for t in transforms}
    return transforms + tuple(Transform(k, NONE) for k in ADDKE_TYPES if k not in present)


Offer = tuple[tuple[int, tuple[Transform, ...]], ...]  # (protocol, transforms) per proposal


def choose(offered: Sequence[Proposal], mine: Sequence[Proposal]) -> Chosen | None:
    """The first offered proposal every one of whose transform types one of ``mine`` accepts;
    an ADDKE type the offer leaves out and NONE picked for it stay out of the answer."""
    # Peers send the same offers SA after SA against the same configuration: the match is
    # memoized on the offer's content (its SPIs, which differ per SA, left out) and ours.
    found = _choose(tuple((p.protocol, p.transforms) for p in offered), tuple(mine))
    if found is None:
        return None
    index, transforms = found
    prop = offered[index]
    return Chosen(prop.number, prop.protocol, prop.spi, transforms)


@functools.lru_cache(maxsize=256)
def _choose(offered: Offer, mine: tuple[Proposal, ...]
            ) -> tuple[int, tuple[Transform, ...]] | None:
    for index, (protocol, transforms) in enumerate(offered):
        sent = {t.type for t in transforms}
        theirs = _filled(transforms)
        for own in mine:
            if own.protocol != protocol:
                continue
            ours = {_key(t) for t in _with_none(own)}
            kinds = {t.type for t in _with_none(own)}
            if {t.type for t in theirs} != kinds:
                continue
            picked: dict[int, Transform] = {}
            for t in theirs:
                if t.type not in picked and _key(t) in ours and _supported(t):
                    picked[t.type] = t
            if set(picked) == kinds:
                return index, tuple(picked[k] for k in sorted(picked) if k in sent)
    return None


def accept(answer: Proposal, mine: Sequence[Proposal]) -> Chosen | None:
    """The initiator's check of the responder's answer: one transform per type, all offered
    (an ADDKE type left out of the answer is NONE, which we must have allowed)."""
    kinds = [t.type for t in answer.transforms]
    if len(kinds) != len(set(kinds)):
        return None
    got = _with_none(answer)
    for own in mine:
        if own.protocol == answer.protocol and \
                {t.type for t in got} == {t.type for t in _with_none(own)} and \
                {_key(t) for t in got} <= {_key(t) for t in _with_none(own)}:
            return Chosen(answer.number, answer.protocol, answer.spi, answer.transforms)
    return None


def describe(proposals: Sequence[Proposal]) -> str:
    """A readable summary for logs: ``#1 ESP: AES_CBC-256, HMAC_SHA2_256_128, ESN_NO``."""
    parts = []
    for p in proposals:
        names = []
        for t in p.transforms:
            if t.type == TransformType.ESN:
                names.append("ESN" if t.id == ESN_YES else "NO_ESN")
                continue
            if t.type in ADDKE_TYPES and t.id == NONE:
                names.append(f"{TransformType(t.type).name} NONE")
                continue
            try:
                r = row(t)
                position = f"{TransformType(t.type).name} " if t.type in ADDKE_TYPES else ""
                names.append(position + r.name + (f"-{r.key_size * 8}" if r.variable_key and
                                       r.kind is TransformType.ENCR else ""))
            except CryptoError:
                names.append(f"type{t.type}/id{t.id}")
        try:
            proto = ProtocolId(p.protocol).name
        except ValueError:
            proto = str(p.protocol)
        parts.append(f"#{p.number} {proto}: {', '.join(names)}")
    return "; ".join(parts)
