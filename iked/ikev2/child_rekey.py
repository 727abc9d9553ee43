"""The end of our CHILD_SA rekey (RFC 7296 §2.8.1, RFC 9370 §2.2.4), pure: the old CHILD_SA
retired, or, when the peer's rekey of it collided with ours, the redundant one of the two new
CHILD_SAs deleted by the side that made it.  :mod:`iked.ikev2.create_child` calls it when our
rekey is installed and when the peer's colliding one is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iked.events import Now
from iked.ikev2 import rekey_collision
from iked.ikev2.child import Child
from iked.ikev2.tasks import Task

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


def settle(sa: IkeSa, task: Task, now: Now) -> None:
    """Our rekey of ``task.old`` is done: delete the old CHILD_SA, unless the peer's rekey of
    it collided with ours (RFC 7296 §2.8.1).  Then each side made a new CHILD_SA, and the
    exchange holding the lowest of the four nonces is redundant (decided when our answer came,
    :mod:`iked.ikev2.rekey_collision`): its initiator deletes the CHILD_SA it made, and the
    winner's initiator deletes the old one.  Called again when the
    peer's colliding rekey is answered after ours completed."""
    new, old = task.child, task.old
    assert new is not None and old is not None
    if not task.nr:
        return  # our request is still in flight: its answer settles it
    if not task.rival:
        _retire(sa, old, now)
        return
    if rekey_collision.redundant(sa, task, task.nr, f"CHILD_SA of policy {new.settings.policy}",
                                 False):
        # Ours is redundant: the old CHILD_SA is the peer's to delete.  (If the peer's rekey
        # was answered only after ours, we deleted the old one already: Delete vs Delete.)
        # Settled once: a rival with follow-ups is settled again when it is installed.
        if not new.replaced:
            new.replaced = True  # the peer's rekey replaces it: the policy stays
            sa.delete_child(new, now, "redundant rekey (RFC 7296 §2.8.1)")
    else:
        drop_rival(sa, task, now)
        _retire(sa, old, now)


def drop_rival(sa: IkeSa, task: Task, now: Now) -> None:
    """Our rekey won the collision: the peer deletes the CHILD_SA its rekey made, which ours
    replaces (the policy stays, no phase2_down), maybe before our follow-ups are done.  If
    its follow-ups are still to run, a peer that knows it lost does not start them (RFC 9370
    §2.2.4): what we keep for them goes, and one that comes all the same gets
    STATE_NOT_FOUND."""
    if task.rival_child is not None:
        task.rival_child.replaced = True
    elif task.rival_followup is not None and sa.followup is task.rival_followup:
        sa.followup = None
        task.rival_followup.abandon("redundant rekey (RFC 7296 §2.8.1)", now)


def _retire(sa: IkeSa, old: Child, now: Now) -> None:
    """Steps 3 and 4 of child_sa.rekeyed's make-before-break for a rekey settled after a
    collision: the new CHILD_SA's SAs are requested already (the shell performs requests in
    order), so the old outbound SA goes now and its inbound SA when the peer answers the
    Delete."""
    if old in sa.children:
        old.replaced = True
        sa.retire(old, now)
        sa.withdraw_outbound(old)
