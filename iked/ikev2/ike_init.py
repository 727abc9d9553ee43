"""IKE_SA_INIT (RFC 7296 §1.2, §2.6, §2.14, §2.23), both roles, pure.

The initiator's request (``start``, again with a cookie or another group) and its check of the
answer (``on_response``, which goes on to IKE_AUTH once the kernel gave the first CHILD_SA's
inbound SPI); the responder's answer (``respond``; the core checked cookies and the half-open
limit first).  Both derive SKEYSEED and the SA's keys, and detect NAT between the peers.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iked.events import KernelFailed, NatDetected, Now, ProposalMatched
from iked.ikev2 import certs, ike_auth, ike_intermediate, ipcomp, ppk, profiles, proposals
from iked.ikev2.child import Child
from iked.ikev2.common import State, error_notifies, notify, notify_name
from iked.ikev2.nat import nat_notifies, nat_seen
from iked.ikev2.proposals import Chosen
from iked.ikev2.sa import NAT_T_PORT
from iked.ikev2.settings import ChildSettings
from iked.ikev2.tasks import Kind, Task
from racoon2.crypto import dh, keymat
from racoon2.crypto.prf import prf_for
from racoon2.crypto.transforms import TransformType
from racoon2.errors import CryptoError
from racoon2.ikev2 import message
from racoon2.ikev2.constants import FLAG_RESPONSE, ExchangeType, NotifyType
from racoon2.ikev2.message import Message
from racoon2.ikev2.payloads import KE, SA, Nonce, Notify, Payload, first
from racoon2.ikev2.sk import SkCipher
from racoon2.kernel import api
from racoon2.net import Endpoint

if TYPE_CHECKING:
    from iked.ikev2.sa import IkeSa

def _first_group(sa: IkeSa) -> int:
    for p in sa.peer.ike_proposals:
        for t in p.transforms:
            if t.type == TransformType.KE:
                return t.id
    raise CryptoError(f"remote {sa.peer.remote}: no kmp_dh_group")


def start(sa: IkeSa, now: Now, child: ChildSettings | None) -> None:
    """Initiator: send IKE_SA_INIT for a new SA and the CHILD_SA it is made for."""
    send(sa, Task(Kind.IKE_SA_INIT, child=Child(child) if child is not None else None), now)


def send(sa: IkeSa, task: Task, now: Now, group: int | None = None) -> None:
    """Initiator: send IKE_SA_INIT (again, with a cookie or another group)."""
    group = group or (sa.exchange_group or _first_group(sa))
    sa.exchange_group = group
    sa.exchange = dh.start(group, sa.host.rng)
    sa.ni = sa.ni or sa.host.rng.random_bytes(sa.peer.nonce_size)
    payloads: list[Payload] = []
    if sa.cookie:
        payloads.append(notify(NotifyType.COOKIE, sa.cookie))
    payloads += [SA(sa.peer.ike_proposals), KE(group, sa.exchange.public_bytes()),
                 Nonce(sa.ni)]
    payloads += _signature_notify(sa)
    if any(t.type in proposals.ADDKE_TYPES for p in sa.peer.ike_proposals
           for t in p.transforms):
        # RFC 9242 §3.1: we offer additional key exchanges, which need IKE_INTERMEDIATE.
        payloads.append(notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED))
    if sa.peer.fragment_size:
        payloads.append(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))  # RFC 7383 §2.3
    payloads += ppk.offer(sa)
    if sa.peer.nat_traversal:
        payloads += nat_notifies(sa, bytes(8))
    sa.init_request = message.encode(
        sa.header(ExchangeType.IKE_SA_INIT, 0, False, tuple(payloads)))
    sa.tasks.restart()
    sa.tasks.send_plain(task, sa.init_request, now)


def on_response(sa: IkeSa, task: Task, msg: Message, data: bytes, now: Now) -> None:
    """Initiator: the responder's IKE_SA_INIT; on success the first CHILD_SA's SPI is
    allocated and IKE_AUTH sent."""
    notes = {p.type: p for p in msg.payloads if isinstance(p, Notify)}
    if NotifyType.COOKIE in notes and not sa.cookie:
        sa.cookie = notes[NotifyType.COOKIE].data
        send(sa, task, now)
        return
    if NotifyType.INVALID_KE_PAYLOAD in notes:
        data_ = notes[NotifyType.INVALID_KE_PAYLOAD].data
        wanted = int.from_bytes(data_[:2], "big") if len(data_) >= 2 else 0
        offered = {t.id for p in sa.peer.ike_proposals for t in p.transforms
                   if t.type == TransformType.KE}
        if wanted in offered and wanted != sa.exchange_group:
            send(sa, task, now, wanted)
            return
        sa.fail("IKE_SA_INIT", f"peer wants DH group {wanted}",
                configured=f"groups {sorted(offered)}")
        return
    errors = error_notifies(msg.payloads)
    if errors:
        sa.fail("IKE_SA_INIT", f"peer answered {notify_name(errors[0])}",
                configured=proposals.describe(sa.peer.ike_proposals))
        return
    sa_p = first(msg.payloads, SA)
    ke = first(msg.payloads, KE)
    nonce = first(msg.payloads, Nonce)
    if sa_p is None or ke is None or nonce is None or len(sa_p.proposals) != 1:
        sa.fail("IKE_SA_INIT", "response lacks SA, KE or Nonce")
        return
    chosen = proposals.accept(sa_p.proposals[0], sa.peer.ike_proposals)
    if chosen is None or ke.group != sa.exchange_group:
        sa.fail("IKE_SA_INIT", "the responder chose what we did not offer",
                received=proposals.describe(sa_p.proposals),
                configured=proposals.describe(sa.peer.ike_proposals))
        return
    sa.spi_r = msg.spi_r
    sa.nr = nonce.data
    sa.init_response = data
    sa.fragmenting = bool(sa.peer.fragment_size) and \
        NotifyType.IKEV2_FRAGMENTATION_SUPPORTED in notes
    _note_hashes(sa, msg.payloads)
    ppk.agreed(sa, msg.payloads)
    _float(sa, _detect_nat(sa, msg.payloads, msg.spi_r))
    if not _derive(sa, chosen, ke.data) or not ike_intermediate.agree(
            sa, chosen.additional(), ke.group,
            NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED in notes):
        return
    if not ike_intermediate.start(sa, Task(Kind.IKE_INTERMEDIATE, child=task.child), now):
        begin_auth(sa, Task(Kind.IKE_AUTH, child=task.child), now)


def begin_auth(sa: IkeSa, auth: Task, now: Now) -> bool:
    """Initiator: IKE_AUTH once the keys are final (after IKE_SA_INIT, or the last
    IKE_INTERMEDIATE), when the kernel gave the first CHILD_SA's inbound SPI."""
    if auth.child is None:
        ike_auth.send_auth(sa, auth, now)
        return True
    sa.tasks.preparing = auth
    c = auth.child
    me, peer = sa.ends(c)
    sa.host.request(sa, api.AllocSpi(c.settings.protocol, peer, me, c.settings.reqid),
                    functools.partial(_spi_for_auth, sa))
    return True


def _spi_for_auth(sa: IkeSa, result: object, now: Now) -> None:
    task = sa.tasks.preparing
    if sa.state is State.DEAD or task is None:
        return
    c = task.child
    if isinstance(result, int) and c is not None:
        c.spi_in = result
        if c.settings.ipcomp:
            sa.host.request(sa, ipcomp.alloc(c, *sa.ends(c)),
                            functools.partial(_cpi_for_auth, sa))
            return
    elif c is not None:
        sa.host.emit(KernelFailed(sa.name, "allocate an inbound SPI", str(result)))
        task.child = None
    ike_auth.send_auth(sa, task, now)


def _cpi_for_auth(sa: IkeSa, result: object, now: Now) -> None:
    task = sa.tasks.preparing
    if sa.state is State.DEAD or task is None:
        return
    c = task.child
    if isinstance(result, int) and c is not None:
        c.cpi_in = result
    elif c is not None:
        sa.host.emit(KernelFailed(sa.name, "allocate an IPComp CPI", str(result)))
        sa.host.request(sa, api.DelSa(api.SaKey(
            sa.ends(c)[1], sa.ends(c)[0], c.settings.protocol, c.spi_in)), sa.ignore)
        task.child = None
    ike_auth.send_auth(sa, task, now)


def _derive(sa: IkeSa, chosen: Chosen, peer_public: bytes) -> bool:
    assert sa.exchange is not None
    try:
        shared = sa.exchange.shared_secret(peer_public)
    except CryptoError as e:
        sa.fail("IKE_SA_INIT", f"bad KE payload: {e}")
        return False
    _keys(sa, chosen, shared)
    return True


def _keys(sa: IkeSa, chosen: Chosen, shared: bytes) -> None:
    """SKEYSEED and the SA's keys (RFC 7296 §2.14)."""
    prf_t = chosen.get(TransformType.PRF)
    encr = chosen.get(TransformType.ENCR)
    integ = chosen.get(TransformType.INTEG)
    assert prf_t is not None and encr is not None
    prf = prf_for(prf_t.ident)
    seed = keymat.skeyseed(prf, sa.ni, sa.nr, shared)
    keys = keymat.ike_sa_keys(prf, encr, integ, seed, sa.ni, sa.nr, sa.spi_i, sa.spi_r)
    sa.set_crypto(chosen, prf, SkCipher(encr, integ), keys)


def respond(sa: IkeSa, msg: Message, data: bytes, now: Now) -> None:
    """Responder: answer an IKE_SA_INIT request (the core checked cookies and limits)."""
    sa.tasks.start_answer(0, ExchangeType.IKE_SA_INIT)
    sa_p = first(msg.payloads, SA)
    ke = first(msg.payloads, KE)
    nonce = first(msg.payloads, Nonce)
    if sa_p is None or ke is None or nonce is None:
        _refuse(sa, msg, notify(NotifyType.INVALID_SYNTAX))
        sa.fail("IKE_SA_INIT", "request lacks SA, KE or Nonce")
        return
    matched = profiles.choose(sa_p.proposals, sa.peer.ike_sets)
    if matched is None:
        _refuse(sa, msg, notify(NotifyType.NO_PROPOSAL_CHOSEN))
        sa.fail("IKE_SA_INIT", "no proposal chosen",
                received=proposals.describe(sa_p.proposals),
                configured=profiles.configured(sa.peer.ike_sets))
        return
    profile, chosen = matched
    if sa.peer.profiles:
        sa.host.emit(ProposalMatched(sa.name, "IKE SA", profile,
                                     proposals.describe((chosen.proposal(),))))
    group = chosen.get(TransformType.KE)
    assert group is not None
    if ke.group != group.ident:
        _refuse(sa, msg, notify(NotifyType.INVALID_KE_PAYLOAD, struct.pack("!H", group.ident)))
        sa.move(State.DEAD)  # the initiator retries with a new SA; nothing failed
        return
    sa.ni = nonce.data
    sa.nr = sa.host.rng.random_bytes(sa.peer.nonce_size)
    sa.init_request = data
    sa.spi_r = sa.host.new_spi()
    try:
        public, shared = dh.respond(group.ident, ke.data, sa.host.rng)
    except CryptoError as e:
        _refuse(sa, msg, notify(NotifyType.INVALID_SYNTAX))
        sa.fail("IKE_SA_INIT", f"bad KE payload: {e}")
        return
    _keys(sa, chosen, shared)
    supports = any(isinstance(p, Notify) and
                   p.type == NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED for p in msg.payloads)
    if not ike_intermediate.agree(sa, chosen.additional(), group.ident, supports):
        _refuse(sa, msg, notify(NotifyType.NO_PROPOSAL_CHOSEN))
        return
    payloads: list[Payload] = [SA((chosen.proposal(),)), KE(group.ident, public),
                               Nonce(sa.nr)]
    if supports:
        payloads.append(notify(NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED))
    # RFC 7383 §2.3: announced back only to an initiator that announced it.
    sa.fragmenting = bool(sa.peer.fragment_size) and any(
        isinstance(p, Notify) and p.type == NotifyType.IKEV2_FRAGMENTATION_SUPPORTED
        for p in msg.payloads)
    if sa.fragmenting:
        payloads.append(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED))
    payloads += ppk.answer(sa, msg.payloads)
    _note_hashes(sa, msg.payloads)
    _detect_nat(sa, msg.payloads, bytes(8))
    payloads += _signature_notify(sa)
    payloads += certs.certreq(sa.peer.trust)
    if sa.peer.nat_traversal and any(
            isinstance(p, Notify) and p.type == NotifyType.NAT_DETECTION_SOURCE_IP
            for p in msg.payloads):
        payloads += nat_notifies(sa, sa.spi_r)
    sa.init_response = message.encode(
        sa.header(ExchangeType.IKE_SA_INIT, 0, True, tuple(payloads)))
    sa.tasks.answer(0, (sa.init_response,))


def _refuse(sa: IkeSa, msg: Message, note: Notify) -> None:
    data = message.encode(Message(msg.spi_i, bytes(8), ExchangeType.IKE_SA_INIT, 0,
                                  (note,), FLAG_RESPONSE))
    sa.host.send(sa, data)


def _detect_nat(sa: IkeSa, payloads: Sequence[Payload], spi_r: bytes) -> bool:
    """Compare the peer's NAT_DETECTION hashes with the endpoints as we see them; False when
    there was no NAT detection."""
    seen = nat_seen(sa, payloads, spi_r, sa.local, sa.remote)
    if seen is None:
        return False
    sa.behind_nat, peer_moved = seen
    sa.nat = peer_moved or sa.behind_nat
    if sa.nat:
        sa.host.emit(NatDetected(sa.name, sa.behind_nat, peer_moved))
    return True


def _float(sa: IkeSa, detected: bool) -> None:
    """After NAT detection the initiator moves IKE to port 4500 (RFC 7296 §2.23), and with
    MOBIKE offered even without a NAT (RFC 4555 §3.2: a later move may meet one) when both
    speak on the standard port 500 and we listen on 4500 too."""
    mobike = detected and sa.peer.mobike and sa.local.port == sa.remote.port == 500 and \
        sa.host.listens(Endpoint(sa.local.addr, NAT_T_PORT))
    if (sa.nat or mobike) and sa.initiator and sa.local.port != NAT_T_PORT:
        sa.local = Endpoint(sa.local.addr, NAT_T_PORT)
        sa.remote = Endpoint(sa.remote.addr, NAT_T_PORT)


def _signature_notify(sa: IkeSa) -> list[Payload]:
    # RFC 7427: announce the hashes we sign and verify with whenever certificates are in
    # play on either side.
    if sa.peer.signature or sa.peer.trust is not None:
        return [notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, certs.hash_notify_data())]
    return []


def _note_hashes(sa: IkeSa, payloads: Sequence[Payload]) -> None:
    for p in payloads:
        if isinstance(p, Notify) and p.type == NotifyType.SIGNATURE_HASH_ALGORITHMS:
            sa.peer_hashes = certs.parse_hashes(p.data)
