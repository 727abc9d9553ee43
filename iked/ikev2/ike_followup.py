"""IKE_FOLLOWUP_KE: the additional key exchanges of a CREATE_CHILD_SA (RFC 9370 §2.2.4) that
rekeys the IKE SA or makes or rekeys a CHILD_SA, both roles, pure.

When the CREATE_CHILD_SA agreed additional key exchanges, the responder
answers with N(ADDITIONAL_KEY_EXCHANGE) holding link data, and the initiator then runs one
IKE_FOLLOWUP_KE exchange per exchange, in position order, over the old IKE SA:

    CREATE_CHILD_SA  i -> r  SK { SA, Ni, KEi }
                     i <- r  SK { SA, Nr, KEr, N(ADDITIONAL_KEY_EXCHANGE)(link1) }
    IKE_FOLLOWUP_KE  i -> r  SK { KEi(1), N(ADDITIONAL_KEY_EXCHANGE)(link1) }
                     i <- r  SK { KEr(1)[, N(ADDITIONAL_KEY_EXCHANGE)(link2)] }   ...

The successor's SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n)), SK(0)
being the CREATE_CHILD_SA exchange's; a CHILD_SA's KEYMAT = prf+(SK_d, SK(0) | Ni | Nr |
SK(1) | ... | SK(n)), and neither side installs it before the last exchange
(:mod:`iked.ikev2.create_child`).  A request whose link the responder does not know gets
STATE_NOT_FOUND.  Simultaneous rekeys of the IKE SA or of one CHILD_SA (RFC 7296 §2.8.1,
§2.8.2) are settled by their CREATE_CHILD_SA nonces before any follow-up starts: the redundant
one runs none (:mod:`iked.ikev2.rekey_collision`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from iked.events import NegotiationFailed, Now
from iked.ikev2.common import error_notifies, notify, notify_name
from iked.ikev2.intauth import FollowUp, name
from iked.ikev2.tasks import Task
from racoon2.crypto import dh
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import KE, Notify, Payload, first

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa

STAGE = "IKE SA rekey"
#: The link data we hand out as responder (RFC 9370 §2.2.4 leaves its form to us).
LINK_SIZE = 8


def link_of(inner: Sequence[Payload]) -> bytes | None:
    """The data of N(ADDITIONAL_KEY_EXCHANGE), if the message has one."""
    return next((p.data for p in inner if isinstance(p, Notify) and
                 p.type == NotifyType.ADDITIONAL_KEY_EXCHANGE), None)


Abandon = Callable[[str, Now], object]


def begin(sa: IkeSa, task: Task, additional: tuple[int, ...], shared: bytes,
          inner: Sequence[Payload], finish: Callable[[Sequence[bytes], Now], object], now: Now,
          abandon: Abandon | None = None, stage: str = STAGE) -> None:
    """Initiator: the responder's CREATE_CHILD_SA answer agreed ``additional`` exchanges; run
    the first IKE_FOLLOWUP_KE (``finish`` gets all shared secrets, SK(0) first, at the end,
    ``abandon`` the reason they failed; by default the IKE SA goes, as a failed rekey)."""
    state = FollowUp(list(additional), [shared], b"", finish,
                     abandon or functools.partial(_give_up, sa), stage)
    link = link_of(inner)
    if link is None:
        state.abandon("the answer agreed additional key exchanges but holds no "
                      "ADDITIONAL_KEY_EXCHANGE notify", now)
        return
    state.link = link
    task.followup = state
    _send(sa, task, state, now)


def _send(sa: IkeSa, task: Task, state: FollowUp, now: Now) -> None:
    ident = state.pending[0]
    try:
        task.key_exchange = dh.start(ident, sa.host.rng)
    except CryptoError as e:
        task.followup = None
        state.abandon(f"cannot start {name(ident)}: {e}", now)
        return
    task.group = ident
    sa.tasks.request(task, ExchangeType.IKE_FOLLOWUP_KE, (
        KE(ident, task.key_exchange.public_bytes()),
        notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, state.link)), now)


def _give_up(sa: IkeSa, reason: str, now: Now) -> None:
    """An IKE SA rekey's follow-ups failed."""
    # As a failed rekey (ike_rekey.on_response): the old SA goes, the next ACQUIRE makes one.
    sa.host.emit(NegotiationFailed(sa.name, STAGE, reason))
    sa.delete(now)


def on_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                now: Now) -> None:
    """Initiator: the responder's KEr(n); the next follow-up, or the successor IKE SA."""
    state = task.followup if task is not None else None
    if task is None or state is None or task.key_exchange is None:
        return
    errors = error_notifies(inner)
    ke = first(inner, KE)
    if errors or ke is None or ke.group != task.group:
        task.followup = None
        state.abandon(f"{name(task.group)}: peer answered " + (
            notify_name(errors[0]) if errors else "without its KE payload" if ke is None
            else f"with a KE payload of {name(ke.group)}"), now)
        return
    try:
        state.shares.append(task.key_exchange.shared_secret(ke.data))
    except CryptoError as e:
        task.followup = None
        state.abandon(f"bad {name(task.group)} KE payload: {e}", now)
        return
    state.pending.pop(0)
    if state.pending:
        link = link_of(inner)
        if link is None:
            task.followup = None
            state.abandon("more key exchanges agreed, but no ADDITIONAL_KEY_EXCHANGE link",
                          now)
            return
        state.link = link
        _send(sa, task, state, now)
        return
    task.followup = None
    state.finish(tuple(state.shares), now)


def offer(sa: IkeSa, additional: tuple[int, ...], shared: bytes,
          finish: Callable[[Sequence[bytes], Now], object], abandon: Abandon | None = None,
          stage: str = STAGE, install_first: bool = False) -> Notify:
    """Responder: our CREATE_CHILD_SA answer agreed ``additional`` exchanges; remember them
    and give the N(ADDITIONAL_KEY_EXCHANGE) for the answer (``abandon`` undoes what the
    answer started when a follow-up fails)."""
    sa.followup = FollowUp(list(additional), [shared], sa.host.rng.random_bytes(LINK_SIZE),
                           finish, abandon or _nothing, stage, install_first)
    return notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, sa.followup.link)


def _nothing(reason: str, now: Now) -> None:
    """An IKE SA rekey we answered made nothing yet: its failure is only reported."""


def respond(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> None:
    """Responder: one IKE_FOLLOWUP_KE request; the last one makes the successor IKE SA."""
    state, mid = sa.followup, msg.message_id

    def refuse(kind: NotifyType, reason: str) -> None:
        sa.tasks.respond(mid, ExchangeType.IKE_FOLLOWUP_KE, (notify(kind),))
        sa.host.emit(NegotiationFailed(sa.name, state.stage if state else "IKE_FOLLOWUP_KE",
                                       reason))
        if state is not None and sa.followup is None:
            state.abandon(reason, now)

    if state is None or link_of(inner) != state.link:
        # RFC 9370 §2.2.4: no exchange of ours waits for this link.
        state = None
        refuse(NotifyType.STATE_NOT_FOUND, "IKE_FOLLOWUP_KE for no exchange in progress")
        return
    ident, ke = state.pending[0], first(inner, KE)
    if ke is None or ke.group != ident:
        sa.followup = None
        refuse(NotifyType.INVALID_SYNTAX, f"IKE_FOLLOWUP_KE without a KE payload of "
               f"{name(ident)}")
        return
    try:
        public, shared = dh.respond(ident, ke.data, sa.host.rng)
    except CryptoError as e:
        sa.followup = None
        refuse(NotifyType.INVALID_SYNTAX, f"bad {name(ident)} KE payload: {e}")
        return
    state.shares.append(shared)
    state.pending.pop(0)
    answer: list[Payload] = [KE(ident, public)]
    if state.pending:
        state.link = sa.host.rng.random_bytes(LINK_SIZE)
        answer.append(notify(NotifyType.ADDITIONAL_KEY_EXCHANGE, state.link))
    if not state.pending:
        sa.followup = None
        if state.install_first:
            state.finish(tuple(state.shares), now)
    sa.tasks.respond(mid, ExchangeType.IKE_FOLLOWUP_KE, tuple(answer))
    if not state.pending and not state.install_first:
        state.finish(tuple(state.shares), now)
