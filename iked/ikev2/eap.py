"""EAP in IKE_AUTH as the responder (RFC 7296 §2.16), pure.

The client's first IKE_AUTH request has IDi but no AUTH: we answer with IDr, our certificate
and AUTH (the client must know the server before it runs EAP) and an EAP Request/Identity.
Each further IKE_AUTH request carries one EAP Response, each answer the next Request, until
EAP Success or Failure.  Then the client sends AUTH keyed with the method's MSK (or, for a
method without one, SK_pi; SK_pr for ours), over the octets of the first request's IDi,
and we answer with our MSK-keyed AUTH, the CFG_REPLY and the CHILD_SA that the first request
asked for (:func:`iked.ikev2.ike_auth.accept`).

With ``eap_only on`` (RFC 5998) and a client that sends EAP_ONLY_AUTHENTICATION, the first
answer leaves out our certificate and AUTH when the method is one of §4's safe ones (mutual,
key-generating, resistant to dictionary attacks: here EAP-TLS only); the MSK-keyed AUTHs at the
end then prove both sides.

The EAP conversation is a :class:`racoon2.eap.server.Server` with a local method from
``eap { method …; users FILE; }``, or with ``method radius`` a
:class:`iked.ikev2.eap_radius.Relay` that hands the same packets to RADIUS servers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iked.events import Now, RemoteAccess
from iked.ikev2 import eap_radius, ike_auth
from iked.ikev2.eap_radius import Relay
from racoon2.config.model import EapMethod
from racoon2.crypto import auth
from racoon2.eap import md5, mschapv2
from racoon2.eap.packet import Type, decode
from racoon2.eap.server import MethodFor, Server, Succeeded
from racoon2.errors import ParseError
from racoon2.ikev2.constants import AuthMethod, ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import EAP, Auth, IDi, IDr, Notify, Payload, encode_body, first

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa
    from iked.ikev2.settings import EapSettings
    from iked.ikev2.tasks import Task

#: The method names the log uses (the IANA names).
NAMES: dict[int, str] = {Type.MSCHAPV2: "EAP-MSCHAPv2", Type.MD5: "EAP-MD5",
                         Type.TLS: "EAP-TLS"}


@dataclass
class EapState:
    """One IKE SA's EAP conversation: the first request's payloads wait for its end."""

    server: Server | Relay
    idi: IDi
    idr: IDr
    first: tuple[Payload, ...] = field(repr=False)
    msk: bytes | None = field(default=None, repr=False)
    user: str | None = None
    method: str = ""


def _method(settings: EapSettings, challenge: bytes) -> tuple[int, MethodFor, bool]:
    """The method's EAP Type, its factory, and whether it is safe for EAP-only (RFC 5998 §4)."""
    if settings.method is EapMethod.TLS:
        # pyOpenSSL is an optional extra: imported only where EAP-TLS is configured.
        from racoon2.eap import tls
        ctx = tls.context(settings.credentials.chain, settings.credentials.key,
                          settings.anchors)
        return Type.TLS, lambda user: tls.Tls(user, ctx), tls.Tls.mutual
    users = settings.users
    assert users is not None
    if settings.method is EapMethod.MD5:
        return Type.MD5, lambda user: md5.Md5(user, users, challenge), md5.Md5.mutual
    return (Type.MSCHAPV2, lambda user: mschapv2.MsChapV2(user, users, challenge),
            mschapv2.MsChapV2.mutual)


def eap_only(settings: EapSettings, safe: bool, inner: tuple[Payload, ...]) -> bool:
    """Whether the first answer leaves out our CERT and AUTH (RFC 5998 §3): the client asked
    with EAP_ONLY_AUTHENTICATION, ``eap_only on`` allows it and the method is ``safe``."""
    asked = any(isinstance(p, Notify) and p.type == NotifyType.EAP_ONLY_AUTHENTICATION
                for p in inner)
    return asked and settings.eap_only and safe


def begin(sa: IkeSa, msg: Message, idi: IDi, inner: tuple[Payload, ...]) -> None:
    """The first IKE_AUTH request without AUTH: prove ourselves, ask who the client is."""
    settings = sa.peer.eap
    assert settings is not None
    rng = sa.host.rng
    server: Server | Relay
    safe = False  # the RADIUS server picks the method after this answer: never EAP-only
    if settings.radius is not None:
        server = Relay(settings.radius, rng.random_bytes(1)[0])
        name = "EAP via RADIUS"
    else:
        kind, method_for, safe = _method(settings, rng.random_bytes(16))
        server = Server(method_for, kind, rng.random_bytes(1)[0])
        name = NAMES[kind]
    id_type, id_data = ike_auth.my_id(sa)
    idr = IDr(id_type, id_data)
    sa.eap = EapState(server, idi, idr, inner, method=name)
    proof: list[Payload] = []
    if eap_only(settings, safe, inner):
        sa.host.emit(RemoteAccess(sa.name, sa.remote, f"{name}: EAP-only authentication "
                                  "(RFC 5998), our certificate and AUTH left out", "IKE SA"))
    else:
        proof = ike_auth.our_auth(sa, idr)
    sa.tasks.respond(msg.message_id, ExchangeType.IKE_AUTH,
                     (idr, *proof, EAP(server.start().encode())))


def _who(state: EapState) -> str:
    return f"{state.method} user {state.user!r}" if state.user else state.method


def process_round(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                  now: Now) -> None:
    """A later IKE_AUTH request: the next EAP Response, or after EAP Success the client's
    MSK-keyed AUTH."""
    state = sa.eap
    assert state is not None
    mid = msg.message_id
    payload = first(inner, EAP)
    if state.server.done:
        au = first(inner, Auth)
        if au is None or state.user is None:
            ike_auth.refuse(sa, mid, f"{_who(state)}: the request after EAP Success "
                            "lacks AUTH")
            return
        _final(sa, task, state, au, mid, now)
        return
    if payload is None:
        ike_auth.refuse(sa, mid, f"{_who(state)}: IKE_AUTH request without its EAP payload")
        return
    if isinstance(state.server, Relay):
        eap_radius.process_round(sa, state, state.server, payload.message, mid)
        return
    try:
        step = state.server.receive(decode(payload.message))
    except ParseError as e:
        ike_auth.refuse(sa, mid, f"{_who(state)}: {e}")
        return
    state.user = state.server.user
    sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (EAP(step.packet.encode()),))
    if step.outcome is None:
        return
    if isinstance(step.outcome, Succeeded):
        state.msk = step.outcome.msk
        sa.host.emit(RemoteAccess(sa.name, sa.remote, f"{_who(state)} authenticated",
                                  "IKE SA"))
        return
    # RFC 3748 §4.2: the EAP Failure went out; the client gives up on this IKE SA.
    sa.fail("IKE_AUTH", f"{_who(state)} refused: {step.outcome.reason}")


def _final(sa: IkeSa, task: Task | None, state: EapState, au: Auth, mid: int,
           now: Now) -> None:
    """RFC 7296 §2.16: both AUTHs keyed with the MSK (SK_pi / SK_pr when there is none)."""
    assert sa.crypto is not None
    keys = sa.crypto.keys
    theirs = auth.psk_auth(sa.crypto.prf, state.msk or keys.sk_pi,
                           ike_auth.octets(sa, encode_body(state.idi), ours=False))
    if au.method != AuthMethod.PSK or not hmac.compare_digest(au.data, theirs):
        ike_auth.refuse(sa, mid, f"{_who(state)}: the AUTH after EAP does not verify "
                        "with the method's key")
        return
    ours = auth.psk_auth(sa.crypto.prf, state.msk or keys.sk_pr,
                         ike_auth.octets(sa, encode_body(state.idr), ours=True))
    sa.eap = None
    if isinstance(state.server, Relay):
        sa.accounting = eap_radius.accounted(sa, state.server, now)
    ike_auth.accept(sa, task, mid, state.idi, state.first, now, (Auth(AuthMethod.PSK, ours),))
