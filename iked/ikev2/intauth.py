"""Bookkeeping of RFC 9370's additional key exchanges on one IKE SA, pure.

An IKE SA that agreed additional key exchanges in IKE_SA_INIT holds an :class:`Intermediate`:
the exchanges still to run, in position order, the ones done, and the running IntAuth values
(RFC 9242 §3.3.2) that IKE_AUTH's AUTH payloads then cover.
:mod:`iked.ikev2.ike_intermediate` drives those exchanges; :mod:`iked.ikev2.ike_auth` appends
:func:`auth_tail` to the signed octets.  An IKE SA rekey's IKE_FOLLOWUP_KE exchanges
(:mod:`iked.ikev2.ike_followup`) keep a :class:`FollowUp`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from iked.events import Now
from racoon2.crypto.prf import Prf
from racoon2.crypto.transforms import TransformType, by_id
from racoon2.errors import CryptoError
from racoon2.ikev2 import message
from racoon2.ikev2.message import HEADER
from racoon2.ikev2.payloads import SK

#: Where the IKE header's Length field sits (RFC 7296 §3.1).
_LENGTH_AT = HEADER.size - 4


@dataclass
class Intermediate:
    """The IKE_INTERMEDIATE exchanges of one IKE SA and what IKE_AUTH signs of them."""

    #: The additional key exchanges (KE transform IDs) still to run, in position order.
    pending: list[int]
    #: The key exchanges done so far (IKE_SA_INIT's first), for the status and the logs.
    done: list[int] = field(default_factory=list)
    exchanges: int = 0                              # IKE_INTERMEDIATE exchanges completed
    int_i: bytes = field(default=b"", repr=False)   # IntAuth_iN: the initiator's messages
    int_r: bytes = field(default=b"", repr=False)   # IntAuth_rN: the responder's
    #: The initiator's request in flight and its inner payloads' octets (IntAuth_iN's input).
    request: tuple[bytes, bytes] = field(default=(b"", b""), repr=False)

    def add(self, prf: Prf, sk_pi: bytes, sk_pr: bytes, request: bytes, request_plain: bytes,
            response: bytes, response_plain: bytes) -> None:
        """Fold one completed exchange into IntAuth_i and IntAuth_r, with the SK_pi/SK_pr
        that protected it (RFC 9242 §3.3.2: IntAuth_iN = prf(SK_piN, IntAuth_i(N-1) |
        IntAuth_iN_A | IntAuth_iN_P), likewise for r)."""
        self.int_i = prf.compute(sk_pi, self.int_i + octets(request, request_plain))
        self.int_r = prf.compute(sk_pr, self.int_r + octets(response, response_plain))
        self.exchanges += 1


def name(ident: int) -> str:
    """A key exchange's name for logs and the status: ``ML_KEM_768``."""
    try:
        return by_id(TransformType.KE, ident).name
    except CryptoError:
        return f"KE {ident}"


def octets(data: bytes, plain: bytes) -> bytes:
    """IntAuth_A | IntAuth_P of one protected IKE_INTERMEDIATE message ``data`` whose inner
    payloads are ``plain``: the octets from the IKE header to the Encrypted payload's header,
    then the inner payloads, with the IKE header's Length and the Encrypted payload's Payload
    Length as if the payload held only ``plain`` (no IV, padding or ICV; RFC 9242 §3.3.2)."""
    sk = message.decode(data).payloads[-1]
    assert isinstance(sk, SK)
    head = bytearray(data[: len(data) - len(sk.data)])
    struct.pack_into("!I", head, _LENGTH_AT, len(head) + len(plain))
    struct.pack_into("!H", head, len(head) - 2, 4 + len(plain))
    return bytes(head) + plain


def auth_tail(state: Intermediate | None) -> bytes:
    """What the AUTH octets get after MACedIDFor[I|R]: IntAuth_iN | IntAuth_rN |
    IKE_AUTH_MID, once any IKE_INTERMEDIATE exchange took place (RFC 9242 §3.3.2); the
    IKE_AUTH request's message ID follows the intermediates' (IKE_SA_INIT's is 0)."""
    if state is None or not state.exchanges:
        return b""
    return state.int_i + state.int_r + struct.pack("!I", state.exchanges + 1)


@dataclass
class FollowUp:
    """An IKE SA rekey's additional key exchanges in progress (RFC 9370 §2.2.4): the ones
    still to run, the shared secrets so far (SK(0) first), the responder's current link data,
    what to do with SK(0), SK(1), ..., SK(n) once all are done, and with the reason when
    they fail (an IKE SA rekey's or a CHILD_SA's, named by ``stage``)."""

    pending: list[int]
    shares: list[bytes] = field(repr=False)
    link: bytes
    finish: Callable[[Sequence[bytes], Now], object] = field(repr=False)
    abandon: Callable[[str, Now], object] = field(repr=False)
    stage: str = "IKE SA rekey"
    #: Responder: ``finish`` before the last answer (a CHILD_SA's kernel SAs go in first).
    install_first: bool = False
