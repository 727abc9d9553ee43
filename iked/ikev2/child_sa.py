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

from iked.events import ChildSaUp, KernelFailed, NegotiationFailed, Now
from iked.ikev2 import child as childmod
from iked.ikev2 import proposals
from iked.ikev2.child import Child
from iked.ikev2.common import notify
from iked.ikev2.proposals import Chosen
from iked.ikev2.ts import Ts, intersect
from racoon2.crypto import transforms as tt
from racoon2.errors import Racoon2Error
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import SA, Notify, TSi, TSr
from racoon2.kernel import api
from racoon2.spmif.commands import PolicyAdd

if TYPE_CHECKING:
    from iked.ikev2.sa import Continue, IkeSa


def pick(sa: IkeSa, offer: SA, tsi: TSi, tsr: TSr, transport: bool,
         extra: Sequence[tt.Transform] = ()
         ) -> tuple[Child, Chosen, tuple[list[Ts], list[Ts]]] | Notify:
    """The responder's CHILD_SA for an offer: the first policy of this remote whose
    selectors cover the TS, and the chosen proposal; else the notify to answer.
    ``extra`` adds transforms to our proposals (the KE group of a PFS exchange)."""
    offered_i = childmod.from_wire(tsi.selectors)
    offered_r = childmod.from_wire(tsr.selectors)
    exact = sa.host.exact_ts(sa.peer.remote)
    configured = []
    for settings in sa.host.children(sa.peer.remote):
        if settings.rw:
            # IP_RW: the peer's side of the policy is the address we leased it, else the
            # one it has now.
            peer = sa.leased[1] if sa.leased else sa.remote.addr
            here = Ts(peer, peer)
            settings = replace(settings, remote_ts=tuple(
                t for t in (intersect(here, r) for r in settings.remote_ts) if t))
        configured.append(f"{settings.policy}: {childmod.show(settings.remote_ts)} <=> "
                          f"{childmod.show(settings.local_ts)}")
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
        mine = settings.proposals(bytes(4), extra)
        chosen = proposals.choose(offer.proposals, mine)
        if chosen is None:
            sa.host.emit(NegotiationFailed(
                sa.name, "CHILD_SA", "no proposal chosen",
                proposals.describe(offer.proposals), proposals.describe(mine)))
            return notify(NotifyType.NO_PROPOSAL_CHOSEN)
        return Child(settings), chosen, answer
    sa.host.emit(NegotiationFailed(
        sa.name, "CHILD_SA", "traffic selectors unacceptable",
        f"TSi {childmod.show(offered_i)}, TSr {childmod.show(offered_r)}",
        "; ".join(configured) or f"no policy names remote {sa.peer.remote}"))
    return notify(NotifyType.TS_UNACCEPTABLE)


def install(sa: IkeSa, c: Child, chosen: Chosen, nonces: tuple[bytes, bytes] | None = None,
            initiator: bool | None = None, shared: bytes = b"",
            installed: Continue | None = None) -> None:
    """Derive ``c``'s keys and hand its two SAs to the kernel, inbound first.  ``nonces``,
    ``initiator`` and ``shared`` are the CREATE_CHILD_SA exchange's (default: IKE_AUTH's);
    ``installed(None, now)`` runs once every SA is in."""
    assert sa.crypto is not None
    ni, nr = nonces or (sa.ni, sa.nr)
    neg = childmod.negotiate(c.settings, chosen, sa.crypto.prf, sa.crypto.keys.sk_d,
                             ni, nr, sa.initiator if initiator is None else initiator,
                             c.spi_in, c.spi_out, sa.local.addr, sa.remote.addr,
                             sa.host.rng, shared,
                             (sa.local.port, sa.remote.port) if sa.nat else None,
                             c.ipcomp)
    c.negotiated = neg
    sa.children.append(c)

    results: list[bool] = []

    def done(what: str) -> Continue:
        def check(result: object, now: Now) -> None:
            if isinstance(result, Racoon2Error):
                sa.host.emit(KernelFailed(sa.name, what, str(result)))
            results.append(not isinstance(result, Racoon2Error))
            if len(results) == len(neg.specs) + c.settings.rw and all(results):
                if installed is not None:
                    installed(None, now)
                sa.host.emit(ChildSaUp(
                    sa.name, c.settings.policy, c.settings.selector,
                    api.Mode.TUNNEL if c.settings.tunnel else api.Mode.TRANSPORT,
                    c.spi_in, c.spi_out, childmod.show(c.settings.local_ts),
                    childmod.show(c.settings.remote_ts), neg.algorithms,
                    sa.hook_event(c), c.rekey_of is not None))
        return check

    if c.settings.rw:
        sa.host.request(sa, PolicyAdd(*sa.rw_policy(c)), done(
            f"have spmd install the policies of {c.settings.selector}"))
    sa.host.request(sa, api.UpdateSa(neg.inbound), done(
        f"install inbound SA spi 0x{c.spi_in:08x}"))
    sa.host.request(sa, api.AddSa(neg.outbound), done(
        f"install outbound SA spi 0x{c.spi_out:08x}"))
    if neg.ipcomp is not None:
        comp_in, comp_out = neg.ipcomp
        sa.host.request(sa, api.UpdateSa(comp_in), done(
            f"install inbound IPComp SA cpi 0x{comp_in.spi:04x}"))
        sa.host.request(sa, api.AddSa(comp_out), done(
            f"install outbound IPComp SA cpi 0x{comp_out.spi:04x}"))


def rekeyed(sa: IkeSa, old: Child, new: Child, chosen: Chosen, nonces: tuple[bytes, bytes],
            shared: bytes, now: Now) -> None:
    """Our rekey of ``old`` was answered: put ``new`` in its place without losing a packet
    (make-before-break, in the spirit of RFC 7296 §2.8).

    The order, each step a kernel request the shell performs in sequence:

    1. ``new``'s inbound SA (UpdateSa of the larval SA whose SPI we offered): from here on
       the peer, which installed both of its new SAs before it answered, may send on it;
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

    As responder the peer's Delete ends ``old`` at once, its traffic having moved already.
    """
    old.replaced = True

    def swap(result: object, now: Now) -> None:
        sa.withdraw_outbound(old)

    install(sa, new, chosen, nonces, initiator=True, shared=shared, installed=swap)
    # The Delete is wished now, not once the SAs are in, so that it keeps its place before
    # queued exchanges; the shell performs the kernel requests before it sends a datagram.
    sa.retire(old, now)
