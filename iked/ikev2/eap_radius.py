"""EAP in IKE_AUTH relayed to RADIUS (RFC 3579), pure: ``eap { method radius; }``.

iked asks for the EAP Identity itself (so the log and the RADIUS User-Name have the user);
from then on every EAP Response goes to the RADIUS servers in an Access-Request (the shell
performs :class:`iked.events.RadiusAccess`) and their answer decides: Access-Challenge
carries the next EAP Request, Access-Accept the EAP Success and the MSK (MS-MPPE keys,
RFC 2548), Access-Reject the EAP Failure.  The method (MSCHAPv2, TLS, ...) runs on the
RADIUS server; its users are there only.

Accounting (RFC 2866): Start when the IKE SA is up, Stop when it ends (a rekey carries the
session on).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iked.events import Now, RadiusAccess, RadiusAccounting, RemoteAccess
from racoon2.eap.packet import Code as EapCode
from racoon2.eap.packet import Packet, Type, decode
from racoon2.eap.server import identity_text
from racoon2.errors import ParseError, Racoon2Error
from racoon2.ikev2.constants import ExchangeType
from racoon2.ikev2.payloads import EAP
from racoon2.radius import packet as wire
from racoon2.radius.access import (
    Answer,
    Radius,
    Station,
    Usage,
    access_attributes,
    accounting_attributes,
)

if TYPE_CHECKING:
    from iked.ikev2.eap import EapState
    from iked.ikev2.sa import IkeSa

#: The pool name of an address the RADIUS server assigned (Framed-IP-Address): no
#: addresspool holds it, so the core's release ignores it.
RADIUS_POOL = "radius"


@dataclass
class Relay:
    """One EAP conversation relayed to RADIUS; ``done`` once the server decided."""

    radius: Radius = field(repr=False)
    identifier: int
    user: str | None = None
    identity: bytes = b""  # the EAP Identity's octets, the User-Name (RFC 3579 §2.1)
    state: bytes | None = field(default=None, repr=False)  # RFC 2865 §5.24, echoed
    done: bool = False
    answer: Answer | None = field(default=None, repr=False)

    def start(self) -> Packet:
        """The Request/Identity (RFC 3748 §5.1), asked by iked itself."""
        return Packet(EapCode.REQUEST, self.identifier, Type.IDENTITY)


@dataclass(frozen=True, slots=True)
class Accounted:
    """An IKE SA whose session is accounted: what every Accounting-Request repeats."""

    radius: Radius = field(repr=False)
    station: Station
    session: str
    framed: str | None
    class_: bytes | None = field(repr=False)
    started: Now  # when the session began (a rekey's successor keeps it)


def station(sa: IkeSa, identity: bytes) -> Station:
    """The Access-Request's view of ``sa``: the user, the client's address and ours."""
    return Station(identity, str(sa.remote.addr), str(sa.local.addr))


def process_round(sa: IkeSa, state: EapState, relay: Relay, raw: bytes, mid: int) -> None:
    """One EAP Response from the client: the Identity noted, then relayed."""
    try:
        packet = decode(raw)
    except ParseError as e:
        _refuse(sa, state, relay, mid, str(e))
        return
    if relay.user is None:
        if packet.code != EapCode.RESPONSE or packet.type != Type.IDENTITY:
            _refuse(sa, state, relay, mid, f"EAP code {packet.code} type {packet.type} where "
                    "the Identity was due")
            return
        relay.user = state.user = identity_text(packet.data)
        relay.identity = packet.data
    user = relay.user

    def answered(result: object, now: Now) -> None:
        if sa.eap is not state:
            return  # the IKE SA ended while the server thought
        if not isinstance(result, Answer):
            _refuse(sa, state, relay, mid, f"RADIUS: {result}")
            return
        _decide(sa, state, relay, result, mid)

    sa.host.request(sa, RadiusAccess(relay.radius, user, tuple(access_attributes(
        relay.radius, station(sa, relay.identity), raw, relay.state))), answered)


def _decide(sa: IkeSa, state: EapState, relay: Relay, answer: Answer, mid: int) -> None:
    if answer.code is wire.Code.ACCESS_CHALLENGE:
        if answer.eap is None:
            _refuse(sa, state, relay, mid, "RADIUS Access-Challenge without EAP-Message")
            return
        relay.state = answer.state
        sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (EAP(answer.eap),))
        return
    relay.done = True
    eap = answer.eap
    if answer.code is wire.Code.ACCESS_ACCEPT:
        relay.answer = answer
        state.msk = answer.msk
        if answer.framed_ip is not None:
            # The server's Framed-IP-Address is the lease (RFC 2865 §5.8), no pool's.
            sa.leased = [(RADIUS_POOL, ipaddress.ip_address(answer.framed_ip))]
        sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (EAP(eap or Packet(
            EapCode.SUCCESS, relay.identifier).encode()),))
        sa.host.emit(RemoteAccess(sa.name, sa.remote, f"{_who(state)} authenticated by "
                                  "RADIUS", "IKE SA"))
        return
    why = f" ({answer.message})" if answer.message else ""
    _refuse(sa, state, relay, mid, f"RADIUS Access-Reject{why}", eap)


def _who(state: EapState) -> str:
    return f"{state.method} user {state.user!r}" if state.user else state.method


def _refuse(sa: IkeSa, state: EapState, relay: Relay, mid: int, reason: str,
            eap: bytes | None = None) -> None:
    """RFC 3748 §4.2: EAP Failure to the client, the IKE SA ended, the reason logged once."""
    relay.done = True
    sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (EAP(eap or Packet(
        EapCode.FAILURE, relay.identifier).encode()),))
    sa.fail("IKE_AUTH", f"{_who(state)} refused: {reason}")


def accounted(sa: IkeSa, relay: Relay, now: Now) -> Accounted | None:
    """The accounting of ``sa`` authenticated by ``relay``, None when not accounted."""
    if not relay.radius.accounting or relay.user is None or relay.answer is None:
        return None
    framed = next((str(a) for p, a in sa.leased), None)
    return Accounted(relay.radius, station(sa, relay.identity), sa.name, framed,
                     relay.answer.class_, now)


def account(sa: IkeSa, acct: Accounted, status: wire.AcctStatus, now: Now,
            cause: int | None = None) -> None:
    """Send one Accounting-Request for ``sa``'s session (its failure is only logged)."""
    usage = Usage(seconds=int(now - acct.started))
    attrs = accounting_attributes(acct.radius, acct.station, status, acct.session,
                                  acct.framed, acct.class_, usage, cause)

    def sent(result: object, now: Now) -> None:
        if isinstance(result, Racoon2Error):
            sa.host.emit(RemoteAccess(sa.name, sa.remote, f"RADIUS accounting "
                                      f"{status.name.lower()}: {result}", "IKE SA"))

    sa.host.request(sa, RadiusAccounting(acct.radius, acct.session, tuple(attrs)), sent)
