"""The CHILD_SAs of an IKE SA (RFC 7296 §1.3, §2.9): the responder's choice of a policy and
a proposal for an offer, and the installation of a negotiated CHILD_SA in the kernel, pure.

IKE_AUTH and CREATE_CHILD_SA share both; their removal is the SA's (:meth:`IkeSa.remove_child`),
since an ending SA takes its CHILD_SAs with it.  The order in which a rekey swaps the kernel
SAs (make-before-break) is written down once, in :func:`rekeyed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from iked.events import ChildSaUp, KernelFailed, NegotiationFailed, Now, Op, ProposalMatched
from iked.ikev2 import child as childmod
from iked.ikev2 import profiles, proposals
from iked.ikev2.child import Child
from iked.ikev2.common import notify
from iked.ikev2.proposals import Chosen
from iked.ikev2.ts import Ts
from racoon2.crypto import transforms as tt
from racoon2.crypto.transforms import TransformType
from racoon2.errors import Racoon2Error
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import SA, Notify, Proposal, Transform, TSi, TSr
from racoon2.kernel import api
from racoon2.spmif.commands import PolicyAdd

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa
    from iked.queues import Continue


def without_ke(offered: Sequence[Proposal]) -> tuple[Proposal, ...]:
    """An IKE_AUTH offer without its KE transforms: RFC 7296 §1.2 allows none there (no KE
    payload comes with it), yet iOS sends a proposal with a DH group beside one without;
    strongSwan ignores them too (PROPOSAL_SKIP_KE)."""
    return tuple(replace(p, transforms=tuple(t for t in p.transforms
                                             if t.type != TransformType.KE))
                 if any(t.type == TransformType.KE for t in p.transforms) else p
                 for p in offered)


def pick(sa: IkeSa, offer: SA, tsi: TSi, tsr: TSr, transport: bool,
         extra: Sequence[tt.Transform] = (), in_auth: bool = False,
         addke: Sequence[Transform] = ()
         ) -> tuple[Child, Chosen, tuple[list[Ts], list[Ts]]] | Notify:
    """The responder's CHILD_SA for an offer: the first policy of this remote whose
    selectors cover the TS, and the chosen proposal (from the policy's sa blocks, else the
    remote's ``proposal_profile``s); else the notify to answer.  ``extra`` adds transforms
    to our proposals (the KE group of a PFS exchange), ``addke`` the ADDKE transforms of its
    additional key exchanges (RFC 9370 §2.2.4); ``in_auth``: the offer came in IKE_AUTH,
    whose KE transforms are ignored."""
    offered_i = childmod.from_wire(tsi.selectors)
    offered_r = childmod.from_wire(tsr.selectors)
    exact = sa.host.exact_ts(sa.peer.remote)
    offered = without_ke(offer.proposals) if in_auth else offer.proposals
    tried = []  # named in the failure's log line only: not formatted on success
    for settings in sa.host.children(sa.peer.remote):
        if settings.rw:
            # IP_RW: the peer's side of the policy is the addresses we leased it, else the
            # one it has now.
            settings = childmod.rw_narrowed(settings, [a for _, a in sa.leased] or
                                            [sa.remote.addr])
        tried.append(settings)
        # An IP_RW peer may ask for anything on its side (a client with a leased address
        # offers 0.0.0.0/0): that side is narrowed, whatever selector_check says.
        answer = childmod.responder_ts(settings, offered_i, offered_r,
                                       exact and not settings.rw)
        if answer is None:
            continue
        if transport == settings.tunnel:
            sa.host.emit(NegotiationFailed(
                sa.name, "CHILD_SA", "mode mismatch",
                "transport" if transport else "tunnel",
                f"policy {settings.policy}: {'tunnel' if settings.tunnel else 'transport'}"))
            return notify(NotifyType.NO_PROPOSAL_CHOSEN)
        mine = settings.proposals(bytes(4), extra, addke)
        sets = [(profiles.CONFIGURED, mine)]
        if settings.protocol is api.Proto.ESP:
            sets += [(p, profiles.PROFILES[p].child(bytes(4), extra)) for p in sa.peer.profiles]
        matched = profiles.choose(offered, sets)
        if matched is None:
            sa.host.emit(NegotiationFailed(
                sa.name, "CHILD_SA", "no proposal chosen",
                proposals.describe(offer.proposals), profiles.configured(sets)))
            return notify(NotifyType.NO_PROPOSAL_CHOSEN)
        profile, chosen = matched
        if sa.peer.profiles:
            sa.host.emit(ProposalMatched(sa.name, "CHILD_SA", profile,
                                         proposals.describe((chosen.proposal(),))))
        return Child(settings), chosen, answer
    sa.host.emit(NegotiationFailed(
        sa.name, "CHILD_SA", "traffic selectors unacceptable",
        f"TSi {childmod.show(offered_i)}, TSr {childmod.show(offered_r)}",
        "; ".join(f"{t.policy}: {childmod.show(t.remote_ts)} <=> {childmod.show(t.local_ts)}"
                  for t in tried) or f"no policy names remote {sa.peer.remote}"))
    return notify(NotifyType.TS_UNACCEPTABLE)


#: How long the responder of a CHILD_SA rekey keeps sending on the old outbound SA when the
#: initiator's Delete of the old CHILD_SA (its sign that the new SAs are in) does not come:
#: short, as the old SA may be close to its hard lifetime (the kernel's EXPIRE of it releases
#: the new outbound SA at once, :func:`release_outbound`).
OUTBOUND_GRACE = 2.0
#: How long before the old CHILD_SA's hard lifetime the held outbound SAs go in at the latest:
#: the kernel removes the old outbound SA at that moment, and its EXPIRE reaches us only after
#: it (about a second on the loaded VM of tests/vm/rekey_traffic.sh), a time in which our
#: packets would find no SA and wait for an ACQUIRE.
HARD_MARGIN = 1.0


def hard_end(c: Child) -> Now | None:
    """When ``c``'s kernel SAs reach their hard time lifetime (None: no such limit)."""
    if c.negotiated is None or c.established_at is None:
        return None
    hard = min((s.lifetime.hard_add_seconds for s in c.negotiated.specs
                if s.lifetime.hard_add_seconds), default=0)
    return c.established_at + hard if hard else None


def hold_until(old: Child, now: Now) -> Now:
    """When the responder of a rekey of ``old`` installs its held new outbound SAs unless
    the initiator's Delete of ``old`` comes first: after :data:`OUTBOUND_GRACE`, or
    :data:`HARD_MARGIN` before ``old`` reaches its hard lifetime if that is sooner."""
    end = hard_end(old)
    grace = now + OUTBOUND_GRACE
    return grace if end is None else max(now, min(grace, end - HARD_MARGIN))


def install(sa: IkeSa, c: Child, chosen: Chosen, nonces: tuple[bytes, bytes] | None = None,
            initiator: bool | None = None, shares: Sequence[bytes] = (),
            installed: Continue | None = None, hold_until: Now | None = None) -> None:
    """Derive ``c``'s keys and hand its SAs to the kernel, inbound first.  ``nonces``,
    ``initiator`` and ``shares`` (its PFS secret, then RFC 9370's) are the CREATE_CHILD_SA
    exchange's (default: IKE_AUTH's);
    ``installed(None, now)`` runs once every SA is in.  With ``hold_until`` only the inbound
    SAs go in now, the outbound ones at :func:`release_outbound` (make-before-break as the
    responder of a rekey, :func:`rekeyed`)."""
    assert sa.crypto is not None
    ni, nr = nonces or (sa.ni, sa.nr)
    neg = childmod.negotiate(c.settings, chosen, sa.crypto.prf, sa.crypto.keys.sk_d,
                             ni, nr, sa.initiator if initiator is None else initiator,
                             c.spi_in, c.spi_out, sa.local.addr, sa.remote.addr,
                             sa.host.rng, shares,
                             (sa.local.port, sa.remote.port) if sa.nat else None,
                             c.ipcomp)
    c.negotiated = neg
    c.nonce_key = min(ni, nr)
    group = chosen.get(TransformType.KE)
    c.key_exchanges = ((group.ident,) if group is not None and any(shares[:1]) else ()) + \
        chosen.additional()
    c.outbound_held_until = hold_until
    sa.children.append(c)
    ops: list[tuple[Op, str]] = []
    if c.settings.rw:
        ops += [(PolicyAdd(*p), f"have spmd install the policies of {c.settings.selector}")
                for p in sa.rw_policies(c)]
    ops += [(api.UpdateSa(spec), f"install inbound {_what(spec)}") for spec in neg.inbound_specs]
    if hold_until is None:
        ops += _outbound_ops(c)
    results: list[bool] = []

    def check(what: str) -> Continue:
        def done(result: object, now: Now) -> None:
            c.established_at = c.established_at or now
            results.append(_reported(sa, what, result))
            if len(results) == len(ops) and all(results):
                if installed is not None:
                    installed(None, now)
                sa.host.emit(ChildSaUp(
                    sa.name, c.settings.policy, c.settings.selector,
                    api.Mode.TUNNEL if c.settings.tunnel else api.Mode.TRANSPORT,
                    c.spi_in, c.spi_out, childmod.show(c.settings.local_ts),
                    childmod.show(c.settings.remote_ts), neg.algorithms,
                    sa.hook_event(c), c.rekey_of is not None))
                if c.rekey_of is None:
                    _settle_duplicate(sa, c, now)
        return done

    for op, what in ops:
        sa.host.request(sa, op, check(what))


def _settle_duplicate(sa: IkeSa, c: Child, now: Now) -> None:
    """``c`` came up beside another CHILD_SA of the same policy and selectors that neither
    replaces: both ends began one at once (an ACQUIRE here while the peer's CREATE_CHILD_SA
    was on its way, or both re-creating a CHILD_SA whose hard lifetime ended).  RFC 7296
    allows duplicates, but nothing needs them and each would be rekeyed for ever.  As §2.8.1
    settles two rekeys, the one whose exchange had the lowest nonce goes; either end deletes
    it, whoever began it, so that the two ends agree with a peer that keeps duplicates (if
    both delete it, that is the Delete collision §2.25 answers)."""
    twin = next((o for o in sa.children if o is not c and not o.replaced and
                 o.negotiated is not None and o.settings.policy == c.settings.policy and
                 o.settings.local_ts == c.settings.local_ts and
                 o.settings.remote_ts == c.settings.remote_ts), None)
    if twin is None:
        return
    loser = c if c.nonce_key < twin.nonce_key else twin
    sa.delete_child(loser, now, "duplicate of another CHILD_SA of the policy (lowest nonce)")


def _what(spec: api.SaSpec) -> str:
    kind = "IPComp SA cpi" if spec.proto is api.Proto.IPCOMP else "SA spi"
    return f"{kind} 0x{spec.spi:0{4 if spec.proto is api.Proto.IPCOMP else 8}x}"


def _reported(sa: IkeSa, what: str, result: object) -> bool:
    """Whether a kernel request succeeded; a failure is reported."""
    if isinstance(result, Racoon2Error):
        sa.host.emit(KernelFailed(sa.name, what, str(result)))
        return False
    return True


def _report(sa: IkeSa, what: str) -> Continue:
    def done(result: object, now: Now) -> None:
        _reported(sa, what, result)
    return done


def _outbound_ops(c: Child) -> list[tuple[Op, str]]:
    assert c.negotiated is not None
    return [(api.AddSa(spec), f"install outbound {_what(spec)}")
            for spec in c.negotiated.outbound_specs]


def release_outbound(sa: IkeSa, c: Child) -> None:
    """Install the held outbound SAs of ``c`` (:func:`install` with ``hold_until``): the
    rekey's initiator has its new inbound SAs, or the grace is over.  A CHILD_SA that a
    collision made redundant (``replaced``) never sends: its outbound SAs stay out."""
    if c.outbound_held_until is None:
        return
    c.outbound_held_until = None
    if c.replaced or c not in sa.children:
        return
    for op, what in _outbound_ops(c):
        sa.host.request(sa, op, _report(sa, what))


def release_successor(sa: IkeSa, old: Child) -> None:
    """``old`` is about to leave the kernel (the initiator's Delete of it, its hard
    lifetime): the held outbound SAs of the CHILD_SA that replaces it go in first, so that
    our traffic always has an SA."""
    for c in list(sa.children):
        if c.rekey_of is old:
            release_outbound(sa, c)


def release_due(sa: IkeSa, now: Now) -> None:
    """Install the held outbound SAs whose grace (:data:`OUTBOUND_GRACE`) is over."""
    for c in list(sa.children):
        if c.outbound_held_until is not None and now >= c.outbound_held_until:
            release_outbound(sa, c)


def rekeyed(sa: IkeSa, old: Child, new: Child, chosen: Chosen, nonces: tuple[bytes, bytes],
            shares: Sequence[bytes], now: Now) -> None:
    """Our rekey of ``old`` was answered: put ``new`` in its place without losing a packet
    (make-before-break, in the spirit of RFC 7296 §2.8).

    The order, each step a kernel request the shell performs in sequence:

    1. ``new``'s inbound SA (UpdateSa of the larval SA whose SPI we offered): from here on
       the peer, which installed its new inbound SA before it answered, may send on it;
    2. ``new``'s outbound SA (AddSa).  XFRM keeps both outbound SAs of the one policy and
       reqid: for an outbound packet ``xfrm_state_find`` picks, among the valid SAs matching
       the template, one not yet soft-expired ("dying") over one that is, and between equals
       the most recently added, so our traffic moves to ``new`` as this SA comes in (PF_KEY
       kernels prefer the newest SA as well);
    3. ``old``'s outbound SA is withdrawn, only once every SA of ``new`` is in (nothing we
       send is left without an SA);
    4. ``old``'s inbound SA stays for the peer's packets still in flight on it, until the
       peer answers our INFORMATIONAL Delete of ``old`` (it has stopped using it then, RFC
       7296 §1.4.1), or the IKE SA ends.

    As responder (:func:`iked.ikev2.create_child.respond`) only ``new``'s inbound SAs go in
    before the answer: the initiator installs its inbound SA when the answer arrives, so a
    packet sent on our new outbound SA before then would be dropped (one ping per rekey in
    the VM's test).  Our new outbound SAs are held (:func:`release_outbound`) until the
    initiator's Delete of ``old`` arrives (it sends it once its new SAs are in; they go in
    before ``old``'s leave), ``old`` reaches its hard lifetime, or :data:`OUTBOUND_GRACE`
    has passed; meanwhile ``old``'s outbound SA carries our traffic, which the initiator
    still takes on ``old``'s inbound SA (step 4).  strongSwan's responder waits for the
    Delete in the same way.
    """
    old.replaced = True

    def swap(result: object, now: Now) -> None:
        sa.withdraw_outbound(old)

    install(sa, new, chosen, nonces, initiator=True, shares=shares, installed=swap)
    # The Delete is wished now, not once the SAs are in, so that it keeps its place before
    # queued exchanges; the shell performs the kernel requests before it sends a datagram.
    sa.retire(old, now)
