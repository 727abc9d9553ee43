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
from iked.ikev2 import certs, child_sa, config_payload, intauth, ipcomp, mobike, ppk, proposals
from iked.ikev2 import child as childmod
from iked.ikev2.child import Child
from iked.ikev2.common import State, error_notifies, id_text, notify, notify_name
from iked.ikev2.proposals import Chosen
from iked.ikev2.settings import ChildSettings, ip_identity
from iked.ikev2.tasks import Step, Task
from iked.ikev2.ts import Ts, intersect
from racoon2.config.model import ConfigRequest
from racoon2.crypto import auth
from racoon2.crypto.keymat import IkeKeys
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


def my_id(sa: IkeSa) -> tuple[int, bytes]:
    """Our ID: the first ``my_id``, else our address."""
    return sa.peer.my_ids[0] if sa.peer.my_ids else ip_identity(sa.local.addr)


def octets(sa: IkeSa, id_body: bytes, ours: bool, keys: IkeKeys | None = None) -> bytes:
    """The signed octets (RFC 7296 §2.15) of our ID (``ours``) or the peer's, with ``keys``
    (a PPK's, RFC 8784) or the SA's."""
    assert sa.crypto is not None
    k = keys or sa.crypto.keys
    me_first = sa.initiator == ours
    return auth.signed_octets(
        sa.init_request if me_first else sa.init_response,
        sa.nr if me_first else sa.ni,
        sa.crypto.prf, k.sk_pi if me_first else k.sk_pr, id_body) + intauth.auth_tail(
            sa.intermediate)


def our_auth(sa: IkeSa, id_payload: IDi | IDr, keys: IkeKeys | None = None) -> list[Payload]:
    """Our CERT payloads (with certificates) and AUTH for ``id_payload``, with ``keys`` (a
    PPK's, RFC 8784) or the SA's."""
    assert sa.crypto is not None
    signed = octets(sa, encode_body(id_payload), ours=True, keys=keys)
    if sa.peer.signature and sa.peer.credentials is not None:
        method, data = certs.sign(sa.peer.credentials, signed, sa.peer_hashes)
        return [*certs.cert_payloads(sa.peer.credentials), Auth(method, data)]
    assert sa.peer.psk is not None
    return [Auth(AuthMethod.PSK, auth.psk_auth(sa.crypto.prf, sa.peer.psk, signed))]


def _check_auth(sa: IkeSa, au: Auth, id_payload: IDi | IDr,
                inner: tuple[Payload, ...]) -> str | None:
    """Why the peer's AUTH fails, or None when it verifies."""
    assert sa.crypto is not None
    signed = octets(sa, encode_body(id_payload), ours=False)
    if au.method == AuthMethod.PSK:
        if sa.peer.psk is None:
            return "the peer authenticates with a pre-shared key, none is configured"
        if not hmac.compare_digest(au.data, auth.psk_auth(sa.crypto.prf, sa.peer.psk,
                                                           signed)):
            return "AUTH does not verify: the pre-shared keys differ"
        return None
    if sa.peer.trust is None:
        return f"the peer signs (AUTH method {au.method}); no peers_public_key is configured"
    try:
        key = certs.peer_key(sa.peer.trust, [p for p in inner if isinstance(p, Cert)],
                             id_payload.id_type, id_payload.data, sa.peer.verify_id)
        auth.verify(au.method, key, signed, au.data)
    except CryptoError as e:
        return str(e)
    return None


def send_auth(sa: IkeSa, task: Task, now: Now) -> None:
    """Initiator: the IKE_AUTH request (IDi, CERTs, CERTREQ, AUTH and ``task``'s CHILD_SA)."""
    problem = ppk.initiator_problem(sa)
    if problem is not None:
        sa.fail("IKE_AUTH", problem)
        return
    id_type, id_data = my_id(sa)
    idi = IDi(id_type, id_data)
    inner: list[Payload] = [idi]
    if sa.peer.initial_contact and sa.host.first_contact(sa):
        # RFC 7296 §2.4: only when no other IKE SA with this peer exists, else the peer
        # would drop that one too.
        inner.append(notify(NotifyType.INITIAL_CONTACT))
    inner += certs.certreq(sa.peer.trust)
    if sa.peer.send_peers_id and sa.peer.peers_ids:
        inner.append(IDr(*sa.peer.peers_ids[0]))
    mine = our_auth(sa, idi, sa.ppk_keys)
    inner[1:1] = [p for p in mine if isinstance(p, Cert)]  # CERTs follow IDi
    inner += [p for p in mine if isinstance(p, Auth)]
    if sa.ppk_keys is not None:
        inner += ppk.initiator_notifies(sa, next(
            p for p in our_auth(sa, idi) if isinstance(p, Auth)))
    cfg = config_payload.request(sa.peer.request)
    if cfg is not None:
        inner.append(cfg)
    inner += mobike.offer(sa)
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
    if sa.intermediate is not None and sa.intermediate.pending:
        refuse(sa, msg.message_id, "IKE_AUTH before the additional key exchanges "
                     "(RFC 9370 §2.2.2)", received=f"message ID {msg.message_id}")
        return
    if sa.eap is not None:
        # Imported here: most configurations use no EAP, and iked.ikev2.eap with its methods
        # and RADIUS is 15 ms of every iked start (several times that under TCG).
        from iked.ikev2 import eap

        eap.process_round(sa, task, msg, inner, now)
        return
    idi = first(inner, IDi)
    au = first(inner, Auth)
    if idi is None or (au is None and sa.peer.eap is None):
        refuse(sa, msg.message_id, "IKE_AUTH request lacks IDi or AUTH")
        return
    found = sa.host.peer_by_id(idi.id_type, idi.data)
    if found is not None:
        sa.peer = found
    elif sa.peer.verify_id and sa.peer.peers_ids and \
            (idi.id_type, idi.data) not in sa.peer.peers_ids:
        refuse(sa, msg.message_id, "the initiator's ID is not in peers_id",
                          received=id_text(idi.id_type, idi.data),
                          configured=", ".join(id_text(*i) for i in sa.peer.peers_ids))
        return
    if au is None:
        if sa.peer.eap is None:
            refuse(sa, msg.message_id, "IKE_AUTH request lacks AUTH; EAP is not "
                   f"configured for remote {sa.peer.remote}", "EAP", "no eap { }")
            return
        from iked.ikev2 import eap  # imported here: see above

        eap.begin(sa, msg, idi, inner)
        return
    checked = ppk.responder_auth(sa, inner, au)
    problem = checked if isinstance(checked, str) else _check_auth(sa, checked, idi, inner)
    if problem is not None:
        refuse(sa, msg.message_id, problem,
                          received=id_text(idi.id_type, idi.data))
        return
    accept(sa, task, msg.message_id, idi, inner, now)


def accept(sa: IkeSa, task: Task | None, mid: int, idi: IDi, inner: tuple[Payload, ...],
           now: Now, proof: tuple[Payload, ...] | None = None) -> None:
    """Responder: the initiator is authenticated; answer its CFG_REQUEST and CHILD_SA from
    ``inner`` (the IKE_AUTH request's payloads: the first one's after EAP).  ``proof``: our
    AUTH when it is not the usual IDr and AUTH (after EAP, RFC 7296 §2.16)."""
    sa.peer_id = (idi.id_type, idi.data)
    mobike.negotiate(sa, inner)
    if any(isinstance(p, Notify) and p.type == NotifyType.INITIAL_CONTACT for p in inner):
        sa.host.initial_contact(sa, now)
    sa_p = first(inner, SA)
    tsi = first(inner, TSi)
    tsr = first(inner, TSr)
    transport = any(isinstance(p, Notify) and p.type == NotifyType.USE_TRANSPORT_MODE
                    for p in inner)
    config = _configuration(sa, first(inner, CP))
    if isinstance(config, Notify):
        _auth_done(sa, mid, proof, now, (config,))
        return
    if sa_p is None or tsi is None or tsr is None:
        _auth_done(sa, mid, proof, now, config)
        return
    picked = child_sa.pick(sa, sa_p, tsi, tsr, transport, in_auth=True)
    if isinstance(picked, Notify):
        _auth_done(sa, mid, proof, now, (*config, picked))
        return
    c, chosen, answer = picked
    comp = ipcomp.pick(c, inner) if c.settings.ipcomp else None
    if c.settings.ipcomp and comp is None:
        sa.host.emit(NegotiationFailed(
            sa.name, "CHILD_SA", "no IPComp agreed: the policy bundles ipcomp",
            ", ".join(f"IPComp transform {t}" for _, t in ipcomp.received(inner)) or
            "no IPCOMP_SUPPORTED", ", ".join(f"IPComp transform {t}" for t in
                                             c.settings.ipcomp)))
        _auth_done(sa, mid, proof, now, (*config, notify(NotifyType.NO_PROPOSAL_CHOSEN)))
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
        _auth_done(sa, mid, proof, now, tuple(extra), (c, chosen))

    def cpi(result: object, now: Now) -> None:
        if sa.state is State.DEAD:
            return
        if not isinstance(result, int) or comp is None:
            sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
            sa.drop_larval(c)
            _auth_done(sa, mid, proof, now, (notify(NotifyType.NO_ADDITIONAL_SAS),))
            return
        c.ipcomp = childmod.Ipcomp(comp[1], result, comp[0])
        reply(now)

    def allocated(result: object, now: Now) -> None:
        if sa.state is State.DEAD:
            return
        if not isinstance(result, int):
            sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
            _auth_done(sa, mid, proof, now, (notify(NotifyType.NO_ADDITIONAL_SAS),))
            return
        c.spi_in = result
        if comp is not None:
            sa.host.request(sa, ipcomp.alloc(c, me, peer), cpi)
            return
        reply(now)

    sa.host.request(sa, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid),
                    allocated)


def _configuration(sa: IkeSa, request: CP | None) -> tuple[Payload, ...] | Notify:
    """The CFG_REPLY for a client's CFG_REQUEST: an address of each family it asks for that
    the remote's pools hold (the one its identity held before while that lease lives,
    :mod:`iked.leases`), or INTERNAL_ADDRESS_FAILURE when it gets none because the pools are
    exhausted (RFC 7296 §3.15.4)."""
    provide = sa.peer.provide
    if request is None or request.cfg_type != CfgType.CFG_REQUEST or provide is None:
        return ()
    if provide.pools and not sa.leased:
        held = sa.host.pool_versions(provide.pools)
        short = []
        for version in config_payload.wanted_versions(request):
            if version not in held:
                continue  # no pool of that family: the client goes without (§3.15.4)
            got = sa.host.lease(provide.pools, version, sa.peer_id)
            if got is None:
                short.append(version)
            else:
                sa.leased.append(got)
        if short:
            sa.host.emit(NegotiationFailed(
                sa.name, "IKE_AUTH", f"addresspool {', '.join(provide.pools)} has no "
                f"{' or '.join(f'IPv{v}' for v in short)} address left"))
            if not sa.leased:
                return notify(NotifyType.INTERNAL_ADDRESS_FAILURE)
    subnets = config_payload.split_subnets(provide, [
        n for c in sa.host.children(sa.peer.remote) for t in c.local_ts for n in t.prefixes()])
    return (config_payload.reply(request, [a for _, a in sa.leased], provide, subnets),)


def _auth_done(sa: IkeSa, mid: int, proof: tuple[Payload, ...] | None, now: Now,
               child_payloads: tuple[Payload, ...],
               child: tuple[Child, Chosen] | None = None) -> None:
    if proof is None:
        idr = IDr(*my_id(sa))
        proof = (idr, *our_auth(sa, idr))
    sa.establish(now)
    if child is not None:
        # The kernel requests queue before the response: the shell performs them first,
        # so the inbound SA exists when the initiator starts sending ESP.
        child_sa.install(sa, *child)
    sa.tasks.respond(mid, ExchangeType.IKE_AUTH, (*proof, *ppk.responder_notifies(sa),
                                                   *mobike.answer(sa), *child_payloads))


def refuse(sa: IkeSa, mid: int, reason: str, received: str = "",
           configured: str = "") -> None:
    """Answer AUTHENTICATION_FAILED and end the SA, saying why."""
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
    problem = ppk.settle_initiator(sa, inner) or _check_auth(sa, au, idr, inner)
    if problem is not None:
        sa.fail("IKE_AUTH", f"the responder's AUTH: {problem}",
                   id_text(idr.id_type, idr.data))
        return
    sa.peer_id = (idr.id_type, idr.data)
    mobike.negotiate(sa, inner)
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
        sa.drop_larval(c)
        return
    chosen = proposals.accept(sa_p.proposals[0], c.settings.proposals(bytes(4)))
    got_i, got_r = childmod.from_wire(tsi.selectors), childmod.from_wire(tsr.selectors)
    if chosen is None or not childmod.initiator_accepts(c.settings, got_i, got_r):
        sa.host.emit(NegotiationFailed(
            sa.name, "CHILD_SA", "the responder chose what we did not offer",
            f"{proposals.describe(sa_p.proposals)}; TSi {childmod.show(got_i)}, "
            f"TSr {childmod.show(got_r)}",
            proposals.describe(c.settings.proposals(bytes(4)))))
        sa.drop_larval(c)
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
            sa.drop_larval(c)
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
