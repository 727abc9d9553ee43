"""IKEv1 SA payloads: built from racoon2.conf and chosen from the peer's (pure).

Phase 1 (RFC 2409 §5, Appendix A): one proposal of PROTO_ISAKMP holding one transform per
combination of ``kmp_enc_alg`` × ``kmp_hash_alg`` × ``kmp_dh_group``, in that order of
preference.  Quick Mode (RFC 2407 §4.4.4, §4.5): one ESP proposal per ``sa`` of the policy,
one transform per cipher × integrity algorithm.  The responder takes the first transform of
the initiator it also offers; lifetimes are then judged by ``proposal_check`` the way racoon
does (racoon.conf(5)): ``obey`` takes the initiator's, ``strict`` and ``claim`` take a shorter
one and refuse (``strict``) or shorten with RESPONDER-LIFETIME (``claim``) a longer one,
``exact`` wants them equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racoon2.config.model import AlgSpec, ProposalCheck
from racoon2.crypto import transforms as tt
from racoon2.crypto.prf import Prf, prf_for
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError, SettingsError
from racoon2.ikev1.constants import (
    EncapsulationMode,
    EncryptionAlgorithm,
    HashAlgorithm,
    IpsecAttr,
    IsakmpTransformId,
    LifeType,
    Phase1Attr,
    ProtocolId,
)
from racoon2.ikev1.payloads import Attribute, Proposal, Transform

#: RFC 2407 §4.5: an SA without a lifetime attribute lives 28800 s.
DEFAULT_LIFETIME = 28800

#: Phase 1 hash -> the IKEv2 PRF id of its HMAC (RFC 2409 §5: prf is HMAC of the hash).
_HASH_PRF: dict[int, int] = {HashAlgorithm.MD5: 1, HashAlgorithm.SHA: 2, HashAlgorithm.SHA2_256: 5,
             HashAlgorithm.SHA2_384: 6, HashAlgorithm.SHA2_512: 7}
_HASH_WORDS = {"md5": HashAlgorithm.MD5, "sha1": HashAlgorithm.SHA,
               "sha2_256": HashAlgorithm.SHA2_256, "sha2_384": HashAlgorithm.SHA2_384,
               "sha2_512": HashAlgorithm.SHA2_512}
#: Phase 1 cipher -> the IKEv2 ENCR id of the same cipher.
_PHASE1_ENCR: dict[int, int] = {EncryptionAlgorithm.TRIPLE_DES_CBC: 3,
                               EncryptionAlgorithm.AES_CBC: 12}
#: IPsec DOI Authentication Algorithm -> IKEv2 INTEG id (RFC 2407 §4.5, RFC 4868 §2.1).
AUTH_INTEG = {1: 1, 2: 2, 9: 5, 5: 12, 6: 13, 7: 14}
_INTEG_AUTH = {v: k for k, v in AUTH_INTEG.items()}


def _life(life_type: int, kind: int, duration: int) -> tuple[Attribute, Attribute]:
    value: int | bytes = duration if duration <= 0xFFFF else duration.to_bytes(4, "big")
    return Attribute(life_type, LifeType(kind)), Attribute(life_type + 1, value)


def lifetime_attributes(life_type: int, seconds: int, kb: int) -> tuple[Attribute, ...]:
    """Life Type/Life Duration pairs for the non-zero lifetimes (RFC 2407 §4.5)."""
    out: tuple[Attribute, ...] = _life(life_type, LifeType.SECONDS, seconds) if seconds else ()
    return out + (_life(life_type, LifeType.KILOBYTES, kb) if kb else ())


def phase1_transforms(enc: Sequence[AlgSpec], hashes: Sequence[AlgSpec],
                      groups: Sequence[AlgSpec], auths: Sequence[int], lifetime: int,
                      lifetime_kb: int) -> tuple[Transform, ...]:
    """Our phase 1 offer: a transform per cipher × hash × group × authentication method."""
    out: list[Transform] = []
    for e in enc:
        cipher = tt.by_keyword(TransformType.ENCR, e.name, e.keylen)
        ident = next((k for k, v in _PHASE1_ENCR.items() if v == cipher.ident), None)
        if ident is None:
            raise SettingsError(f"{e.where}: kmp_enc_alg {e.name} is not implemented by "
                                "iked's IKEv1; use aes128_cbc, aes256_cbc or 3des_cbc")
        for h in hashes:
            if h.name not in _HASH_WORDS:
                raise SettingsError(f"{h.where}: kmp_hash_alg {h.name} is not an IKEv1 hash")
            for g, auth in ((g, a) for g in groups for a in auths):
                group = tt.by_keyword(TransformType.KE, g.name).ident
                attrs = [Attribute(Phase1Attr.ENCRYPTION_ALGORITHM, ident)]
                if cipher.variable_key:
                    attrs.append(Attribute(Phase1Attr.KEY_LENGTH, cipher.key_size * 8))
                attrs += [Attribute(Phase1Attr.HASH_ALGORITHM, _HASH_WORDS[h.name]),
                          Attribute(Phase1Attr.AUTHENTICATION_METHOD, auth),
                          Attribute(Phase1Attr.GROUP_DESCRIPTION, group),
                          *lifetime_attributes(Phase1Attr.LIFE_TYPE, lifetime, lifetime_kb)]
                out.append(Transform(len(out) + 1, IsakmpTransformId.KEY_IKE, tuple(attrs)))
    return tuple(out)


def lifetimes(t: Transform, life_type: int) -> tuple[int, int]:
    """(seconds, kilobytes) of a transform; Life Type announces the Life Duration after it."""
    seconds = kb = 0
    kind = None
    for a in t.attributes:
        if a.type == life_type:
            kind = a.as_int
        elif a.type == life_type + 1 and kind == LifeType.SECONDS:
            seconds = a.as_int
        elif a.type == life_type + 1 and kind == LifeType.KILOBYTES:
            kb = a.as_int
    return seconds, kb


def essence(t: Transform, life_type: int) -> tuple[int, frozenset[tuple[int, int | bytes]]]:
    """What must match exactly: the transform ID and every attribute but the lifetimes."""
    return t.id, frozenset((a.type, a.value) for a in t.attributes
                           if a.type not in (life_type, life_type + 1))


def judge_lifetime(check: ProposalCheck, theirs: int, ours: int) -> tuple[int, bool] | None:
    """(lifetime to use, send RESPONDER-LIFETIME) for one lifetime kind, None to refuse.
    0 is no limit (and no attribute)."""
    if check is ProposalCheck.OBEY or theirs == ours:
        return theirs, False
    if check is ProposalCheck.EXACT:
        return None
    if ours == 0 or (theirs and theirs < ours):
        return theirs, False  # the initiator's is shorter: take it
    return (ours, True) if check is ProposalCheck.CLAIM else None


@dataclass(frozen=True)
class Choice:
    """The transform the responder took, and the lifetimes in effect."""

    transform: Transform        # as the initiator sent it (echoed in the reply)
    lifetime: int
    lifetime_kb: int
    notify_lifetime: bool       # ours is shorter: say so (RESPONDER-LIFETIME)


def choose(offered: Sequence[Transform], ours: Sequence[Transform], life_type: int,
           check: ProposalCheck) -> Choice | None:
    """The first offered transform that one of ours matches, lifetimes judged by ``check``."""
    for t in offered:
        for mine in ours:
            if essence(t, life_type) != essence(mine, life_type):
                continue
            (ts, tkb), (os, okb) = lifetimes(t, life_type), lifetimes(mine, life_type)
            secs = judge_lifetime(check, ts or DEFAULT_LIFETIME, os or DEFAULT_LIFETIME)
            kbs = judge_lifetime(check, tkb, okb)
            if secs is not None and kbs is not None:
                return Choice(t, secs[0], kbs[0], secs[1] or kbs[1])
    return None


@dataclass(frozen=True)
class Phase1Algorithms:
    """The agreed phase 1 suite, as the key derivation wants it."""

    encr: tt.Transform
    prf: Prf
    group: int
    auth: int

    def names(self) -> tuple[str, ...]:
        """``ENCR_AES_CBC-128``, ``PRF_HMAC_SHA1``, ``MODP_1024``: for ikedctl and the
        weak-algorithm warning (IKEv1's group descriptions are IKEv2's KE IDs, RFC 3526 §8)."""
        try:
            group = tt.by_id(TransformType.KE, self.group).name
        except CryptoError:
            group = f"group {self.group}"
        encr = self.encr.name + (f"-{self.encr.key_size * 8}" if self.encr.variable_key
                                 else "")
        return encr, self.prf.transform.name, group


def phase1_algorithms(t: Transform) -> Phase1Algorithms:
    """The suite of an agreed phase 1 transform; CryptoError for what we cannot run."""
    def value(kind: Phase1Attr) -> int | None:
        a = t.attribute(kind)
        return a.as_int if a is not None else None

    enc, key = value(Phase1Attr.ENCRYPTION_ALGORITHM), value(Phase1Attr.KEY_LENGTH)
    h, group = value(Phase1Attr.HASH_ALGORITHM), value(Phase1Attr.GROUP_DESCRIPTION)
    if enc not in _PHASE1_ENCR or h not in _HASH_PRF or group is None:
        raise CryptoError(f"phase 1 transform {describe((t,))} cannot be run")
    encr = tt.by_id(TransformType.ENCR, _PHASE1_ENCR[enc], key if enc == 7 else None)
    return Phase1Algorithms(encr, prf_for(_HASH_PRF[h]), group,
                            value(Phase1Attr.AUTHENTICATION_METHOD) or 0)


def describe(transforms: Sequence[Transform]) -> str:
    """``#1 enc 7/128 hash 2 auth 1 group 14 life 28800s; …`` for NegotiationFailed."""
    out = []
    for t in transforms:
        attrs = " ".join(f"{a.type}={a.as_int}" for a in t.attributes)
        out.append(f"#{t.number} id {t.id} {attrs}")
    return "; ".join(out) or "(none)"


# -- Quick Mode --------------------------------------------------------------------------------


def qm_transforms(enc: Sequence[AlgSpec] | None, auth: Sequence[AlgSpec] | None, tunnel: bool,
                  lifetime: int, lifetime_kb: int, group: int | None,
                  mode: EncapsulationMode | None = None) -> tuple[Transform, ...]:
    """The ESP transforms of one ``sa`` block (RFC 2407 §4.4.4, §4.5); ``mode``: the
    Encapsulation Mode when not plain tunnel or transport (UDP, RFC 3947 §5.1)."""
    out: list[Transform] = []
    mode = mode or (EncapsulationMode.TUNNEL if tunnel else EncapsulationMode.TRANSPORT)
    for e in enc or ():
        cipher = tt.by_keyword(TransformType.ENCR, e.name, e.keylen)
        integs: list[tt.Transform | None] = [None] if cipher.aead else [
            tt.by_keyword(TransformType.INTEG, a.name) for a in auth or ()
            if a.name != "non_auth"] or [None]
        for integ in integs:
            attrs = [*lifetime_attributes(IpsecAttr.SA_LIFE_TYPE, lifetime, lifetime_kb)]
            if group:
                attrs.append(Attribute(IpsecAttr.GROUP_DESCRIPTION, group))
            attrs.append(Attribute(IpsecAttr.ENCAPSULATION_MODE, mode))
            if integ is not None:
                if integ.ident not in _INTEG_AUTH:
                    raise SettingsError(f"esp_auth_alg {integ.keyword} has no IKEv1 number")
                attrs.append(Attribute(IpsecAttr.AUTHENTICATION_ALGORITHM,
                                       _INTEG_AUTH[integ.ident]))
            if cipher.variable_key:
                attrs.append(Attribute(IpsecAttr.KEY_LENGTH, cipher.key_size * 8))
            out.append(Transform(len(out) + 1, cipher.ident, tuple(attrs)))
    return tuple(out)


def esp_proposals(spi: bytes, sas: Sequence[tuple[Sequence[AlgSpec] | None,
                                                  Sequence[AlgSpec] | None]],
                  tunnel: bool, lifetime: int, lifetime_kb: int, group: int | None,
                  mode: EncapsulationMode | None = None) -> tuple[Proposal, ...]:
    """One ESP proposal per ``sa`` of a policy, numbered from 1, with our inbound ``spi``."""
    return tuple(Proposal(n, ProtocolId.IPSEC_ESP, spi,
                          qm_transforms(enc, auth, tunnel, lifetime, lifetime_kb, group, mode))
                 for n, (enc, auth) in enumerate(sas, 1))


@dataclass(frozen=True)
class EspSuite:
    """An agreed ESP transform as racoon2.crypto rows."""

    encr: tt.Transform
    integ: tt.Transform | None
    tunnel: bool
    group: int | None


def esp_suite(t: Transform) -> EspSuite:
    """The algorithms of an agreed ESP transform; CryptoError when we cannot run it."""
    def value(kind: IpsecAttr) -> int | None:
        a = t.attribute(kind)
        return a.as_int if a is not None else None

    key, auth = value(IpsecAttr.KEY_LENGTH), value(IpsecAttr.AUTHENTICATION_ALGORITHM)
    encr = tt.by_id(TransformType.ENCR, t.id, key)
    if auth is not None and auth not in AUTH_INTEG:
        raise CryptoError(f"ESP authentication algorithm {auth} is not implemented")
    integ = tt.by_id(TransformType.INTEG, AUTH_INTEG[auth]) if auth is not None else None
    mode = value(IpsecAttr.ENCAPSULATION_MODE)
    return EspSuite(encr, integ, mode in (EncapsulationMode.TUNNEL,
                                          EncapsulationMode.UDP_TUNNEL,
                                          EncapsulationMode.UDP_TUNNEL_DRAFT),
                    value(IpsecAttr.GROUP_DESCRIPTION))
