"""Dead Peer Detection in iked's IKEv1 engine (RFC 3706), pure: the engine's use of
:mod:`iked.ikev1.dpd`.

* ``dpd on`` sends the DPD Vendor ID in phase 1 (:data:`iked.ikev1.vendor.SENDERS`).
* Once phase 1 is up and both announced DPD, :func:`start` arms the prober of ``dpd_delay``;
  :func:`tick` sends R-U-THERE in protected Informational exchanges (RFC 2409 §5.7), every
  ``dpd_retry`` while unanswered, and after ``dpd_maxfail`` of them ends the ISAKMP SA and
  its IPsec SAs (kernel SAs removed, down hooks run): the next ACQUIRE negotiates anew.
* The peer's R-U-THERE is answered with R-U-THERE-ACK when its number moves forward (§7);
  its ACKs restart our count (:data:`iked.ikev1.informational.NOTIFIES`).
"""

from __future__ import annotations

from collections.abc import Sequence

from iked.events import Now
from iked.ikev1 import dpd, informational, vendor
from iked.ikev1.sa import IsakmpSa
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import NotifyType
from racoon2.ikev1.payloads import Notification


def _vendor_ids(sa: IsakmpSa) -> Sequence[bytes]:
    return (dpd.VENDOR_ID,) if sa.settings.dpd.enabled else ()


def start(sa: IsakmpSa, now: Now) -> None:
    """Phase 1 of ``sa`` is up: probe if both sides announced DPD (RFC 3706 §4)."""
    sa.prober = dpd.Prober(sa.settings.dpd, dpd.supported(sa.peer_vendor_ids),
                           dpd.first_sequence(sa.host.rng.random_bytes(4)), now)


def tick(sa: IsakmpSa, now: Now) -> None:
    """Our next probe, or the peer declared dead."""
    if sa.prober is None or sa.keys is None:
        return
    verdict, seq = sa.prober.tick(now)
    if verdict is dpd.Verdict.PROBE and seq is not None:
        informational.send(sa, (dpd.r_u_there(sa.cookies, seq),))
    elif verdict is dpd.Verdict.DEAD:
        s = sa.settings.dpd
        sa.die(f"the peer is dead: {s.maxfail} R-U-THERE unanswered, {s.retry:g} s apart "
               "(DPD, RFC 3706)")


def _r_u_there(sa: IsakmpSa, n: Notification, now: Now) -> str | None:
    seq = dpd.sequence(n, sa.cookies)
    if not sa.peer_probes.accept(seq):
        return f"R-U-THERE {seq} is not newer than the last one answered (RFC 3706 §7)"
    informational.send(sa, (dpd.r_u_there_ack(sa.cookies, seq),))
    return None


def _ack(sa: IsakmpSa, n: Notification, now: Now) -> str | None:
    seq = dpd.sequence(n, sa.cookies)
    if sa.prober is None or not sa.prober.acked(seq, now):
        return f"R-U-THERE-ACK {seq} answers no probe of ours (RFC 3706 §7)"
    return None


def _guarded(handle: informational.NotifyHandler) -> informational.NotifyHandler:
    def run(sa: IsakmpSa, n: Notification, now: Now) -> str | None:
        try:
            return handle(sa, n, now)
        except ProtocolError as e:
            return str(e)
    return run


vendor.SENDERS.append(_vendor_ids)
informational.NOTIFIES[NotifyType.R_U_THERE] = _guarded(_r_u_there)
informational.NOTIFIES[NotifyType.R_U_THERE_ACK] = _guarded(_ack)
