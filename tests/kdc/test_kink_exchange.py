"""The KINK CREATE exchange between alpha and beta against the test KDC, and KINK KEYMAT
checked against an independent RFC 3961/3962 PRF."""

from __future__ import annotations

import hashlib
import math
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kinkd import message as kink
from kinkd.exchange import (
    EspOffer,
    KinkError,
    build_create,
    build_reply,
    process_create,
    process_reply,
)
from kinkd.keymat import esp_keys, keymat
from kinkd.krb5.api import Context, Credentials
from kinkd.krb5.values import Keyblock
from kinkd.replay import ReplayCache
from racoon2.crypto.transforms import TransformType, by_keyword
from racoon2.ikev1.constants import EncapsulationMode, IdType
from racoon2.ikev1.payloads import Identification

from .realm import Realm

pytestmark = pytest.mark.kdc

AES256_CTS_HMAC_SHA1_96 = 18
AES_GCM = EspOffer(by_keyword(TransformType.ENCR, "aes256_gcm16"), None,
                   EncapsulationMode.TUNNEL)
AES_CBC_SHA256 = EspOffer(by_keyword(TransformType.ENCR, "aes128_cbc"),
                          by_keyword(TransformType.INTEG, "hmac_sha2_256"), lifetime=3600)


# --- an independent RFC 3961 simplified-profile PRF for aes256-cts-hmac-sha1-96 ---


def _nfold(data: bytes, nbytes: int) -> bytes:
    """RFC 3961 §5.1: repeat the input, each copy rotated 13 bits right, ones'-complement sum."""
    k, n = len(data) * 8, nbytes * 8
    lcm = k * n // math.gcd(k, n)
    x, mask_k = int.from_bytes(data, "big"), (1 << k) - 1
    stream = 0
    for i in range(lcm // k):
        r = 13 * i % k
        stream = stream << k | ((x >> r) | (x << (k - r))) & mask_k
    total, mask_n = 0, (1 << n) - 1
    for j in range(lcm // n):
        total += stream >> (lcm - (j + 1) * n) & mask_n
        while total > mask_n:
            total = (total & mask_n) + (total >> n)
    return total.to_bytes(nbytes, "big")


def _aes(key: bytes, block: bytes) -> bytes:
    # CBC-CTS of a single block with a zero IV is the block cipher itself.
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def _dk(key: bytes, constant: bytes) -> bytes:
    out = block = _aes(key, _nfold(constant, 16))
    while len(out) < len(key):
        block = _aes(key, block)
        out += block
    return out[: len(key)]


def _prf(key: bytes, data: bytes) -> bytes:
    """RFC 3962's PRF = E(DK(key, "prf"), truncate16(SHA-1(data)))."""
    return _aes(_dk(key, b"prf"), hashlib.sha1(data).digest()[:16])


def test_nfold_matches_rfc3961_vectors() -> None:
    assert _nfold(b"012345", 8).hex() == "be072631276b1955"
    assert _nfold(b"kerberos", 16).hex() == "6b65726265726f737b9b5b2b93132b93"
    assert _nfold(b"Rough Consensus, and Running Code", 8).hex() == "bb6ed30870b7f0e0"


def test_keymat_known_answer_with_aes256_session_key() -> None:
    raw = bytes(range(32))
    key = Keyblock(AES256_CTS_HMAC_SHA1_96, raw)
    spi, ni, nr = struct.pack("!I", 0x01020304), b"N" * 16, b"R" * 20
    seed = bytes([3]) + spi + ni + nr
    k1 = _prf(raw, seed)
    k2 = _prf(raw, k1 + seed)
    k3 = _prf(raw, k2 + seed)
    with Context() as ctx:
        assert ctx.c_prf(key, b"abc") == _prf(raw, b"abc")
        assert keymat(ctx, key, 3, spi, ni, nr, 40) == (k1 + k2 + k3)[:40]
        assert keymat(ctx, key, 3, spi, ni, b"", 16) == _prf(raw, bytes([3]) + spi + ni)
        keys = esp_keys(ctx, key, 0x01020304, ni, nr, AES_CBC_SHA256.encr, AES_CBC_SHA256.integ)
        assert keys.encr == k1 and keys.integ == (k2 + k3)[:32]


# --- the exchange ---


@pytest.fixture
def ticket(realm: Realm, alpha_ctx: Context) -> Iterator[Credentials]:
    """Alpha's service ticket for beta."""
    cc = alpha_ctx.memory_ccache()
    alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc)
    yield alpha_ctx.get_credentials(cc, realm.alpha, realm.beta)


def _respond(realm: Realm, ctx: Context, data: bytes, accepted: tuple[EspOffer, ...],
             replay: ReplayCache | None = None) -> kink.Message:
    request = process_create(ctx, data, keytab=realm.beta_keytab, server=realm.beta,
                             offers=accepted, replay=ReplayCache() if replay is None else replay,
                             now=time.time())
    return kink.decode(build_reply(ctx, request, 0xBBBB0001, os.urandom(16), epoch=2)[0])


def test_optimistic_create_gives_both_sides_the_same_keys(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    ids = (Identification(IdType.IPV4_ADDR, bytes([10, 0, 0, 1])),
           Identification(IdType.IPV4_ADDR, bytes([10, 0, 0, 2])))
    create, initiated = build_create(alpha_ctx, ticket, (AES_GCM, AES_CBC_SHA256), 0xAAAA0001,
                                     os.urandom(16), xid=7, epoch=1, ids=ids)
    assert kink.decode(create).type == kink.MsgType.CREATE

    request = process_create(beta_ctx, create, keytab=realm.beta_keytab, server=realm.beta,
                             offers=(AES_CBC_SHA256, AES_GCM), replay=ReplayCache(),
                             now=time.time())
    assert (request.client, request.peer_epoch, request.xid) == (realm.alpha, 1, 7)
    assert request.chosen == AES_GCM and request.optimistic and request.ids == ids
    reply, responder = build_reply(beta_ctx, request, 0xBBBB0001, os.urandom(16), epoch=2)
    assert not kink.decode(reply).ack_request

    initiator = process_reply(alpha_ctx, initiated, reply)
    assert initiator.offer == responder.offer == AES_GCM
    assert (initiator.inbound_spi, initiator.outbound_spi) == (0xAAAA0001, 0xBBBB0001)
    assert responder.inbound_spi == initiator.outbound_spi
    assert responder.outbound_spi == initiator.inbound_spi
    assert initiator.inbound == responder.outbound
    assert initiator.outbound == responder.inbound
    assert initiator.inbound != initiator.outbound
    assert len(initiator.inbound.encr) == 36 and initiator.inbound.integ == b""
    assert not initiator.ack_required and initiator.peer_epoch == 2


def test_non_first_choice_sends_nr_and_asks_for_ack(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, initiated = build_create(alpha_ctx, ticket, (AES_GCM, AES_CBC_SHA256), 0x1000,
                                     os.urandom(16), xid=8, epoch=1)
    request = process_create(beta_ctx, create, keytab=realm.beta_keytab, server=realm.beta,
                             offers=(AES_CBC_SHA256,), replay=ReplayCache(), now=time.time())
    assert not request.optimistic
    reply, responder = build_reply(beta_ctx, request, 0x2000, os.urandom(16), epoch=2)
    assert kink.decode(reply).ack_request and responder.ack_required

    initiator = process_reply(alpha_ctx, initiated, reply)
    assert initiator.ack_required and initiator.offer == AES_CBC_SHA256
    assert initiator.offer.lifetime == 3600
    assert (initiator.inbound, initiator.outbound) == (responder.outbound, responder.inbound)
    assert len(initiator.outbound.encr) == 16 and len(initiator.outbound.integ) == 32


def test_no_acceptable_transform(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, _ = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1, epoch=1)
    with pytest.raises(KinkError, match="no ESP transform"):
        _respond(realm, beta_ctx, create, (AES_CBC_SHA256,))


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]


def test_forged_checksums_are_refused(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, initiated = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1,
                                     epoch=1)
    with pytest.raises(KinkError, match="checksum does not verify"):
        _respond(realm, beta_ctx, _flip(create, len(create) - 1), (AES_GCM,))

    request = process_create(beta_ctx, create, keytab=realm.beta_keytab, server=realm.beta,
                             offers=(AES_GCM,), replay=ReplayCache(), now=time.time())
    reply, _ = build_reply(beta_ctx, request, 2, b"r" * 16, epoch=2)
    with pytest.raises(KinkError, match="checksum does not verify"):
        process_reply(alpha_ctx, initiated, _flip(reply, len(reply) - 1))


def _reencrypt(ctx: Context, key: Keyblock, data: bytes, usage: int, corrupt: bool) -> bytes:
    """``data`` with KINK_ENCRYPT re-encrypted under ``usage`` (or its ciphertext corrupted)
    and a valid checksum, so that only the encryption is wrong."""
    msg = kink.decode(data)
    enc = next(p for p in msg.payloads if isinstance(p, kink.Encrypt))
    plain = ctx.c_decrypt(key, kink.KEY_USAGE_ENCRYPT, enc.ciphertext)
    ciphertext = ctx.c_encrypt(key, usage, plain)
    if corrupt:
        ciphertext = _flip(ciphertext, len(ciphertext) // 2)
    payloads = tuple(replace(enc, ciphertext=ciphertext) if p is enc else p
                     for p in msg.payloads)
    unsigned = replace(msg, payloads=payloads, checksum=b"")
    checksum = ctx.c_make_checksum(key, kink.KEY_USAGE_CKSUM, kink.encode(unsigned))
    return kink.encode(replace(unsigned, checksum=checksum.contents))


@pytest.mark.parametrize(("usage", "corrupt"), [(kink.KEY_USAGE_CKSUM, False),
                                                (kink.KEY_USAGE_ENCRYPT, True)])
def test_wrong_usage_or_tampered_encrypt_is_refused(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials, usage: int,
    corrupt: bool
) -> None:
    create, _ = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1, epoch=1)
    bad = _reencrypt(alpha_ctx, ticket.session_key, create, usage, corrupt)
    with pytest.raises(KinkError, match="KINK_ENCRYPT does not decrypt"):
        _respond(realm, beta_ctx, bad, (AES_GCM,))


def test_replayed_create_is_refused(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, _ = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1, epoch=1)
    cache = ReplayCache()
    _respond(realm, beta_ctx, create, (AES_GCM,), cache)
    with pytest.raises(KinkError, match="replays an authenticator"):
        _respond(realm, beta_ctx, create, (AES_GCM,), cache)


def test_forged_create_does_not_poison_the_replay_cache(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, _ = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1, epoch=1)
    cache = ReplayCache()
    with pytest.raises(KinkError):
        _respond(realm, beta_ctx, _flip(create, len(create) - 1), (AES_GCM,), cache)
    assert len(cache) == 0
    _respond(realm, beta_ctx, create, (AES_GCM,), cache)


def test_reply_to_another_xid_is_refused(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, ticket: Credentials
) -> None:
    create, initiated = build_create(alpha_ctx, ticket, (AES_GCM,), 1, b"n" * 16, xid=1,
                                     epoch=1)
    reply = kink.encode(_respond(realm, beta_ctx, create, (AES_GCM,)))
    with pytest.raises(KinkError, match="XID"):
        process_reply(alpha_ctx, replace(initiated, xid=2), reply)
