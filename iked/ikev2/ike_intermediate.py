"""IKE_INTERMEDIATE (RFC 9242) carrying RFC 9370's additional key exchanges, both roles, pure.

After IKE_SA_INIT agreed additional key exchanges (ADDKE1..7 transforms other than NONE), the
initiator runs one IKE_INTERMEDIATE exchange per exchange, in position order, before IKE_AUTH:

    IKE_INTERMEDIATE  i -> r  HDR(mid n), SK { KEi(n) }
    IKE_INTERMEDIATE  i <- r  HDR(mid n), SK { KEr(n) }

Message IDs go on from IKE_SA_INIT's 0 (RFC 9242 §3.2), so IKE_AUTH's is the number of
intermediate exchanges plus one.  Each exchange is protected by the keys in force when it began
and then updates them (RFC 9370 §2.2.2): SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), and
SK_d, SK_a*, SK_e*, SK_p* follow from it as in RFC 7296 §2.14.  With ML-KEM the initiator sends
the encapsulation key and the responder the ciphertext (draft-ietf-ipsecme-ikev2-mlkem §3).
Both messages go into IntAuth (:mod:`iked.ikev2.intauth`) for IKE_AUTH's AUTH payloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iked.events import Now
from iked.ikev2.common import error_notifies, notify, notify_name
from iked.ikev2.intauth import Intermediate, name
from iked.ikev2.tasks import Kind, Task
from racoon2.crypto import dh, keymat
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import ExchangeType, NotifyType
from racoon2.ikev2.message import Message, encode_chain
from racoon2.ikev2.payloads import KE, Payload, first
from racoon2.ikev2.sk import SkCipher

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa

STAGE = "IKE_INTERMEDIATE"


def agree(sa: IkeSa, additional: tuple[int, ...], first_group: int,
          peer_supports: bool) -> bool:
    """After IKE_SA_INIT: note the additional exchanges agreed; False (and the SA failed)
    when some were agreed with a peer that did not announce INTERMEDIATE_EXCHANGE_SUPPORTED
    (RFC 9370 §2.2.2 carries them in IKE_INTERMEDIATE only)."""
    if additional and not peer_supports:
        sa.fail("IKE_SA_INIT", "additional key exchanges agreed, but the peer did not send "
                "INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242)",
                received=", ".join(name(i) for i in additional))
        return False
    sa.intermediate = Intermediate(list(additional), [first_group])
    return True


def start(sa: IkeSa, task: Task, now: Now) -> bool:
    """Initiator: the next additional key exchange; False when none is left (IKE_AUTH is
    next)."""
    state = sa.intermediate
    if state is None or not state.pending:
        return False
    ident = state.pending[0]
    try:
        task.key_exchange = dh.start(ident, sa.host.rng)
    except CryptoError as e:
        sa.fail(STAGE, f"cannot start {name(ident)}: {e}")
        return True
    task.kind, task.group = Kind.IKE_INTERMEDIATE, ident
    inner = (KE(ident, task.key_exchange.public_bytes()),)
    # IntAuth_iN covers the request as if whole (RFC 9242 §3.3.2, fragmented or not), under
    # the keys that protect it.
    state.request = (sa.unfragmented(ExchangeType.IKE_INTERMEDIATE, sa.tasks.window.next_mid,
                                     False, inner), encode_chain(inner)[1])
    sa.tasks.request(task, ExchangeType.IKE_INTERMEDIATE, inner, now)
    return True


def on_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                now: Now) -> None:
    """Initiator: the responder's KEr; the keys are updated, then the next exchange or
    IKE_AUTH."""
    state = sa.intermediate
    if task is None or state is None or task.key_exchange is None or not state.pending:
        sa.fail(STAGE, "a response to no IKE_INTERMEDIATE request of ours")
        return
    errors = error_notifies(inner)
    ke = first(inner, KE)
    if errors or ke is None or ke.group != task.group:
        sa.fail(STAGE, f"{name(task.group)}: peer answered " + (
            notify_name(errors[0]) if errors else "without its KE payload" if ke is None
            else f"with a KE payload of {name(ke.group)}"))
        return
    try:
        shared = task.key_exchange.shared_secret(ke.data)
    except CryptoError as e:
        sa.fail(STAGE, f"bad {name(task.group)} KE payload: {e}")
        return
    _advance(sa, state, shared, *state.request, *sa.opened)
    child = task.child
    sa.host.start(sa, Task(Kind.IKE_AUTH, child=child) if not state.pending else
                  Task(Kind.IKE_INTERMEDIATE, child=child), now)


def respond(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
            now: Now) -> None:
    """Responder: answer the initiator's KEi of the next additional exchange with ours (the
    ciphertext for ML-KEM), then update the keys."""
    state = sa.intermediate
    mid = msg.message_id
    if state is None or not state.pending:
        sa.tasks.respond(mid, ExchangeType.IKE_INTERMEDIATE, (notify(NotifyType.INVALID_SYNTAX),))
        sa.fail(STAGE, "IKE_INTERMEDIATE without an additional key exchange to make")
        return
    ident = state.pending[0]
    ke = first(inner, KE)
    if ke is None or ke.group != ident:
        # RFC 9370 §2.2.2: the method is the one IKE_SA_INIT agreed for this position; no
        # other can be retried (as libreswan, the exchange fails).
        sa.tasks.respond(mid, ExchangeType.IKE_INTERMEDIATE, (notify(NotifyType.INVALID_SYNTAX),))
        sa.fail(STAGE, f"expected a KE payload of {name(ident)}",
                received="no KE payload" if ke is None else name(ke.group))
        return
    try:
        public, shared = dh.respond(ident, ke.data, sa.host.rng)
    except CryptoError as e:
        sa.tasks.respond(mid, ExchangeType.IKE_INTERMEDIATE, (notify(NotifyType.INVALID_SYNTAX),))
        sa.fail(STAGE, f"bad {name(ident)} KE payload: {e}")
        return
    request = sa.opened
    answer = (KE(ident, public),)
    sa.tasks.respond(mid, ExchangeType.IKE_INTERMEDIATE, answer)
    _advance(sa, state, shared, *request,
             sa.unfragmented(ExchangeType.IKE_INTERMEDIATE, mid, True, answer),
             encode_chain(answer)[1])


def _advance(sa: IkeSa, state: Intermediate, shared: bytes, request: bytes,
             request_plain: bytes, response: bytes, response_plain: bytes) -> None:
    """One exchange done: fold its messages into IntAuth under the keys that protected them,
    then SKEYSEED(n) and the new keys (RFC 9370 §2.2.2)."""
    crypto = sa.crypto
    assert crypto is not None
    k = crypto.keys
    state.add(crypto.prf, k.sk_pi, k.sk_pr, request, request_plain, response, response_plain)
    seed = keymat.intermediate_skeyseed(crypto.prf, k.sk_d, shared, sa.ni, sa.nr)
    sk = crypto.sk
    keys = keymat.ike_sa_keys(crypto.prf, sk.encr, sk.integ, seed, sa.ni, sa.nr, sa.spi_i,
                              sa.spi_r)
    sa.set_crypto(crypto.chosen, crypto.prf, SkCipher(sk.encr, sk.integ), keys)
    state.done.append(state.pending.pop(0))
    if not state.pending:
        sa.opened = (b"", b"")  # IntAuth is complete: no message needs keeping
