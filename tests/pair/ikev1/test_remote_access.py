"""IKEv1 remote access after phase 1: XAuth and mode-config as the gateway (iked B, the
responder), a scripted client on A's ISAKMP SA (iked has no XAuth client):

    B (gateway)                                         A (client)
    HDR*(M1), HASH, ATTR REQUEST(XAUTH_TYPE, USER_NAME, USER_PASSWORD)  -->
                              <--  HDR*(M1), HASH, ATTR REPLY(USER_NAME, USER_PASSWORD)
    HDR*(M2), HASH, ATTR SET(XAUTH_STATUS=OK|FAIL)  -->
                              <--  HDR*(M2), HASH, ATTR ACK
                              <--  HDR*(M3), HASH, ATTR REQUEST(INTERNAL_IP4_ADDRESS, DNS)
    HDR*(M3), HASH, ATTR REPLY(INTERNAL_IP4_ADDRESS=198.51.100.10, INTERNAL_IP4_DNS)  -->
"""

from __future__ import annotations

import asyncio
from ipaddress import ip_address
from pathlib import Path

import pytest

from iked.events import CheckPassword, ChildSaUp, IkeSaDown, RemoteAccess
from iked.ikev1 import remote_access, transaction
from iked.ikev1.core import Ikev1Core
from iked.ikev1.sa import IsakmpSa
from iked.ikev1.xauth import VENDOR_ID
from iked.ikev2.child import show
from iked.ikev2.core import IkeCore
from iked.users import parse
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.ikev1 import message
from racoon2.ikev1.constants import AuthMethod, CfgAttr, CfgType, ExchangeType
from racoon2.ikev1.payloads import Attribute, ModeCfg
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

from .conf import ikev1_conf
from .harness import A, B, Side, pump, side, timer

POOL = "addresspool rw { 198.51.100.10 - 198.51.100.11; };\n"
XAUTH = '\t\txauth { users "/nonexistent"; };\n\t\tprovide { addresspool rw; dns 192.0.2.53; };'
USERS = parse("alice plain:right\n", "users")


def gateway(tmp: Path, extra: str = XAUTH, rw: bool = False) -> Side:
    """B with xauth and provide; its pools are an IKEv2 core's, as in iked.cores.Cores.
    ``rw``: a tunnel from 198.51.100.16/28 to IP_RW, any peer address."""
    text = ikev1_conf(tmp / "b", B, A, extra=extra, tunnel=rw, src="198.51.100.16/28"
                      if rw else None, dst="IP_RW" if rw else None)
    if rw:
        text = text.replace(f"peers_ipaddr {A} port 500", "peers_ipaddr IP_RW").replace(
            f"peers_sa_ipaddr {A}", "peers_sa_ipaddr IP_RW")
    config = loads(text + POOL, f"{tmp}/b.conf")
    rng = DeterministicRng(b"b")
    core = Ikev1Core(config, rng, read_secret, 0.0,
                     pools=IkeCore(config, rng, read_secret, 0.0))
    return Side(core, MemoryBackend(seed=2))


SPMD: list[object] = []  # the POLICY ADD/DELETEs the gateway asked spmd for


def check_passwords(s: Side) -> None:
    """The shell's part: CheckPassword answered (with the users above), spmd's POLICY
    ADD/DELETE recorded, kernel ops done."""
    async def run() -> None:
        for req in s.core.requests():
            result: object
            if isinstance(req.op, CheckPassword):
                result = USERS.verify(req.op.user, req.op.password)
            elif isinstance(req.op, PolicyAdd | PolicyDelete):
                SPMD.append(req.op)
                result = "ok"
            else:
                result = await api.perform(s.kernel, req.op)  # type: ignore[arg-type]
            s.core.reply(req.id, result, 0.0)
    asyncio.run(run())
    s.collect()


def client_sa(a: Side) -> IsakmpSa:
    (sa,) = a.core.sas.values()
    return sa




def from_gateway(b: Side, a: Side) -> tuple[int, ModeCfg]:
    sa = client_sa(a)
    assert sa.keys is not None
    d = b.outbox.popleft()
    msg = message.decode(d.data)
    assert msg.exchange == ExchangeType.TRANSACTION
    attrs = transaction.open_(sa.keys.prf, sa.keys.a, msg.message_id, sa.keys.open(msg))
    return msg.message_id, attrs


def to_gateway(a: Side, b: Side, mid: int, attrs: ModeCfg) -> None:
    sa = client_sa(a)
    assert sa.keys is not None
    data = sa.keys.seal(message.Message(sa.cookie_i, sa.cookie_r, ExchangeType.TRANSACTION,
                                        mid), transaction.seal(sa.keys.prf, sa.keys.a, mid,
                                                               attrs))
    b.core.receive_datagram(data, sa.remote, sa.local, 0.0)
    check_passwords(b)


def phase1(tmp: Path, extra: str = XAUTH, rw: bool = False) -> tuple[Side, Side]:
    a = side(tmp / "a", A, B, b"a", extra=extra, tunnel=rw,
             **({"src": "198.51.100.10/32", "dst": "198.51.100.16/28"} if rw else {}))
    b = gateway(tmp, extra, rw)
    a.core.initiate("sel_out", 0.0)
    # Phase 1 goes through; Quick Mode from A waits (dropped by B) until XAuth is done.
    pump_until_transaction(a, b)
    return a, b


def pump_until_transaction(a: Side, b: Side) -> None:
    """Deliver phase 1, keep B's first Transaction message in B's outbox."""
    for _ in range(20):
        a.collect()
        for d in list(a.outbox):
            b.core.receive_datagram(d.data, d.remote, d.local, 0.0)
        a.outbox.clear()
        check_passwords(b)
        for d in list(b.outbox):
            if message.decode_header(d.data).exchange == ExchangeType.TRANSACTION:
                return
            b.outbox.popleft()
            a.core.receive_datagram(d.data, d.remote, d.local, 0.0)
        asyncio.run(_kernel(a))
    raise AssertionError("no Transaction message from the gateway")


async def _kernel(s: Side) -> None:
    for req in s.core.requests():
        s.core.reply(req.id, await api.perform(s.kernel, req.op), 0.0)  # type: ignore[arg-type]


def reply(mid: int, ident: int, user: bytes, password: bytes) -> tuple[int, ModeCfg]:
    return mid, ModeCfg(CfgType.REPLY, ident, (Attribute(CfgAttr.XAUTH_USER_NAME, user),
                                               Attribute(CfgAttr.XAUTH_USER_PASSWORD, password)))


def test_xauth_then_mode_config_pull(tmp_path: Path) -> None:
    a, b = phase1(tmp_path)
    sa_b = next(iter(b.core.sas.values()))
    assert sa_b.algs is not None and sa_b.algs.auth == AuthMethod.XAUTH_INIT_PRE_SHARED
    assert VENDOR_ID in client_sa(a).peer_vendor_ids  # the gateway announced XAuth
    assert remote_access.waits_for(sa_b) == "XAuth succeeded"
    mid, req = from_gateway(b, a)
    assert req.cfg_type == CfgType.REQUEST
    to_gateway(a, b, *reply(mid, req.identifier, b"alice", b"right"))
    mid2, status = from_gateway(b, a)
    assert status.cfg_type == CfgType.SET and mid2 != mid
    assert status.attributes[0].as_int == 1  # XAUTH_STATUS OK
    to_gateway(a, b, mid2, ModeCfg(CfgType.ACK, status.identifier, ()))
    assert remote_access.waits_for(sa_b) is None
    sa_a = client_sa(a)
    assert sa_a.keys is not None
    ask = ModeCfg(CfgType.REQUEST, 9, (Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, b""),
                                       Attribute(CfgAttr.INTERNAL_IP4_DNS, b"")))
    request = sa_a.keys.seal(message.Message(sa_a.cookie_i, sa_a.cookie_r,
                                             ExchangeType.TRANSACTION, 7),
                             transaction.seal(sa_a.keys.prf, sa_a.keys.a, 7, ask))
    # The client's REQUEST twice (its retransmission): answered twice, one lease.
    for _ in range(2):
        b.core.receive_datagram(request, sa_a.remote, sa_a.local, 0.0)
        b.collect()
    assert len(b.outbox) == 2
    b.outbox.pop()
    mid3, got = from_gateway(b, a)
    assert mid3 == 7 and got.cfg_type == CfgType.REPLY and got.identifier == 9
    values = {x.type: x.value for x in got.attributes}
    assert values[CfgAttr.INTERNAL_IP4_ADDRESS] == bytes([198, 51, 100, 10])
    assert values[CfgAttr.INTERNAL_IP4_DNS] == bytes([192, 0, 2, 53])
    assert str(sa_b.leased) == "198.51.100.10"
    said = [e.what for e in b.of(RemoteAccess)]  # type: ignore[attr-defined]
    assert said == ["XAuth user alice authenticated",
                    "mode-config: client address 198.51.100.10, DNS 192.0.2.53"]
    # SIGHUP with the same configuration, its lines moved: the client keeps its SA and lease.
    moved = "\n\n" + ikev1_conf(tmp_path / "b", B, A, extra=XAUTH) + POOL
    assert b.core.reconfigure(loads(moved, f"{tmp_path}/b.conf"), 1.0) == 0
    assert b.core.sas and str(sa_b.leased) == "198.51.100.10"
    # The lease goes back with the ISAKMP SA: the next client gets the same address.
    b.core.shutdown(0.0)
    assert sa_b.leased is None
    assert [str(got[1]) for got in (b.core.pools.lease(("rw",), 4, None) for _ in "ab")
            if got is not None] == ["198.51.100.10", "198.51.100.11"]


def test_wrong_password_retries_then_fails_and_deletes(tmp_path: Path) -> None:
    a, b = phase1(tmp_path)
    for attempt in range(3):
        mid, req = from_gateway(b, a)
        assert req.cfg_type == CfgType.REQUEST, attempt
        to_gateway(a, b, *reply(mid, req.identifier, b"alice", b"wrong"))
    mid, status = from_gateway(b, a)
    assert status.cfg_type == CfgType.SET and status.attributes[0].as_int == 0  # FAIL
    to_gateway(a, b, mid, ModeCfg(CfgType.ACK, status.identifier, ()))
    assert not b.core.sas  # deleted, the client told with a Delete
    assert [e.reason for e in b.of(IkeSaDown)] == ["XAuth failed"]  # type: ignore[attr-defined]
    d = b.outbox.popleft()
    assert message.decode_header(d.data).exchange == ExchangeType.INFORMATIONAL


def test_quick_mode_waits_for_xauth_and_push_after_silence(tmp_path: Path) -> None:
    a, b = phase1(tmp_path)
    sa_b = next(iter(b.core.sas.values()))
    # A's Quick Mode (sent after its phase 1) was dropped: no IPsec SA yet.
    assert not sa_b.children and not sa_b.quick
    mid, req = from_gateway(b, a)
    to_gateway(a, b, *reply(mid, req.identifier, b"alice", b"right"))
    mid2, status = from_gateway(b, a)
    to_gateway(a, b, mid2, ModeCfg(CfgType.ACK, status.identifier, ()))
    # No REQUEST from the client within PUSH_AFTER: the gateway pushes a SET.
    timer(b, remote_access.PUSH_AFTER + 0.1)
    mid3, pushed = from_gateway(b, a)
    assert pushed.cfg_type == CfgType.SET
    assert {x.type for x in pushed.attributes} >= {CfgAttr.INTERNAL_IP4_ADDRESS,
                                                   CfgAttr.INTERNAL_IP4_DNS}
    to_gateway(a, b, mid3, ModeCfg(CfgType.ACK, pushed.identifier, (
        Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, b""),)))
    assert sa_b.access is not None and sa_b.access.resend is None
    # Quick Mode now goes through (A retransmits its QM1).
    timer(a, 2.0)
    assert pump(a, b, 2.0) >= 2
    assert len(sa_b.children) == 1


@pytest.mark.parametrize("extra", [XAUTH.replace('users "/nonexistent"', "pam iked-test")])
def test_the_check_names_the_pam_service(tmp_path: Path, extra: str) -> None:
    a, b = phase1(tmp_path, extra)
    mid, req = from_gateway(b, a)
    sa = client_sa(a)
    assert sa.keys is not None
    mid, attrs = reply(mid, req.identifier, b"bob", b"pw")
    data = sa.keys.seal(message.Message(sa.cookie_i, sa.cookie_r, ExchangeType.TRANSACTION,
                                        mid), transaction.seal(sa.keys.prf, sa.keys.a, mid,
                                                               attrs))
    b.core.receive_datagram(data, sa.remote, sa.local, 0.0)
    (op,) = [r.op for r in b.core.requests()]
    assert isinstance(op, CheckPassword) and op.pam == "iked-test" and op.users is None
    assert op.user == "bob" and op.password == b"pw"


def test_ip_rw_policy_for_the_leased_address(tmp_path: Path) -> None:
    """An IP_RW policy on the gateway: the client's Quick Mode IDci is its leased address;
    spmd is asked to install the policy for it, and to remove it with the ISAKMP SA."""
    SPMD.clear()
    a, b = phase1(tmp_path, rw=True)
    sa_b = next(iter(b.core.sas.values()))
    mid, req = from_gateway(b, a)
    to_gateway(a, b, *reply(mid, req.identifier, b"alice", b"right"))
    mid2, status = from_gateway(b, a)
    to_gateway(a, b, mid2, ModeCfg(CfgType.ACK, status.identifier, ()))
    to_gateway(a, b, 7, ModeCfg(CfgType.REQUEST, 9, (
        Attribute(CfgAttr.INTERNAL_IP4_ADDRESS, b""),)))
    from_gateway(b, a)
    assert str(sa_b.leased) == "198.51.100.10"
    # A retransmits its QM1 (dropped before XAuth): QM1, QM2, QM3 now go through.
    timer(a, 2.0)
    for _ in range(4):
        for d in list(a.outbox):
            b.core.receive_datagram(d.data, d.remote, d.local, 2.0)
        a.outbox.clear()
        check_passwords(b)
        for d in list(b.outbox):
            a.core.receive_datagram(d.data, d.remote, d.local, 2.0)
        b.outbox.clear()
        asyncio.run(_kernel(a))
        a.collect()
    (child,) = sa_b.children
    assert show(child.settings.remote_ts) == "198.51.100.10/32"
    (add,) = [op for op in SPMD if isinstance(op, PolicyAdd)]
    assert str(add.dst) == "198.51.100.10/32" and str(add.sa_dst) == A, add
    (up,) = b.of(ChildSaUp)
    assert up.hook.leases == (ip_address("198.51.100.10"),)  # type: ignore[attr-defined]
    b.core.shutdown(3.0)
    check_passwords(b)
    (delete,) = [op for op in SPMD if isinstance(op, PolicyDelete)]
    assert str(delete.dst) == "198.51.100.10/32"
    assert sa_b.leased is None
