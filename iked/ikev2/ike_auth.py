"""IKE_AUTH (RFC 7296 §1.2, §2.15): identities, authentication and the first CHILD_SA, pure.

Functions over one :class:`~iked.ikev2.sa.IkeSa`: the initiator's request (``send_auth``) and
its check of the answer (``process_response``), the responder's check of the request and its
answer (``process_request``).  Pre-shared keys use the "Key Pad for IKEv2" MAC; certificates
are :mod:`iked.ikev2.certs`.  The CHILD_SA the exchange carries is chosen and installed by
:mod:`iked.ikev2.child_sa`.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from iked.events import AddressLeased, KernelFailed, NegotiationFailed, Now
from iked.ikev2 import certs, child_sa, config_payload, ipcomp, proposals
from iked.ikev2 import child as childmod
from iked.ikev2.child import Child
from iked.ikev2.common import State, error_notifies, id_text, notify, notify_name
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings, ip_identity
from iked.ikev2.tasks import Step, Task
from iked.ikev2.ts import Ts, intersect
from racoon2.config.model import ConfigRequest
from racoon2.crypto import auth
from racoon2.errors import CryptoError
from racoon2.ikev2.constants import AuthMethod, CfgType, ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import (
    CP,
    SA,
    Auth,
    Cert,
    IDi,
    IDr,
    Notify,
    Payload,
    TSi,
    TSr,
    encode_body,
    first,
)
from racoon2.kernel import api
from racoon2.net import Address

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa


def _my_id(sa: IkeSa) -> tuple[int, bytes]:
    return sa.peer.my_ids[0] if sa.peer.my_ids else ip_identity(sa.local.addr)


def _octets(sa: IkeSa, id_body: bytes, ours: bool) -> bytes:
    assert sa.crypto is not None
    k = sa.crypto.keys
    me_first = sa.initiator == ours
    return auth.signed_octets(
        sa.init_request if me_first else sa.init_response,
        sa.nr if me_first else sa.ni,
        sa.crypto.prf, k.sk_pi if me_first else k.sk_pr, id_body)


def _our_auth(sa: IkeSa, id_payload: IDi | IDr) -> list[Payload]:
    """Our CERT payloads (with certificates) and AUTH for ``id_payload``."""
    assert sa.crypto is not None
    octets = _octets(sa, encode_body(id_payload), ours=True)
    if sa.peer.signature and sa.peer.credentials is not None:
        method, data = certs.sign(sa.peer.credentials, octets, sa.peer_hashes)
        return [*certs.cert_payloads(sa.peer.credentials), Auth(method, data)]
    assert sa.peer.psk is not None
    return [Auth(AuthMethod.PSK, auth.psk_auth(sa.crypto.prf, sa.peer.psk, octets))]


def _check_auth(sa: IkeSa, au: Auth, id_payload: IDi | IDr,
                inner: tuple[Payload, ...]) -> str | None:
    """Why the peer's AUTH fails, or None when it verifies."""
    assert sa.crypto is not None
    octets = _octets(sa, encode_body(id_payload), ours=False)
    if au.method == AuthMethod.PSK:
        if sa.peer.psk is None:
            return "the peer authenticates with a pre-shared key, none is configured"
        if not hmac.compare_digest(au.data, auth.psk_auth(sa.crypto.prf, sa.peer.psk,
                                                           octets)):
            return "AUTH does not verify: the pre-shared keys differ"
        return None
    if sa.peer.trust is None:
        return f"the peer signs (AUTH method {au.method}); no peers_public_key is configured"
    try:
        key = certs.peer_key(sa.peer.trust, [p for p in inner if isinstance(p, Cert)],
                             id_payload.id_type, id_payload.data, sa.peer.verify_id)
        auth.verify(au.method, key, octets, au.data)
    except CryptoError as e:
        return str(e)
    return None


def send_auth(sa: IkeSa, task: Task, now: Now) -> None:
    """Initiator: the IKE_AUTH request (IDi, CERTs, CERTREQ, AUTH and ``task``'s CHILD_SA)."""
    id_type, id_data = _my_id(sa)
    idi = IDi(id_type, id_data)
    inner: list[Payload] = [idi]
    if sa.peer.initial_contact and sa.host.first_contact(sa):
        # RFC 7296 §2.4: only when no other IKE SA with this peer exists, else the peer
        # would drop that one too.
        inner.append(notify(NotifyType.INITIAL_CONTACT))
    inner += certs.certreq(sa.peer.trust)
    if sa.peer.send_peers_id and sa.peer.peers_ids:
        inner.append(IDr(*sa.peer.peers_ids[0]))
    mine = _our_auth(sa, idi)
    inner[1:1] = [p for p in mine if isinstance(p, Cert)]  # CERTs follow IDi
    inner += [p for p in mine if isinstance(p, Auth)]
    cfg = config_payload.request(sa.peer.request)
    if cfg is not None:
        inner.append(cfg)
    c = task.child
    if c is not None and c.spi_in:
        if not c.settings.tunnel:
            inner.append(notify(NotifyType.USE_TRANSPORT_MODE))
        inner += ipcomp.offer(c)
        inner += [SA(c.settings.proposals(struct.pack("!I", c.spi_in))),
                  TSi(childmod.to_wire(c.settings.local_ts)),
                  TSr(childmod.to_wire(c.settings.remote_ts))]
    sa.move(State.AUTH_SENT)
    sa.tasks.request(task, ExchangeType.IKE_AUTH, tuple(inner), now)


def process_request(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                    now: Now) -> None:
    """Responder: check who the initiator is and its AUTH, choose the CHILD_SA, answer."""
    idi = first(inner, IDi)
    au = first(inner, Auth)
    if idi is None or au is None:
        _auth_refuse(sa, msg.message_id, "IKE_AUTH request lacks IDi or AUTH")
        return
    found = sa.host.peer_by_id(idi.id_type, idi.data)
    if found is not None:
        sa.peer = found
    elif sa.peer.verify_id and sa.peer.peers_ids and \
            (idi.id_type, idi.data) not in sa.peer.peers_ids:
        _auth_refuse(sa, msg.message_id, "the initiator's ID is not in peers_id",
                          received=id_text(idi.id_type, idi.data),
                          configured=", ".join(id_text(*i) for i in sa.peer.peers_ids))
        return
    problem = _check_auth(sa, au, idi, inner)
    if problem is not None:
        _auth_refuse(sa, msg.message_id, problem,
                          received=id_text(idi.id_type, idi.data))
        return
    sa.peer_id = (idi.id_type, idi.data)
    if any(isinstance(p, Notify) and p.type == NotifyType.INITIAL_CONTACT for p in inner):
        sa.host.initial_contact(sa, now)
    sa_p = first(inner, SA)
    tsi = first(inner, TSi)
    tsr = first(inner, TSr)
    transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE
                    for p in inner)
    config = _configuration(sa, first(inner, CP))
    if isinstance(config, Notify):
        _auth_done(sa, msg.message_id, now, (config,))
        return
    if sa_p is None or tsi is None or tsr is None:
        _auth_done(sa, msg.message_id, now, config)
        return
    picked = child_sa.pick(sa, sa_p, tsi, tsr, transport)
    if isinstance(picked, Notify):
        _auth_done(sa, msg.message_id, now, (*config, picked))
        return
    c, chosen, answer = picked
    comp = ipcomp.pick(c, inner) if c.settings.ipcomp else None
    if c.settings.ipcomp and comp is None:
        sa.host.emit(NegotiationFailed(
            sa.name, "CHILD_SA", "no IPComp agreed: the policy bundles ipcomp",
            ", ".join(f"IPComp transform {t}" for _, t in ipcomp.received(inner)) or
            "no IPCOMP_SUPPORTED", ", ".join(f"IPComp transform {t}" for t in
                                             c.settings.ipcomp)))
        _auth_done(sa, msg.message_id, now, (*config, notify(NotifyType.NO_PROPOSAL_CHOSEN)))
        return
    if task is not None:
        task.child, task.step = c, Step.KERNEL
    c.spi_out = int.from_bytes(chosen.spi, "big")
    me, peer = sa.ends(c)

    def reply(now: Now) -> None:
        extra: list[Payload] = list(config)
        if not c.settings.tunnel:
            extra.append(notify(NotifyType.USE_TRANSPORT_MODE))
        extra += ipcomp.answer(c)
        extra += [SA((chosen.proposal(struct.pack("!I", c.spi_in)),)),
                  TSi(childmod.to_wire(answer[0])), TSr(childmod.to_wire(answer[1]))]
        _auth_done(sa, msg.message_id, now, tuple(extra), (c, chosen))

    def cpi(result: object, now: Now) -> None:
        if sa.state is State.DEAD:
            return
        if not isinstance(result, int) or comp is None:
            sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
            sa.host.request(sa, api.DelSa(api.SaKey(peer, me, c.settings.protocol, c.spi_in)),
                            sa.ignore)
            _auth_done(sa, msg.message_id, now, (notify(NotifyType.NO_ADDITIONAL_SAS),))
            return
        c.ipcomp = childmod.Ipcomp(comp[1], result, comp[0])
        reply(now)

    def allocated(result: object, now: Now) -> None:
        if sa.state is State.DEAD:
            return
        if not isinstance(result, int):
            sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
            _auth_done(sa, msg.message_id, now, (notify(NotifyType.NO_ADDITIONAL_SAS),))
            return
        c.spi_in = result
        if comp is not None:
            sa.host.request(sa, ipcomp.alloc(c, me, peer), cpi)
            return
        reply(now)

    sa.host.request(sa, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid),
                    allocated)


def _configuration(sa: IkeSa, request: CP | None) -> tuple[Payload, ...] | Notify:
    """The CFG_REPLY for a client's CFG_REQUEST (with an address from the remote's pool), or
    INTERNAL_ADDRESS_FAILURE when the pool has none left."""
    provide = sa.peer.provide
    if request is None or request.cfg_type != CfgType.CFG_REQUEST or provide is None:
        return ()
    version = config_payload.wanted_version(request)
    if provide.pool is not None and version is not None and sa.leased is None:
        addr = sa.host.lease(provide.pool, version)
        if addr is None:
            sa.host.emit(NegotiationFailed(sa.name, "IKE_AUTH", f"addresspool {provide.pool} "
                                           f"has no IPv{version} address left"))
            return notify(NotifyType.INTERNAL_ADDRESS_FAILURE)
        sa.leased = (provide.pool, addr)
    return (config_payload.reply(request, sa.leased[1] if sa.leased else None, provide),)


def _auth_done(sa: IkeSa, mid: int, now: Now, child_payloads: tuple[Payload, ...],
               child: tuple[Child, Chosen] | None = None) -> None:
    id_type, id_data = _my_id(sa)
    idr = IDr(id_type, id_data)
    proof = _our_auth(sa, idr)
    sa.establish(now)
    if child is not None:
        # The kernel requests queue before the response: the shell performs them first,
        # so the inbound SA exists when the initiator starts sending ESP.
        child_sa.install(sa, *child)
    sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (idr, *proof, *child_payloads))


def _auth_refuse(sa: IkeSa, mid: int, reason: str, received: str = "",
                 configured: str = "") -> None:
    sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (notify(NotifyType.AUTHENTICATION_FAILED),))
    sa.fail("IKE_AUTH", reason, received, configured)


def process_response(sa: IkeSa, task: Task | None, msg: Message, inner: tuple[Payload, ...],
                     now: Now) -> None:
    """Initiator: check the responder's ID and AUTH, then install the CHILD_SA it accepted."""
    errors = error_notifies(inner)
    idr = first(inner, IDr)
    au = first(inner, Auth)
    if idr is None or au is None:
        sa.fail("IKE_AUTH", "peer answered " + (
            notify_name(errors[0]) if errors else "without IDr or AUTH"))
        return
    if sa.peer.verify_id and sa.peer.peers_ids and \
            (idr.id_type, idr.data) not in sa.peer.peers_ids:
        sa.fail("IKE_AUTH", "the responder's ID is not in peers_id",
                   id_text(idr.id_type, idr.data),
                   ", ".join(id_text(*i) for i in sa.peer.peers_ids))
        return
    problem = _check_auth(sa, au, idr, inner)
    if problem is not None:
        sa.fail("IKE_AUTH", f"the responder's AUTH: {problem}",
                   id_text(idr.id_type, idr.data))
        return
    sa.peer_id = (idr.id_type, idr.data)
    _configured(sa, first(inner, CP), errors)
    sa.establish(now)
    c = task.child if task is not None else None
    if c is None or not c.spi_in:
        return
    if sa.cfg_reply is not None:
        c.settings = leased_settings(c.settings, config_payload.leases(sa.cfg_reply))
    sa_p = first(inner, SA)
    tsi = first(inner, TSi)
    tsr = first(inner, TSr)
    if sa_p is None or tsi is None or tsr is None or len(sa_p.proposals) != 1:
        sa.host.emit(NegotiationFailed(
            sa.name, "CHILD_SA", "no CHILD_SA in the response",
            notify_name(errors[0]) if errors else ""))
        _drop_larval(sa, c)
        return
    chosen = proposals.accept(sa_p.proposals[0], c.settings.proposals(bytes(4)))
    got_i, got_r = childmod.from_wire(tsi.selectors), childmod.from_wire(tsr.selectors)
    if chosen is None or not childmod.initiator_accepts(c.settings, got_i, got_r):
        sa.host.emit(NegotiationFailed(
            sa.name, "CHILD_SA", "the responder chose what we did not offer",
            f"{proposals.describe(sa_p.proposals)}; TSi {childmod.show(got_i)}, "
            f"TSr {childmod.show(got_r)}",
            proposals.describe(c.settings.proposals(bytes(4)))))
        _drop_larval(sa, c)
        return
    if c.settings.ipcomp:
        # Our templates require IPComp (RFC 7296 §2.22 lets a responder decline it).
        c.ipcomp = ipcomp.agreed(c, inner)
        if c.ipcomp is None:
            sa.host.emit(NegotiationFailed(
                sa.name, "CHILD_SA", "the responder did not agree to IPComp",
                ", ".join(f"IPComp transform {t}" for _, t in ipcomp.received(inner)) or
                "no IPCOMP_SUPPORTED",
                ", ".join(f"IPComp transform {t}" for t in c.settings.ipcomp)))
            _drop_larval(sa, c)
            return
    c.spi_out = int.from_bytes(chosen.spi, "big")
    child_sa.install(sa, c, chosen)


def _configured(sa: IkeSa, cp: CP | None, errors: list[int]) -> None:
    """Initiator: keep what the CFG_REPLY gave us and have the shell put the addresses on the
    interface; a responder that leased none is reported, the IKE SA goes on without."""
    if not sa.peer.request:
        return
    if cp is not None and cp.cfg_type == CfgType.CFG_REPLY:
        sa.cfg_reply = config_payload.parse_reply(cp)
    wanted = sa.peer.request & (ConfigRequest.IP4 | ConfigRequest.IP6)
    got = config_payload.leases(sa.cfg_reply) if sa.cfg_reply else ()
    if wanted and not got:
        sa.host.emit(NegotiationFailed(
            sa.name, "IKE_AUTH", "the responder leased us no address",
            notify_name(errors[0]) if errors else "no INTERNAL_IP4/6_ADDRESS in its CFG_REPLY",
            "request { ip4/ip6; }"))
    if got:
        sa.host.emit(AddressLeased(sa.name, sa.peer.remote, sa.remote.addr, got))


def leased_settings(settings: ChildSettings, leases: Sequence[Address]) -> ChildSettings:
    """``settings`` with our side narrowed to the leased addresses: the CHILD_SA's traffic
    has them as its source (RFC 7296 §2.19)."""
    if not leases:
        return settings
    local = tuple(t for t in (intersect(Ts(a, a), mine) for a in leases
                              for mine in settings.local_ts) if t is not None)
    return replace(settings, local_ts=local) if local else settings


def _drop_larval(sa: IkeSa, c: Child) -> None:
    """Delete the inbound SPI (and CPI) reserved for a CHILD_SA that did not come up."""
    peer, me = sa.ends(c)[1], sa.ends(c)[0]
    sa.host.request(sa, api.DelSa(api.SaKey(peer, me, c.settings.protocol, c.spi_in)),
                    sa.ignore)
    if c.cpi_in:
        sa.host.request(sa, api.DelSa(api.SaKey(peer, me, api.Proto.IPCOMP, c.cpi_in)),
                        sa.ignore)
