"""IKEv1 Dead Peer Detection (RFC 3706), pure: the Vendor ID, the R-U-THERE and
R-U-THERE-ACK notifications, the replay rule for the peer's probes (§7) and the prober,
driven by a ``now`` the caller passes, with the original's directives:

* ``dpd on`` announces the Vendor ID; both must have sent it (§4) before any probe.
* ``dpd_delay`` seconds after the SA is up (or after an answered probe) an R-U-THERE goes out;
  0 never probes (the peer may still probe us, and is answered).
* unanswered, another follows every ``dpd_retry`` seconds, each with the next sequence number;
* after ``dpd_maxfail`` unanswered probes, ``dpd_retry`` after the last, the peer is dead and
  the engine deletes the ISAKMP SA and its IPsec SAs (ipsec-tools' isakmp_info_send_r_u).

The engine sends each notification in a protected Informational exchange (RFC 2409 §5.7).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import Doi, NotifyType, ProtocolId
from racoon2.ikev1.payloads import Notification

#: RFC 3706 §4: the DPD Vendor ID, version 1.0 (its last two octets).
VENDOR_ID = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")

_SEQ_MOD = 1 << 32


def supported(peer_vendor_ids: Iterable[bytes]) -> bool:
    """The peer announced DPD (RFC 3706 §4; any minor version)."""
    return any(v[:14] == VENDOR_ID[:14] and len(v) == 16 for v in peer_vendor_ids)


def _notify(kind: NotifyType, cookies: bytes, seq: int) -> Notification:
    if len(cookies) != 16:
        raise ValueError("the DPD SPI is CKY-I | CKY-R, 16 octets")
    # §5: DOI IPsec, protocol ISAKMP, the cookies as SPI, the sequence number as data.
    return Notification(Doi.IPSEC, ProtocolId.ISAKMP, kind, cookies,
                        (seq % _SEQ_MOD).to_bytes(4, "big"))


def r_u_there(cookies: bytes, seq: int) -> Notification:
    """An R-U-THERE probe with sequence number ``seq`` (RFC 3706 §5)."""
    return _notify(NotifyType.R_U_THERE, cookies, seq)


def r_u_there_ack(cookies: bytes, seq: int) -> Notification:
    """The answer to the probe numbered ``seq``: the same number (RFC 3706 §5, §7)."""
    return _notify(NotifyType.R_U_THERE_ACK, cookies, seq)


def sequence(n: Notification, cookies: bytes) -> int:
    """The sequence number of an R-U-THERE or R-U-THERE-ACK of this ISAKMP SA; a malformed
    one raises (§5: SPI size 16 and the SA's cookies, four octets of data)."""
    if n.type not in (NotifyType.R_U_THERE, NotifyType.R_U_THERE_ACK):
        raise ProtocolError(f"notify type {n.type} is no DPD message")
    if n.spi != cookies:
        raise ProtocolError(f"{NotifyType(n.type).name} with SPI {n.spi.hex() or 'none'}, "
                            "expected this ISAKMP SA's cookies (RFC 3706 §5)")
    if len(n.data) != 4:
        raise ProtocolError(f"{NotifyType(n.type).name} with {len(n.data)} octets of data, "
                            "expected a 4-octet sequence number (RFC 3706 §5)")
    return int.from_bytes(n.data, "big")


def first_sequence(random4: bytes) -> int:
    """The first probe's number: random, its high bit clear so it does not wrap soon
    (RFC 3706 §7); ``random4`` is four octets from the shell's random source."""
    return int.from_bytes(random4, "big") & 0x7FFFFFFF


class PeerProbes:
    """The replay rule for the peer's R-U-THERE (RFC 3706 §7): each must carry a higher
    number than the last one answered (serial arithmetic, so a wrap is fine); a replayed or
    older one is dropped, not answered."""

    def __init__(self) -> None:
        self.last: int | None = None

    def accept(self, seq: int) -> bool:
        """True if the probe numbered ``seq`` is to be answered (and is now the last)."""
        if self.last is not None and not 0 < (seq - self.last) % _SEQ_MOD < 1 << 31:
            return False
        self.last = seq
        return True


class Verdict(enum.Enum):
    """What :meth:`Prober.tick` asks the engine to do."""

    NOTHING = "nothing"
    PROBE = "probe"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Settings:
    """A remote's ``dpd``, ``dpd_delay``, ``dpd_retry`` and ``dpd_maxfail`` (seconds, count)."""

    enabled: bool = True
    delay: float = 0.0
    retry: float = 5.0
    maxfail: int = 5


class Prober:
    """Our probes of one ISAKMP SA.  ``tick(now)`` at or after ``deadline``; ``acked(seq,
    now)`` for every R-U-THERE-ACK (and ``alive(now)`` if the engine counts other traffic,
    which the original did not)."""

    def __init__(self, settings: Settings, peer_supports: bool, first_seq: int,
                 now: float) -> None:
        self.settings = settings
        self.active = settings.enabled and peer_supports and settings.delay > 0
        self.next_seq = first_seq % _SEQ_MOD
        self.outstanding: list[int] = []
        self.deadline: float | None = now + settings.delay if self.active else None

    @property
    def failures(self) -> int:
        """Probes sent since the last answer."""
        return len(self.outstanding)

    def tick(self, now: float) -> tuple[Verdict, int | None]:
        """(PROBE, seq): send r_u_there(cookies, seq); (DEAD, None): the peer is dead
        (``dpd_maxfail`` probes unanswered); (NOTHING, None) before the deadline."""
        if self.deadline is None or now < self.deadline:
            return Verdict.NOTHING, None
        if self.failures >= self.settings.maxfail:
            self.deadline = None
            return Verdict.DEAD, None
        seq = self.next_seq
        self.next_seq = (seq + 1) % _SEQ_MOD
        self.outstanding.append(seq)
        self.deadline = now + self.settings.retry
        return Verdict.PROBE, seq

    def acked(self, seq: int, now: float) -> bool:
        """An R-U-THERE-ACK numbered ``seq``: True if it answers one of our unanswered probes
        (then the count restarts and the next probe is ``dpd_delay`` away); an ACK with any
        other number is ignored (RFC 3706 §7)."""
        if seq not in self.outstanding:
            return False
        self.alive(now)
        return True

    def alive(self, now: float) -> None:
        """The peer proved it is alive: no failure counts, the next probe in ``dpd_delay``."""
        self.outstanding.clear()
        if self.active:
            self.deadline = now + self.settings.delay
