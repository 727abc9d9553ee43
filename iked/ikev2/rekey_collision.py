"""Simultaneous rekeys settled by their nonces (RFC 7296 §2.8.1, §2.8.2), also when additional
key exchanges follow them (RFC 9370 §2.2.4), pure.

Both ends rekey the same SA (an IKE SA, or one CHILD_SA) at once.  Each end answers the
other's CREATE_CHILD_SA while its own is in flight (window size 1 limits each end's requests,
not its answers, RFC 7296 §2.3), so it knows all four nonces when its own answer comes, and
decides there: the exchange holding the lowest nonce is redundant.  Both ends see the same four
nonces and so decide alike.  RFC 9370 §2.2.4 counts only the CREATE_CHILD_SA nonces, and, as
the SAs of an exchange with additional key exchanges exist only after its last
IKE_FOLLOWUP_KE, a redundant exchange with follow-ups has nothing to delete yet: its initiator
just stops and MUST NOT start them; the winner drops what it keeps for them (a follow-up that
comes all the same gets STATE_NOT_FOUND).  A redundant exchange without follow-ups made its SA
at once, and its initiator deletes it (RFC 7296 §2.8).  The interleavings::

  1. Both CREATE_CHILD_SA cross; the winner W (the exchange without the lowest nonce) then
     runs its follow-ups, the loser L runs none:

     W                                                    L
     CREATE_CHILD_SA {SA, Ni_w, KEi} ------\\  /---------- CREATE_CHILD_SA {SA, Ni_l, KEi}
     answers L's {SA, Nr_w, KEr, N(AKE)} <--\\/--> answers W's {SA, Nr_l, KEr, N(AKE)}
     W's answer: decided                  <--/\\-->        L's answer: decided, L stops
     IKE_FOLLOWUP_KE {KEi(1), N(AKE)} -------------------> (n times; L answers them)
                                      <------------------- {KEr(1)[, N(AKE)(next link)]}
     INFORMATIONAL {D (the old SA)} ---------------------> the winner's SA replaces it

  2. L's answer is lost and retransmitted, so W's first IKE_FOLLOWUP_KE reaches L before it:
     L answers it (it keeps the state for W's exchange whatever it decides), then decides as
     in 1 when its own answer comes.  Any order of W's follow-ups and L's answer works so.
  3. L's exchange agreed no additional exchange, W's did: L's SA (a CHILD_SA, or a new IKE
     SA) is made on both ends with the answer, and L deletes it.  An IKE SA rekey's CHILD_SAs
     go back to the old IKE SA on both ends, to move to W's new IKE SA when W's follow-ups
     make it: the new IKE SA L deletes must not take them along.
  4. W's exchange agreed none, L's did: W's SA exists already; L stops.
  5. The peer's CREATE_CHILD_SA comes only after ours was answered, while our follow-ups run
     (a loss delayed it): the peer had answered ours first, it knows only its own nonces, no
     rule can settle it, and RFC 9370 §2.2.4 has it refused TEMPORARY_FAILURE; ours goes on
     and replaces the SA.  (Without follow-ups the rekey is over by then: the peer's request
     meets no exchange of ours.)
  6. A CHILD_SA rekey: our answer comes while our answer to the peer's request still waits for
     the kernel's inbound SPI, so the peer's Nr is not drawn yet: we run our follow-ups, and
     the collision is settled once both CHILD_SAs are installed
     (:func:`iked.ikev2.child_rekey.settle`), the redundant one deleted by its initiator, as
     without additional exchanges.  The peer, which knows all four nonces at its answer,
     decides alike: as loser it stops, as winner it drops what it keeps for our follow-ups
     only if they had not run yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iked.events import RekeyCollision

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa
    from iked.ikev2.tasks import Task


def redundant(sa: IkeSa, task: Task, nr: bytes, what: str, followups: bool) -> bool:
    """Whether our rekey ``task`` (nonces ``task.ni`` and the answer's ``nr``) is the
    redundant one of its collision with the peer's (``task.rival``): it holds the lowest of
    the four nonces (RFC 7296 §2.8.1, §2.8.2).  Decided once, and logged; ``followups``: our
    exchange agreed additional key exchanges (they are then not started)."""
    if task.redundant is None:
        task.redundant = min(task.ni, nr) < min(task.rival)
        sa.host.emit(RekeyCollision(sa.name, what, task.redundant,
                                    task.redundant and followups))
    return task.redundant
