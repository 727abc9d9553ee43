"""The responder's decisions (pure): what an incoming datagram is, the reply cache, the epoch
rule and what a refused request gets.

:func:`triage` sorts every datagram before any Kerberos work: a REPLY goes to the exchange that
waits for its XID, a retransmitted request gets the REPLY already sent (KINK requests are
retransmitted until answered, RFC 4430 §3.2), and only a new, well-formed request is verified.
:func:`observe_epoch` is RFC 4430 §3.7: a peer whose epoch changed has restarted and lost its
SAs.  :func:`refusal` is §3.5: a ticket that does not verify is answered with a KRB_ERROR, a
forged checksum or a replay is dropped.  Nothing here reads a clock: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kinkd import message as kink
from kinkd.drops import DropReason
from kinkd.exchange import KRB_AP_ERR_USER_TO_USER_REQUIRED, KinkError
from kinkd.krb5.values import Krb5Error
from kinkd.sas import Peer, SaPair
from racoon2.errors import Racoon2Error
from racoon2.net import Address, Endpoint

REPLY_CACHE_TIME = 60.0  # a retransmitted request within this gets the same REPLY
SAVE_INTERVAL = 10.0  # seconds between replay-cache writes while requests arrive

#: A request as the reply cache knows it: (the peer, its message type, its XID).
RequestKey = tuple[Endpoint, int, int]


class ReplyCache:
    """The REPLYs sent lately, and the requests being answered now."""

    def __init__(self, lifetime: float = REPLY_CACHE_TIME) -> None:
        self.lifetime = lifetime
        self._answered: dict[RequestKey, tuple[bytes, bytes, float]] = {}
        self._answering: set[RequestKey] = set()

    def cached(self, key: RequestKey, request: bytes) -> bytes | None:
        """The REPLY already sent to this very request (the same bytes), if any."""
        seen = self._answered.get(key)
        return seen[1] if seen is not None and seen[0] == request else None

    def busy(self, key: RequestKey) -> bool:
        """Whether ``key`` is being answered now (its REPLY is not out yet)."""
        return key in self._answering

    def begin(self, key: RequestKey) -> None:
        """``key`` is being answered: its retransmissions are ignored until :meth:`finish`."""
        self._answering.add(key)

    def finish(self, key: RequestKey) -> None:
        """``key`` is answered, or failed."""
        self._answering.discard(key)

    def store(self, key: RequestKey, request: bytes, reply: bytes, now: float) -> None:
        """Remember the REPLY to ``request``; forget those older than the lifetime."""
        self._answered = {k: v for k, v in self._answered.items() if now - v[2] < self.lifetime}
        self._answered[key] = (request, reply, now)

    def __len__(self) -> int:
        return len(self._answered)


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the datagram, count it; ``detail`` is the debug line (after the peer's address)."""

    reason: DropReason
    detail: str


@dataclass(frozen=True, slots=True)
class Wake:
    """A REPLY that the exchange with XID ``xid`` waits for."""

    xid: int


@dataclass(frozen=True, slots=True)
class Resend:
    """A retransmitted request already answered: send ``reply`` again (the peer missed it)."""

    reply: bytes


@dataclass(frozen=True, slots=True)
class Busy:
    """A retransmission of a request still being answered: nothing to do."""

    msg: kink.Message


@dataclass(frozen=True, slots=True)
class Refuse:
    """A request whose header is wrong: answer it with a KINK_ERROR of ``code``."""

    key: RequestKey
    msg: kink.Message
    code: kink.ErrorCode


@dataclass(frozen=True, slots=True)
class Serve:
    """A new request to verify and answer."""

    key: RequestKey
    msg: kink.Message


Verdict = Drop | Wake | Resend | Busy | Refuse | Serve


def triage(data: bytes, remote: Endpoint, cache: ReplyCache,
           waiting: Callable[[int], Address | None]) -> Verdict:
    """What to do with the datagram ``data`` from ``remote``.

    ``waiting(xid)`` is the address an exchange of ours with that XID sends to, or None when
    no exchange waits for it.
    """
    try:
        msg = kink.decode(data)
    except Racoon2Error as e:
        return Drop(DropReason.MALFORMED, f"dropped a malformed message: {e}")
    if msg.type == kink.MsgType.REPLY:
        if waiting(msg.xid) != remote.addr:
            return Drop(DropReason.UNEXPECTED_REPLY,
                        f"dropped a REPLY with XID {msg.xid} nobody waits for")
        return Wake(msg.xid)
    if msg.type not in set(kink.MsgType):
        return Drop(DropReason.UNKNOWN_TYPE, f"dropped a message of unknown type {msg.type}")
    key = (remote, msg.type, msg.xid)
    reply = cache.cached(key, data)
    if reply is not None:
        return Resend(reply)
    if cache.busy(key):
        return Busy(msg)
    problem = kink.check_header(msg)
    if problem is not kink.ErrorCode.OK:
        return Refuse(key, msg, problem)
    return Serve(key, msg)


def refusal(e: KinkError, mtype: int, user_to_user_only: bool) -> int | None:
    """The KRB_ERROR number that answers a request which did not verify, or None: drop it.

    The ticket itself was refused: the initiator is told why (RFC 4430 §3.5); with no key of our
    own, the answer is that it must use a user-to-user ticket.  An ACK gets no answer at all.
    A forged checksum or a replay is dropped: answering would help the forger.
    """
    cause = e.__cause__
    if not isinstance(cause, Krb5Error) or mtype == kink.MsgType.ACK:
        return None
    return KRB_AP_ERR_USER_TO_USER_REQUIRED if user_to_user_only else cause.krb_error


@dataclass(frozen=True, slots=True)
class Restart:
    """A peer restarted (RFC 4430 §3.7): its SA pairs are to go."""

    principal: str
    old_epoch: int
    new_epoch: int
    pairs: tuple[SaPair, ...]


def observe_epoch(peers: dict[str, Peer], principal: str, epoch: int,
                  pairs: Iterable[SaPair]) -> Restart | None:
    """Record the epoch ``principal`` sent; a :class:`Restart` when it changed.

    A new epoch means the peer restarted and lost its SAs (RFC 4430 §3.7): the ticket to it is
    dropped, and so is its TGT if it ran user-to-user (that is new too; an empty one is fetched
    again with GETTGT).
    """
    peer = peers.setdefault(principal, Peer(principal))
    restart = None
    if peer.epoch is not None and peer.epoch != epoch:
        restart = Restart(principal, peer.epoch, epoch,
                          tuple(p for p in pairs if p.principal == principal))
        peer.creds = None
        if peer.tgt is not None:
            peer.tgt = b""
    peer.epoch = epoch
    return restart


def epoch_of(now: float) -> int:
    """This kinkd's epoch: its start time, which changes with each restart (RFC 4430 §3.7)."""
    return int(now) & 0xFFFFFFFF


class SaveSchedule:
    """When the replay cache is written: at most every ``interval`` seconds, and at exit."""

    def __init__(self, interval: float = SAVE_INTERVAL) -> None:
        self.interval = interval
        self._saved = 0.0

    def due(self, now: float, force: bool = False) -> bool:
        """Whether to write now (then the next write is ``interval`` later)."""
        if not force and now - self._saved < self.interval:
            return False
        self._saved = now
        return True
