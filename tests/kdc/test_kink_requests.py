"""KINK's other exchanges against the test KDC: DELETE, STATUS and ACK with their REPLYs,
GETTGT and a user-to-user CREATE, and the KRB_ERROR answers (user-to-user required, an
expired ticket) that make an initiator recover instead of failing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from kinkd import exchange as kx
from kinkd import message as kink
from kinkd.krb5.api import CCache, Context, Credentials
from kinkd.krb5.values import KRB5KRB_AP_ERR_TKT_EXPIRED, Krb5Error
from kinkd.replay import ReplayCache
from racoon2.crypto.transforms import TransformType, by_keyword

from .realm import Realm

pytestmark = pytest.mark.kdc

ESP = kx.EspOffer(by_keyword(TransformType.ENCR, "aes128_cbc"),
                  by_keyword(TransformType.INTEG, "hmac_sha1"))


@pytest.fixture
def alpha_cc(realm: Realm, alpha_ctx: Context) -> Iterator[CCache]:
    """Alpha's ccache with its TGT."""
    cc = alpha_ctx.memory_ccache()
    alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc)
    yield cc


@pytest.fixture
def ticket(realm: Realm, alpha_ctx: Context, alpha_cc: CCache) -> Credentials:
    """Alpha's service ticket for beta."""
    return alpha_ctx.get_credentials(alpha_cc, realm.alpha, realm.beta)


def _verify(realm: Realm, ctx: Context, data: bytes, mtype: kink.MsgType,
            replay: ReplayCache | None = None) -> kx.Verified:
    return kx.verify_request(ctx, data, mtype, keytab=realm.beta_keytab, server=realm.beta,
                             replay=replay or ReplayCache(), now=time.time())


def test_delete_names_spis_and_its_reply_verifies(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    data, out = kx.build_request(alpha_ctx, ticket, kink.MsgType.DELETE, xid=11, epoch=5,
                                 quick_mode=(kx.delete_payload([0x1234, 0xABCDEF01]),))
    v = _verify(realm, beta_ctx, data, kink.MsgType.DELETE)
    assert (v.client, v.peer_epoch, v.msg.xid) == (realm.alpha, 5, 11)
    assert kx.deleted_spis(v.quick_mode) == [0x1234, 0xABCDEF01]
    reply = kx.build_plain_reply(beta_ctx, v, epoch=9)
    msg, qm, epoch = kx.open_reply(alpha_ctx, 11, out.auth_context, out.session_key, reply)
    assert (msg.type, qm, epoch) == (kink.MsgType.REPLY, (), 9)


def test_status_and_ack(realm: Realm, alpha_ctx: Context, beta_ctx: Context,
                        ticket: Credentials) -> None:
    status, out = kx.build_request(alpha_ctx, ticket, kink.MsgType.STATUS, xid=3, epoch=1)
    v = _verify(realm, beta_ctx, status, kink.MsgType.STATUS)
    assert v.quick_mode == ()
    reply = kx.build_plain_reply(beta_ctx, v, epoch=2)
    assert kx.open_reply(alpha_ctx, 3, out.auth_context, out.session_key, reply)[2] == 2
    ack, _ = kx.build_request(alpha_ctx, ticket, kink.MsgType.ACK, xid=4, epoch=1)
    assert _verify(realm, beta_ctx, ack, kink.MsgType.ACK).msg.xid == 4
    with pytest.raises(kx.KinkError, match="expected ACK"):
        _verify(realm, beta_ctx, status, kink.MsgType.ACK)


def test_a_reply_from_someone_else_is_refused(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    first, out = kx.build_request(alpha_ctx, ticket, kink.MsgType.STATUS, xid=3, epoch=1)
    second, _ = kx.build_request(alpha_ctx, ticket, kink.MsgType.STATUS, xid=3, epoch=1)
    # A REPLY made for another request (another authenticator) must not verify.
    reply = kx.build_plain_reply(beta_ctx, _verify(realm, beta_ctx, second,
                                                   kink.MsgType.STATUS), epoch=2)
    with pytest.raises(kx.KinkError, match="KINK_AP_REP does not verify"):
        kx.open_reply(alpha_ctx, 3, out.auth_context, out.session_key, reply)
    assert first != second


def test_tgt_payloads_are_byte_exact() -> None:
    body = kink.tgt_req_body("KINK.TEST")
    assert body == b"\x00\x09KINK.TEST" and kink.parse_tgt_req(body) == "KINK.TEST"
    rep = kink.tgt_rep_body("kink/b@R", b"\x61\x03abc")
    # PrincNameLength 8, the name, 2 octets of padding (4 + 2 + 8 = 14 -> 16), TGTlength 5.
    assert rep == b"\x00\x08kink/b@R\x00\x00\x00\x05\x61\x03abc"
    assert kink.parse_tgt_rep(rep) == ("kink/b@R", b"\x61\x03abc")
    msg = kx.build_gettgt(0x01020304, "KINK.TEST")
    assert msg.hex() == ("04100020" "00000001" "01020304" "04000000"
                         "0000000f" "00094b49" "4e4b2e54" "45535400")
    assert kx.process_gettgt(msg) == (0x01020304, "KINK.TEST")
    for bad in (b"", b"\x00\x10KINK"):
        with pytest.raises(Exception, match="KINK_TGT_REQ"):
            kink.parse_tgt_req(bad)


def test_user_to_user_create_through_gettgt(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, alpha_cc: CCache
) -> None:
    """Beta has no keytab here: a normal ticket gets KRB_ERROR 66, GETTGT fetches beta's TGT,
    and the user-to-user ticket made with it carries a CREATE that beta verifies with its
    TGT's session key."""
    beta_cc = beta_ctx.memory_ccache()
    beta_tgt = beta_ctx.get_init_creds_keytab(realm.beta, realm.beta_keytab, beta_cc)
    normal = alpha_ctx.get_credentials(alpha_cc, realm.alpha, realm.beta)
    create, _ = kx.build_create(alpha_ctx, normal, (ESP,), 0x1001, os.urandom(16), xid=1,
                                epoch=1)
    with pytest.raises(kx.KinkError) as refused:
        kx.verify_request(beta_ctx, create, kink.MsgType.CREATE, keytab=None, server=None,
                          replay=ReplayCache(), now=time.time(),
                          user_to_user_key=beta_tgt.session_key)
    assert isinstance(refused.value.__cause__, Krb5Error)
    answer = kx.krb_error_reply(beta_ctx, 1, kx.KRB_AP_ERR_USER_TO_USER_REQUIRED, realm.beta,
                                "no key")
    with pytest.raises(kx.PeerKrbError) as peer_error:
        kx.refused(alpha_ctx, kink.decode(answer))
    assert peer_error.value.error == kx.KRB_AP_ERR_USER_TO_USER_REQUIRED

    xid, wanted = kx.process_gettgt(kx.build_gettgt(2, realm.name))
    reply = kx.build_tgt_reply(xid, realm.beta, beta_tgt.ticket)
    principal, tgt = kx.process_tgt_reply(alpha_ctx, reply, 2)
    assert (wanted, principal, tgt) == (realm.name, realm.beta, beta_tgt.ticket)
    u2u = alpha_ctx.get_credentials(alpha_cc, realm.alpha, realm.beta, user_to_user=tgt)
    assert u2u.is_user_to_user
    create, initiated = kx.build_create(alpha_ctx, u2u, (ESP,), 0x1002, os.urandom(16), xid=3,
                                        epoch=1)
    request = kx.process_create(beta_ctx, create, keytab=None, server=None, offers=(ESP,),
                                replay=ReplayCache(), now=time.time(),
                                user_to_user_key=beta_tgt.session_key)
    data, responder = kx.build_reply(beta_ctx, request, 0x2002, os.urandom(16), epoch=2)
    initiator = kx.process_reply(alpha_ctx, initiated, data)
    assert initiator.outbound == responder.inbound and initiator.inbound == responder.outbound


def test_expired_ticket_is_refused_with_its_krb_error(
    realm: Realm, alpha_ctx: Context, ticket: Credentials
) -> None:
    with Context(realm.krb5_conf) as late:
        late.set_time(ticket.times.endtime + 3600)
        create, _ = kx.build_create(alpha_ctx, ticket, (ESP,), 0x1003, os.urandom(16), xid=5,
                                    epoch=1)
        with pytest.raises(kx.KinkError) as refused:
            kx.verify_request(late, create, kink.MsgType.CREATE, keytab=realm.beta_keytab,
                              server=realm.beta, replay=ReplayCache(skew=1e9),
                              now=time.time())
        cause = refused.value.__cause__
        assert isinstance(cause, Krb5Error) and cause.code == KRB5KRB_AP_ERR_TKT_EXPIRED
        answer = kx.krb_error_reply(late, 5, cause.krb_error, realm.beta, str(cause))
    with pytest.raises(kx.PeerKrbError) as peer_error:
        kx.refused(alpha_ctx, kink.decode(answer))
    assert peer_error.value.error == kx.KRB_AP_ERR_TKT_EXPIRED
