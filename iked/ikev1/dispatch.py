"""Which handler takes a message of an existing ISAKMP SA: (exchange, role, state) (pure).

A message equal to the peer's last one is a retransmission: our answer goes again, the
message is not processed twice (its IV chain has moved on, RFC 2409 Appendix B).  Quick Mode
tasks are looked up by message ID first, their state being the task's.  A Transaction
exchange (type 6: XAuth, mode-config) goes to the handlers in :data:`TRANSACTION`.
"""

from __future__ import annotations

from collections.abc import Callable

from iked.events import DropReason, Now
from iked.ikev1 import aggressive, dpd_exchange, informational, main_mode, nat_exchange, quick_mode
from iked.ikev1.quick_mode import QState
from iked.ikev1.sa import IsakmpSa, State
from racoon2.errors import ParseError, ProtocolError
from racoon2.ikev1.constants import ExchangeType
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import Notification, Payload

MM, AM, QM = ExchangeType.MAIN_MODE, ExchangeType.AGGRESSIVE, ExchangeType.QUICK_MODE
Phase1Step = Callable[[IsakmpSa, Message, bytes, Now], None]
QuickStep = Callable[[quick_mode.QuickTask, tuple[Payload, ...], bytes, Now], None]
#: (exchange, we are the initiator, state) -> the step that takes the peer's message.
PHASE1: dict[tuple[int, bool, State], Phase1Step] = {
    (MM, True, State.MM_I1): main_mode.i_mm2,
    (MM, False, State.MM_R2): main_mode.r_mm3,
    (MM, True, State.MM_I3): main_mode.i_mm4,
    (MM, False, State.MM_R4): main_mode.r_mm5,
    (MM, True, State.MM_I5): main_mode.i_mm6,
    (AM, True, State.AM_I1): aggressive.i_am2,
    (AM, False, State.AM_R2): aggressive.r_am3,
}
QUICK: dict[tuple[bool, QState], QuickStep] = {
    (True, QState.I_QM1): quick_mode.answered,
    (False, QState.R_QM2): quick_mode.confirmed,
}
#: Handlers of Transaction exchanges after phase 1 (XAuth, mode-config): each returns True
#: when it took the message, raises ProtocolError to have it dropped.
TRANSACTION: list[Callable[[IsakmpSa, Message, tuple[Payload, ...], Now], bool]] = []
#: Each says what a peer's new Quick Mode waits for (XAuth not done yet), or None.
QUICK_GATES: list[Callable[[IsakmpSa], str | None]] = []
#: Timers of the features after phase 1 (XAuth, mode-config), run with the SA's.
TIMERS: list[Callable[[IsakmpSa, Now], None]] = []

Drop = Callable[[DropReason, str], None]


def receive(sa: IsakmpSa, msg: Message, data: bytes, now: Now, drop: Drop) -> None:
    """One message for ``sa``."""
    if sa.last_out and data == sa.last_in:
        sa.host.send(sa, sa.last_out)
        return
    if msg.exchange in (MM, AM):
        step = PHASE1.get((msg.exchange, sa.initiator, sa.state))
        if step is None:
            drop(DropReason.UNEXPECTED, f"{ExchangeType(msg.exchange).name} in {sa.state.value}")
            return
        step(sa, msg, data, now)
        return
    if sa.keys is None or msg.encrypted is None:
        _clear_notify(sa, msg, drop)
        return
    task = sa.quick.get(msg.message_id) if msg.exchange == QM else None
    if task is not None and task.last_out and data == task.last_in:
        sa.host.send(sa, task.last_out)
        return
    if msg.exchange == QM and sa.state is not State.ESTABLISHED:
        drop(DropReason.UNEXPECTED, f"Quick Mode in {sa.state.value}")
        return
    if task is not None and (task.initiator, task.state) not in QUICK:
        drop(DropReason.BUSY if task.state in (QState.I_SPI, QState.R_SPI)
             else DropReason.STALE, f"Quick Mode {msg.message_id:08x} {task.state.value}")
        return
    if task is None and msg.exchange in (QM, ExchangeType.INFORMATIONAL) and \
            msg.message_id in sa.mids:
        drop(DropReason.STALE, f"{ExchangeType(msg.exchange).name} {msg.message_id:08x} "
             "replayed: its message ID is used")
        return
    waits = next((w for gate in QUICK_GATES if (w := gate(sa))), None) \
        if msg.exchange == QM and task is None else None
    if waits is not None:
        drop(DropReason.UNEXPECTED, f"Quick Mode {msg.message_id:08x} before {waits}")
        return
    try:
        payloads = sa.keys.open(msg)
    except ParseError as e:
        drop(DropReason.BAD_ICV, f"does not decrypt: {e}")
        return
    # The peer sends under the phase 1 keys, so it has our last phase 1 message: a copy of
    # its own last one is a replay from now on, not a retransmission to answer.
    sa.last_in = sa.last_out = b""
    if msg.exchange == QM:
        if task is None:
            quick_mode.respond(sa, msg, payloads, data, now)
        else:
            QUICK[(task.initiator, task.state)](task, payloads, data, now)
    elif msg.exchange == ExchangeType.INFORMATIONAL:
        sa.keys.forget(msg.message_id)
        problem = informational.receive(sa, payloads, msg.message_id, now)
        if problem is not None:
            drop(DropReason.BAD_ICV, problem)
        else:
            sa.remember_mid(msg.message_id)
    elif msg.exchange == ExchangeType.TRANSACTION and TRANSACTION:
        try:
            if not any(take(sa, msg, payloads, now) for take in TRANSACTION):
                drop(DropReason.UNEXPECTED, "Transaction exchange: no XAuth or mode-config "
                     "configured for this peer")
        except ProtocolError as e:  # a handler's reason to drop the message
            drop(DropReason.UNEXPECTED, str(e))
    else:
        drop(DropReason.UNEXPECTED, f"exchange type {msg.exchange} is not supported")


def _clear_notify(sa: IsakmpSa, msg: Message, drop: Drop) -> None:
    # An unprotected Informational during phase 1 (NO-PROPOSAL-CHOSEN, INVALID-ID-INFORMATION
    # …): RFC 2408 §5 lets the peer send it before there are keys; believed only then.
    notes = [p for p in msg.payloads if isinstance(p, Notification)]
    if msg.exchange == ExchangeType.INFORMATIONAL and notes and \
            sa.state is not State.ESTABLISHED:
        sa.fail("phase 1", f"the peer said {informational.notify_name(notes[0].type)}")
        return
    drop(DropReason.UNEXPECTED, "unprotected message")


def on_timer(sa: IsakmpSa, now: Now) -> None:
    """Retransmissions, Quick Mode timers, NAT keepalives, DPD probes (the phase 1 lifetime
    is the core's)."""
    nat_exchange.keepalive(sa, now)
    dpd_exchange.tick(sa, now)
    if sa.resend is not None:
        due = sa.resend.due(now)
        if due is False:
            sa.fail("phase 1", f"no answer after {sa.resend.attempt + 1} transmissions")
            return
        if isinstance(due, bytes):
            sa.host.counters["retransmits"] += 1
            sa.host.send(sa, due)
    for tick in TIMERS:
        tick(sa, now)
    sa.release_retired(now)
    for task in list(sa.quick.values()):
        deadline = task.deadline()
        if deadline is not None and deadline <= now:
            quick_mode.on_timer(task, now)
