"""kinkd.krb5 against a real MIT KDC: the AP exchange KINK runs, user-to-user, crypto with
KINK's key usages, KRB-ERROR, expiry and skew, and the async wrapper with a dead KDC."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinkd.krb5.api import Context, Credentials
from kinkd.krb5.kdc import AsyncKdc
from kinkd.krb5.values import (
    ERROR_TABLE_BASE_KRB5,
    KEY_USAGE_KINK_CHECKSUM,
    KEY_USAGE_KINK_ENCRYPT,
    KRB5_KDC_UNREACH,
    KRB5KRB_AP_ERR_BAD_INTEGRITY,
    KRB5KRB_AP_ERR_MODIFIED,
    KRB5KRB_AP_ERR_SKEW,
    KRB5KRB_AP_ERR_TKT_EXPIRED,
    Krb5Error,
)

from .realm import Realm

pytestmark = pytest.mark.kdc


def _tgt(ctx: Context, principal: str, keytab: str) -> Credentials:
    return ctx.get_init_creds_keytab(principal, keytab, ctx.memory_ccache())


@pytest.fixture
def alpha_ticket(realm: Realm, alpha_ctx: Context) -> Iterator[Credentials]:
    """Alpha's service ticket for beta, as a KINK initiator would hold it."""
    cc = alpha_ctx.memory_ccache()
    alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc)
    yield alpha_ctx.get_credentials(cc, realm.alpha, realm.beta)


def test_tgt_from_keytab_into_memory_ccache(realm: Realm, alpha_ctx: Context) -> None:
    cc = alpha_ctx.memory_ccache()
    tgt = alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc, lifetime=600)
    assert tgt.client == realm.alpha
    assert tgt.server == f"krbtgt/{realm.name}@{realm.name}"
    assert cc.name.startswith("MEMORY:")
    assert 0 < tgt.times.endtime - tgt.times.authtime <= 600
    assert abs(tgt.times.authtime - time.time()) < 60
    assert tgt.session_key.contents and not tgt.is_user_to_user
    # The TGT is in the cache: a service ticket needs no second AS exchange.
    assert alpha_ctx.get_credentials(cc, realm.alpha, realm.beta).server == realm.beta


def test_ap_req_ap_rep_exchange(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, alpha_ticket: Credentials
) -> None:
    ap_req, alpha_ac = alpha_ctx.mk_req_extended(alpha_ticket, subkey=True)
    assert ap_req[0] == 0x6E  # [APPLICATION 14] AP-REQ

    beta_ac, info = beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab, server=realm.beta)
    assert (info.client, info.server) == (realm.alpha, realm.beta)
    assert info.session_key == alpha_ticket.session_key
    assert info.times == alpha_ticket.times
    ctime, cusec = beta_ac.authenticator_time
    assert abs(ctime - time.time()) < 60 and 0 <= cusec < 1_000_000

    ap_rep = beta_ctx.mk_rep(beta_ac)
    assert ap_rep[0] == 0x6F  # [APPLICATION 15] AP-REP
    alpha_ctx.rd_rep(alpha_ac, ap_rep)

    assert alpha_ac.session_key == beta_ac.session_key == alpha_ticket.session_key
    assert alpha_ac.send_subkey is not None
    assert alpha_ac.send_subkey == beta_ac.recv_subkey
    assert beta_ac.send_subkey == alpha_ac.recv_subkey
    assert alpha_ac.send_subkey != alpha_ac.session_key

    # Keys agree in use too: what beta encrypts, alpha decrypts.
    key = beta_ac.session_key
    assert key is not None
    ciphertext = beta_ctx.c_encrypt(key, KEY_USAGE_KINK_ENCRYPT, b"KINK_ENCRYPT body")
    assert alpha_ctx.c_decrypt(alpha_ticket.session_key, KEY_USAGE_KINK_ENCRYPT, ciphertext) == (
        b"KINK_ENCRYPT body"
    )


def test_no_krb5_replay_cache(realm: Realm, beta_ctx: Context, alpha_ctx: Context,
                              alpha_ticket: Credentials) -> None:
    # kinkd's own replay cache decides about replays, so libkrb5 must accept one twice.
    ap_req, _ = alpha_ctx.mk_req_extended(alpha_ticket)
    first, _ = beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab)
    second, _ = beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab)
    assert first.authenticator_time == second.authenticator_time


def test_ap_req_without_mutual_or_subkey(
    realm: Realm, alpha_ctx: Context, beta_ctx: Context, alpha_ticket: Credentials
) -> None:
    ap_req, alpha_ac = alpha_ctx.mk_req_extended(alpha_ticket, mutual=False, checksum_data=b"x")
    beta_ac, _ = beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab)
    assert alpha_ac.send_subkey is None and beta_ac.recv_subkey is None


def test_ap_req_for_someone_else_is_rejected(
    realm: Realm, alpha_ctx: Context, alpha_ticket: Credentials
) -> None:
    ap_req, _ = alpha_ctx.mk_req_extended(alpha_ticket)
    with pytest.raises(Krb5Error) as e:
        alpha_ctx.rd_req(ap_req, keytab=realm.alpha_keytab)  # alpha holds no key for beta
    assert "not found in keytab" in e.value.message and realm.beta in e.value.message


def test_corrupted_ap_req_raises(realm: Realm, alpha_ctx: Context, beta_ctx: Context,
                                 alpha_ticket: Credentials) -> None:
    ap_req, _ = alpha_ctx.mk_req_extended(alpha_ticket)
    forged = bytearray(ap_req)
    forged[-5] ^= 0xFF  # inside the encrypted authenticator
    with pytest.raises(Krb5Error) as e:
        beta_ctx.rd_req(bytes(forged), keytab=realm.beta_keytab)
    assert e.value.code in (KRB5KRB_AP_ERR_BAD_INTEGRITY, KRB5KRB_AP_ERR_MODIFIED)
    with pytest.raises(Krb5Error):
        beta_ctx.rd_req(b"not an AP-REQ", keytab=realm.beta_keytab)


def test_user_to_user(realm: Realm, alpha_ctx: Context, beta_ctx: Context) -> None:
    # Beta has a TGT (it would send it in KINK's TGT_REP); alpha asks for a ticket sealed in
    # that TGT's session key, and beta verifies it without touching its keytab.
    beta_tgt = _tgt(beta_ctx, realm.beta, realm.beta_keytab)
    alpha_cc = alpha_ctx.memory_ccache()
    alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, alpha_cc)
    u2u = alpha_ctx.get_credentials(alpha_cc, realm.alpha, realm.beta, user_to_user=beta_tgt)
    assert u2u.is_user_to_user and u2u.server == realm.beta

    ap_req, alpha_ac = alpha_ctx.mk_req_extended(u2u, subkey=True)
    beta_ac, info = beta_ctx.rd_req(ap_req, user_to_user_key=beta_tgt.session_key)
    assert info.client == realm.alpha and info.session_key == u2u.session_key
    alpha_ctx.rd_rep(alpha_ac, beta_ctx.mk_rep(beta_ac))
    assert alpha_ac.send_subkey == beta_ac.recv_subkey
    assert alpha_ac.session_key == beta_ac.session_key

    # Not sealed in beta's long-term key: the keytab cannot open it.
    with pytest.raises(Krb5Error):
        beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab)


def test_encrypt_decrypt_usage_39(alpha_ctx: Context, alpha_ticket: Credentials) -> None:
    key = alpha_ticket.session_key
    for plaintext in (b"", b"a", b"ISAKMP payloads " * 40):
        ciphertext = alpha_ctx.c_encrypt(key, KEY_USAGE_KINK_ENCRYPT, plaintext)
        assert len(ciphertext) > len(plaintext)
        assert alpha_ctx.c_decrypt(key, KEY_USAGE_KINK_ENCRYPT, ciphertext) == plaintext
    ciphertext = alpha_ctx.c_encrypt(key, KEY_USAGE_KINK_ENCRYPT, b"secret")
    assert ciphertext != alpha_ctx.c_encrypt(key, KEY_USAGE_KINK_ENCRYPT, b"secret")  # confounder

    with pytest.raises(Krb5Error) as e:
        alpha_ctx.c_decrypt(key, KEY_USAGE_KINK_CHECKSUM, ciphertext)
    assert e.value.code == KRB5KRB_AP_ERR_BAD_INTEGRITY
    assert e.value.krb_error == KRB5KRB_AP_ERR_BAD_INTEGRITY - ERROR_TABLE_BASE_KRB5 == 31
    assert "integrity" in str(e.value).lower()

    tampered = bytearray(ciphertext)
    tampered[len(tampered) // 2] ^= 1
    with pytest.raises(Krb5Error):
        alpha_ctx.c_decrypt(key, KEY_USAGE_KINK_ENCRYPT, bytes(tampered))
    with pytest.raises(Krb5Error):
        alpha_ctx.c_decrypt(key, KEY_USAGE_KINK_ENCRYPT, ciphertext[:5])


def test_checksum_usage_40(alpha_ctx: Context, alpha_ticket: Credentials) -> None:
    key = alpha_ticket.session_key
    message = b"KINK header and payloads, CksumLen zeroed"
    cksum = alpha_ctx.c_make_checksum(key, KEY_USAGE_KINK_CHECKSUM, message)
    assert cksum.cksumtype != 0 and len(cksum.contents) >= 12
    assert alpha_ctx.c_verify_checksum(key, KEY_USAGE_KINK_CHECKSUM, message, cksum)

    forged = type(cksum)(cksum.cksumtype, bytes([cksum.contents[0] ^ 1]) + cksum.contents[1:])
    assert not alpha_ctx.c_verify_checksum(key, KEY_USAGE_KINK_CHECKSUM, message, forged)
    assert not alpha_ctx.c_verify_checksum(key, KEY_USAGE_KINK_CHECKSUM, message + b"!", cksum)
    assert not alpha_ctx.c_verify_checksum(key, KEY_USAGE_KINK_ENCRYPT, message, cksum)


def test_prf(alpha_ctx: Context, beta_ctx: Context, alpha_ticket: Credentials) -> None:
    key = alpha_ticket.session_key
    out = alpha_ctx.c_prf(key, b"KEYMAT seed")
    assert len(out) >= 16
    assert beta_ctx.c_prf(key, b"KEYMAT seed") == out != alpha_ctx.c_prf(key, b"other")


def test_krb_error_round_trip(realm: Realm, alpha_ctx: Context, beta_ctx: Context) -> None:
    skew = KRB5KRB_AP_ERR_SKEW - ERROR_TABLE_BASE_KRB5
    encoded = beta_ctx.mk_error(
        skew, realm.beta, client=realm.alpha, text="clock skew too great", e_data=b"\x30\x00",
        ctime=1_700_000_000, cusec=1234,
    )
    assert encoded[0] == 0x7E  # [APPLICATION 30] KRB-ERROR
    err = alpha_ctx.rd_error(encoded)
    assert err.error == skew == 37
    assert (err.server, err.client) == (realm.beta, realm.alpha)
    assert (err.ctime, err.cusec) == (1_700_000_000, 1234)
    assert err.text == "clock skew too great" and err.e_data == b"\x30\x00"
    assert abs(err.stime - time.time()) < 60 and 0 <= err.susec < 1_000_000

    minimal = alpha_ctx.rd_error(beta_ctx.mk_error(60, realm.beta))
    assert minimal.client is None and minimal.ctime is None and minimal.text == ""
    with pytest.raises(Krb5Error):
        alpha_ctx.rd_error(b"\x7e\x03garbage")


def test_expired_ticket_rejected(realm: Realm, alpha_ctx: Context,
                                 alpha_ticket: Credentials) -> None:
    ap_req, _ = alpha_ctx.mk_req_extended(alpha_ticket)
    with Context(realm.krb5_conf) as late:
        # Beta's clock two days ahead: the ticket (a day at most) has expired for it.
        late.set_time(alpha_ticket.times.endtime + 86_400)
        with pytest.raises(Krb5Error) as e:
            late.rd_req(ap_req, keytab=realm.beta_keytab)
        assert e.value.code == KRB5KRB_AP_ERR_TKT_EXPIRED


def test_short_lived_ticket_expires(realm: Realm, alpha_ctx: Context) -> None:
    cc = alpha_ctx.memory_ccache()
    tgt = alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc, lifetime=120)
    ticket = alpha_ctx.get_credentials(cc, realm.alpha, realm.beta)
    assert ticket.times.endtime <= tgt.times.endtime
    ap_req, _ = alpha_ctx.mk_req_extended(ticket)
    with Context(realm.krb5_conf) as later:
        # Just past the end plus libkrb5's default 300 s allowance for clock skew.
        later.set_time(ticket.times.endtime + 301)
        with pytest.raises(Krb5Error) as e:
            later.rd_req(ap_req, keytab=realm.beta_keytab)
        assert e.value.code == KRB5KRB_AP_ERR_TKT_EXPIRED


def test_clock_skew_detected_and_fixed(realm: Realm, alpha_ctx: Context,
                                       alpha_ticket: Credentials) -> None:
    ap_req, _ = alpha_ctx.mk_req_extended(alpha_ticket)
    with Context(realm.krb5_conf) as skewed:
        skewed.set_time(int(time.time()) + 3600)
        with pytest.raises(Krb5Error) as e:
            skewed.rd_req(ap_req, keytab=realm.beta_keytab)
        assert e.value.code == KRB5KRB_AP_ERR_SKEW
        # RFC 4430 §3.5: the initiator takes the responder's time from the KRB-ERROR.
        err = alpha_ctx.rd_error(skewed.mk_error(e.value.krb_error, realm.beta))
        alpha_ctx.set_time(err.stime)
        retry, _ = alpha_ctx.mk_req_extended(alpha_ticket)
        _, info = skewed.rd_req(retry, keytab=realm.beta_keytab)
        assert info.client == realm.alpha


def test_errors_carry_libkrb5_text(realm: Realm, alpha_ctx: Context) -> None:
    with pytest.raises(Krb5Error) as e:
        alpha_ctx.parse_name("a@B@C")
    assert e.value.code != 0 and e.value.message and "Malformed" in e.value.message
    with pytest.raises(Krb5Error) as e:
        alpha_ctx.get_init_creds_keytab(realm.alpha, realm.beta_keytab)  # no key for alpha
    assert "alpha" in e.value.message or "keytab" in e.value.message.lower()
    with pytest.raises(Krb5Error):
        Context(realm.tmpdir / "no-such-krb5.conf").get_init_creds_keytab(
            realm.alpha, realm.alpha_keytab
        )


def test_close_frees_handles_and_refuses_use(realm: Realm) -> None:
    ctx = Context(realm.krb5_conf)
    principal = ctx.parse_name(realm.alpha)
    cc = ctx.memory_ccache()
    tgt = ctx.get_init_creds_keytab(principal, realm.alpha_keytab, cc)
    assert str(principal) == realm.alpha
    ctx.close()
    ctx.close()
    for use in (lambda: principal.name, lambda: cc.name, lambda: tgt.client, ctx.memory_ccache):
        with pytest.raises(ValueError):
            use()


def test_default_keytab_from_krb5_conf(realm: Realm, tmp_path: Path) -> None:
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        realm.krb5_conf.read_text()
        + f"[libdefaults]\n\tdefault_keytab_name = {realm.beta_keytab}\n"
    )
    with Context(conf) as ctx, ctx.keytab() as kt:
        assert ctx.get_init_creds_keytab(realm.beta, kt).client == realm.beta


def test_memory_ccache_shared_between_contexts(realm: Realm, alpha_ctx: Context) -> None:
    cc = alpha_ctx.memory_ccache()
    alpha_ctx.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc)
    with Context(realm.krb5_conf) as other, other.ccache(cc.name) as same:
        assert other.get_credentials(same, realm.alpha, realm.beta).client == realm.alpha


# --- the async wrapper ---


async def _ticking(seconds: float) -> int:
    ticks = 0
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


def test_async_kdc_against_the_kdc(realm: Realm, alpha_ctx: Context, beta_ctx: Context) -> None:
    kdc = AsyncKdc(realm.krb5_conf, timeout=30)
    try:
        cc = alpha_ctx.memory_ccache()  # the loop's context owns it; the worker fills it

        async def main() -> Credentials:
            await kdc.get_init_creds_keytab(realm.alpha, realm.alpha_keytab, cc.name)
            return await kdc.get_credentials(cc.name, realm.alpha, realm.beta)

        ticket = asyncio.run(main())
        ap_req, _ = alpha_ctx.mk_req_extended(ticket)
        _, info = beta_ctx.rd_req(ap_req, keytab=realm.beta_keytab)
        assert info.client == realm.alpha
        assert alpha_ctx.get_credentials(cc, realm.alpha, realm.beta).server == realm.beta
    finally:
        kdc.close()


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_async_kdc_nobody_listening(realm: Realm, tmp_path_factory: pytest.TempPathFactory) -> None:
    conf = realm.write_krb5_conf(
        tmp_path_factory.mktemp("dead") / "krb5.conf", f"127.0.0.1:{_unused_port()}"
    )
    kdc = AsyncKdc(conf, timeout=20)

    async def main() -> tuple[Krb5Error, int]:
        ticker = asyncio.create_task(_ticking(0.3))
        with pytest.raises(Krb5Error) as e:
            await kdc.get_init_creds_keytab(realm.alpha, realm.alpha_keytab)
        return e.value, await ticker

    try:
        started = time.monotonic()
        error, ticks = asyncio.run(main())
        assert error.code == KRB5_KDC_UNREACH, error
        assert time.monotonic() - started < 20
        assert ticks >= 10
    finally:
        kdc.close()


def test_async_kdc_times_out_without_blocking_the_loop(
    realm: Realm, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A "KDC" that takes requests and never answers, on UDP and TCP.
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(4)
    conf = realm.write_krb5_conf(tmp_path_factory.mktemp("mute") / "krb5.conf", f"127.0.0.1:{port}")
    kdc = AsyncKdc(conf, timeout=1.0)

    async def main() -> tuple[float, int]:
        ticker = asyncio.create_task(_ticking(1.5))
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await kdc.get_init_creds_keytab(realm.alpha, realm.alpha_keytab)
        return time.monotonic() - started, await ticker

    try:
        waited, ticks = asyncio.run(main())
        assert 0.9 <= waited < 3
        assert ticks >= 50  # 10 ms ticks kept coming while libkrb5 waited in its thread
    finally:
        # Closed sockets refuse libkrb5's retries, so its abandoned call ends soon.
        udp.close()
        tcp.close()
        started = time.monotonic()
        kdc.close()
        assert time.monotonic() - started < 30
