"""Two IKEv2 cores negotiate with each other in memory (unit tests of the pure core).

The proof against real peers and kernels is in tests/interop; here the exchanges, failures and
drop counters are checked message by message with a virtual clock and the in-memory kernel.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iked.events import (
    ChildSaDown,
    ChildSaUp,
    DropReason,
    Event,
    IkeSaDown,
    IkeSaUp,
    NatDetected,
    NegotiationFailed,
)
from iked.hooks import phase2_env
from iked.ikev2.core import IkeCore
from iked.ikev2.sa import State
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Endpoint
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
A, B = ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")


def side_config(sample: str, tmp: Path, me: str, peer: str, psk: bytes = b"secret-psk",
                edit: tuple[tuple[str, str], ...] = ()) -> str:
    """A project sample as host ``me`` sees it, with its key file in ``tmp``."""
    text = (SAMPLES / sample).read_text()
    text = text.replace('"/usr/local/etc/racoon2"', f'"{tmp}"')
    text = text.replace('"192.0.2.1"', '"@ME@"').replace('"192.0.2.2"', '"@PEER@"')
    text = text.replace("@ME@", me).replace("@PEER@", peer)
    for old, new in edit:
        text = text.replace(old, new)
    (tmp / "psk").mkdir(exist_ok=True)
    for name in ("peer.psk", "gw_a.psk", "gw_b.psk"):
        key = tmp / "psk" / name
        key.write_bytes(psk)
        key.chmod(0o600)
    return text


@dataclass
class Side:
    core: IkeCore
    kernel: MemoryBackend
    events: list[Event] = field(default_factory=list)
    installed: list[api.SaSpec] = field(default_factory=list)


def make_side(tmp: Path, me: str, peer: str, seed: bytes, sample: str = "ikev2-transport.conf",
              **kw: object) -> Side:
    tmp.mkdir(exist_ok=True)
    cfg = loads(side_config(sample, tmp, me, peer, **kw), f"{tmp}/racoon2.conf")  # type: ignore[arg-type]
    return Side(IkeCore(cfg, DeterministicRng(seed), read_secret, 0.0,
                        read_public=lambda p: Path(p).read_bytes()),
                MemoryBackend(seed=seed[0]))


async def perform_requests(side: Side, now: float) -> bool:
    """Run a side's kernel requests on its in-memory kernel; False when there were none."""
    requests = side.core.requests()
    for req in requests:
        try:
            result: object = await api.perform(side.kernel, req.op)
        except api.KernelError as e:
            result = e
        if isinstance(req.op, api.AddSa | api.UpdateSa):
            side.installed.append(req.op.sa)
        side.core.reply(req.id, result, now)
    return bool(requests)


def pump(sides: dict[str, Side], now: float = 0.0, lose: int = 0,
         tamper: bool = False, record: list[bytes] | None = None) -> int:
    """Deliver datagrams and perform kernel requests until both sides are quiet.

    ``lose`` drops that many datagrams first; ``tamper`` flips a bit in every IKE_AUTH.
    Returns how many datagrams were delivered.
    """
    # Each side answers on its interface ike addresses.
    by_addr = {str(spec.address): side for side in sides.values()
               for spec in side.core.config.interface.ike}  # type: ignore[union-attr]
    delivered = 0

    async def run() -> None:
        nonlocal delivered, lose
        busy = True
        while busy:
            busy = False
            for side in sides.values():
                busy = await perform_requests(side, now) or busy
                for d in side.core.datagrams_to_send():
                    busy = True
                    if lose:
                        lose -= 1
                        continue
                    data = d.data
                    if record is not None:
                        record.append(data)
                    if tamper and data[18] == 35:
                        data = data[:-1] + bytes([data[-1] ^ 1])
                    by_addr[str(d.remote.addr)].core.receive_datagram(
                        data, d.remote, d.local, now)
                    delivered += 1
                while (ev := side.core.next_event()) is not None:
                    side.events.append(ev)

    asyncio.run(run())
    return delivered


@pytest.fixture
def pair(tmp_path: Path) -> dict[str, Side]:
    return {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")}


def test_psk_transport_pair(pair: dict[str, Side]) -> None:
    sa = pair["a"].core.initiate("peer_out", 0.0)
    assert sa is not None
    assert pump(pair) == 4  # IKE_SA_INIT and IKE_AUTH, request and response
    for name in "ab":
        side = pair[name]
        assert [type(e) for e in side.events if isinstance(e, IkeSaUp | ChildSaUp)] == [
            IkeSaUp, ChildSaUp]
        assert len(side.installed) == 2
    a_out = next(s for s in pair["a"].installed if s.src == A)
    b_in = next(s for s in pair["b"].installed if s.src == A)
    assert (a_out.spi, a_out.cipher, a_out.integrity) == (b_in.spi, b_in.cipher, b_in.integrity)
    assert a_out.integrity is not None and a_out.integrity.trunc_bits == 128
    assert a_out.mode is api.Mode.TRANSPORT and a_out.cipher is not None
    assert a_out.cipher.name == "cbc(aes)" and len(a_out.cipher.key) == 32
    assert 2880 <= a_out.lifetime.soft_add_seconds <= 3240
    assert a_out.lifetime.hard_add_seconds == 3600
    up = next(e for e in pair["a"].events if isinstance(e, ChildSaUp))
    assert not up.rekey and phase2_env(up.hook) == [
        ("LOCAL_ADDR", "192.0.2.1"), ("REMOTE_ADDR", "192.0.2.2"),
        ("SELECTOR_INDEX", "peer_out"), ("IPSEC_MODE", "transport"),
        ("LOCAL_NET_ADDR", "192.0.2.1"), ("LOCAL_NET_PREFIXLEN", "32"), ("LOCAL_NET_PORT", "0"),
        ("REMOTE_NET_ADDR", "192.0.2.2"), ("REMOTE_NET_PREFIXLEN", "32"),
        ("REMOTE_NET_PORT", "0"), ("UPPER_LAYER_PROTOCOL", "any")]


def test_tunnel_gcm_curve25519(tmp_path: Path) -> None:
    edit = (("aes256_cbc; };\n\t\tkmp_prf", "aes256_gcm16; };\n\t\tkmp_prf"),
            ("modp3072; modp2048;", "curve25519;"),
            ("esp_enc_alg { aes256_cbc; };", "esp_enc_alg { aes128_gcm16; };"))
    a = make_side(tmp_path / "a", "198.51.100.1", "203.0.113.1", b"a", "ikev2-tunnel.conf",
                  edit=edit)
    b_edit = edit + (('"192.0.2.0/25"', '"@X@"'), ('"192.0.2.128/25"', '"192.0.2.0/25"'),
                     ('"@X@"', '"192.0.2.128/25"'), ('"gw-a.example.net"', '"@Y@"'),
                     ('"gw-b.example.net"', '"gw-a.example.net"'), ('"@Y@"', '"gw-b.example.net"'),
                     ('"198.51.100.1"', '"@G@"'), ('"203.0.113.1"', '"198.51.100.1"'),
                     ('"@G@"', '"203.0.113.1"'))
    b = make_side(tmp_path / "b", "203.0.113.1", "198.51.100.1", b"b", "ikev2-tunnel.conf",
                  edit=b_edit)
    sides = {"a": a, "b": b}
    assert a.core.initiate("net_out", 0.0) is not None
    pump(sides)
    ups = [e for e in b.events if isinstance(e, ChildSaUp)]
    assert ups and ups[0].algorithms == "ENCR_AES_GCM_16-128"
    out = next(s for s in a.installed if str(s.src) == "198.51.100.1")
    assert out.mode is api.Mode.TUNNEL and out.aead is not None
    assert out.aead.name == "rfc4106(gcm(aes))" and out.aead.icv_bits == 128
    assert len(out.aead.key) == 20


def test_wrong_psk_fails_cleanly(tmp_path: Path) -> None:
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", psk=b"other")}
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    failed = [e for e in sides["b"].events if isinstance(e, NegotiationFailed)]
    assert failed and "pre-shared keys differ" in failed[0].reason
    assert not sides["a"].installed and not sides["b"].installed
    assert not any(isinstance(e, IkeSaUp) for s in sides.values() for e in s.events)
    assert isinstance(next(e for e in sides["a"].events if isinstance(e, NegotiationFailed)),
                      NegotiationFailed)


def test_no_common_proposal(tmp_path: Path) -> None:
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=(("kmp_dh_group { modp2048; }", "kmp_dh_group { ecp256; }"),))}
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    fail = next(e for e in sides["b"].events if isinstance(e, NegotiationFailed))
    assert fail.reason == "no proposal chosen"
    assert "MODP_2048" in fail.received and "ECP_256" in fail.configured
    a_fail = next(e for e in sides["a"].events if isinstance(e, NegotiationFailed))
    assert "NO_PROPOSAL_CHOSEN" in a_fail.reason


def test_invalid_ke_retry(tmp_path: Path) -> None:
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                            edit=(("kmp_dh_group { modp2048; }",
                                   "kmp_dh_group { ecp256; modp2048; }"),)),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")}
    sides["a"].core.initiate("peer_out", 0.0)
    assert pump(sides) == 6
    assert any(isinstance(e, IkeSaUp) for e in sides["a"].events)


def test_cookie_required(tmp_path: Path) -> None:
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=(("kmp_auth_method { psk; };",
                                   "kmp_auth_method { psk; }; cookie_required on;"),))}
    sides["a"].core.initiate("peer_out", 0.0)
    assert pump(sides) == 6
    assert any(isinstance(e, IkeSaUp) for e in sides["b"].events)


def test_tampered_auth_is_dropped_and_counted(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair, tamper=True)
    assert pair["b"].core.dropped[DropReason.BAD_ICV] == 1
    assert not pair["b"].installed
    # The initiator retransmits the intact request: the SA still comes up.
    pair["a"].core.handle_timer(1.0)
    pump(pair, now=1.0)
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events)


def test_garbage_and_unknown_spi(pair: dict[str, Side]) -> None:
    core = pair["b"].core
    peer, me = Endpoint(A, 500), Endpoint(B, 500)
    core.receive_datagram(b"\x00" * 10, me, peer, 0.0)
    core.receive_datagram(bytes(range(28)) + b"\x00" * 8, me, peer, 0.0)
    core.receive_datagram(bytes(8) + b"\x01" * 8 + bytes([0, 0x20, 37, 0x08]) + bytes(4)
                          + (28).to_bytes(4, "big"), me, peer, 0.0)
    assert core.dropped[DropReason.MALFORMED] == 2
    assert core.dropped[DropReason.UNKNOWN_SPI] == 1
    assert not core.sas


def test_retransmission_then_give_up(pair: dict[str, Side]) -> None:
    sa = pair["a"].core.initiate("peer_out", 0.0)
    assert sa is not None
    pair["a"].core.datagrams_to_send()
    sent = 0
    now = 0.0
    while (t := pair["a"].core.next_timer()) is not None and now < 10_000:
        now = t
        pair["a"].core.handle_timer(now)
        sent += len(pair["a"].core.datagrams_to_send())
    assert sent == 10  # max_retry_to_send
    assert sa.state is State.DEAD and not pair["a"].core.sas
    fail = [e for ev in iter(pair["a"].core.next_event, None) for e in [ev]
            if isinstance(e, NegotiationFailed)]
    assert fail and "no response" in fail[0].reason


def test_delete_from_initiator(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    pair["a"].core.shutdown(1.0)
    pump(pair, now=1.0)
    for side in pair.values():
        assert not side.core.sas
        assert any(isinstance(e, IkeSaDown) for e in side.events)
        assert not side.kernel.sas


def test_init_flood_needs_cookies_and_real_peers_still_connect(pair: dict[str, Side]) -> None:
    """A flood of IKE_SA_INIT from spoofed SPIs: after 20 half-open SAs the responder keeps no
    state and answers with a COOKIE; a real initiator then comes through with the cookie."""
    from racoon2.ikev2 import message
    from racoon2.ikev2.constants import ExchangeType, NotifyType
    from racoon2.ikev2.payloads import Notify

    flooder = make_side(Path(pair["a"].core.config.file).parent.parent / "f", "192.0.2.1",
                        "192.0.2.2", b"f")
    b = pair["b"].core
    me, peer = Endpoint(B, 500), Endpoint(A, 500)
    for _ in range(30):
        sa = flooder.core.initiate("peer_out", 0.0)
        assert sa is not None
        flooder.core.sas.clear()  # a flooder keeps nothing
        for d in flooder.core.datagrams_to_send():
            b.receive_datagram(d.data, me, peer, 0.0)
    assert len(b.sas) == 20
    answers = [message.decode(d.data) for d in b.datagrams_to_send()]
    cookies = [m for m in answers if any(isinstance(p, Notify) and p.type == NotifyType.COOKIE
                                         for p in m.payloads)]
    assert len(cookies) == 10 and all(m.exchange == ExchangeType.IKE_SA_INIT for m in cookies)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    assert any(isinstance(e, IkeSaUp) for e in pair["b"].events)


def test_replayed_auth_is_answered_from_cache_only(pair: dict[str, Side]) -> None:
    wire: list[bytes] = []
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair, record=wire)
    b = pair["b"].core
    auth = next(d for d in wire if d[18] == 35 and not d[19] & 0x20)
    installed, events = len(pair["b"].installed), len(pair["b"].events)
    b.receive_datagram(auth, Endpoint(B, 500), Endpoint(A, 500), 1.0)
    again = b.datagrams_to_send()
    assert len(again) == 1 and again[0].data == next(d for d in wire if d[18] == 35 and
                                                     d[19] & 0x20)
    assert not b.requests() and len(pair["b"].installed) == installed
    assert b.next_event() is None and len(pair["b"].events) == events
    # An old message ID (IKE_SA_INIT's) on the established SA is stale: dropped, counted.
    b.receive_datagram(auth[:20] + bytes(4) + auth[24:], Endpoint(B, 500), Endpoint(A, 500), 1.0)
    assert b.dropped[DropReason.STALE] == 1


def test_hard_expire_deletes_the_child_on_both_sides(pair: dict[str, Side]) -> None:
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    a_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(a_in.key, hard=True), 2.0)
    pump(pair, now=2.0)
    downs = {n: [e for e in pair[n].events if isinstance(e, ChildSaDown)] for n in "ab"}
    assert downs["a"][0].reason == "hard lifetime expired"
    assert downs["b"][0].reason == "deleted by the peer"
    assert all(not sa.children for n in "ab" for sa in pair[n].core.sas.values())
    assert not pair["a"].core.kernel_event(api.Expire(a_in.key, hard=True), 3.0)


def test_wrong_cookie_is_counted_and_refused(tmp_path: Path) -> None:
    from racoon2.ikev2 import message
    from racoon2.ikev2.constants import NotifyType
    from racoon2.ikev2.payloads import Notify

    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                  edit=(("kmp_auth_method { psk; };",
                         "kmp_auth_method { psk; }; cookie_required on;"),)).core
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a").core
    sa = a.initiate("peer_out", 0.0)
    assert sa is not None
    first = a.datagrams_to_send()[0].data
    forged = message.decode(first)
    forged = message.Message(forged.spi_i, forged.spi_r, forged.exchange, 0,
                             (Notify(0, NotifyType.COOKIE, b"", b"\x00" * 33),
                              *forged.payloads), forged.flags)
    b.receive_datagram(message.encode(forged), Endpoint(B, 500), Endpoint(A, 500), 0.0)
    assert b.dropped[DropReason.BAD_COOKIE] == 1 and not b.sas
    reply = message.decode(b.datagrams_to_send()[0].data)
    assert [p.type for p in reply.payloads if isinstance(p, Notify)] == [NotifyType.COOKIE]


@pytest.mark.parametrize("pfs", [False, True])
def test_soft_expire_rekeys_the_child(tmp_path: Path, pfs: bool) -> None:
    edit = (("kmp_auth_method { psk; };", "kmp_auth_method { psk; }; need_pfs on;"),) if pfs \
        else ()
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=edit),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")}
    sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    wire: list[bytes] = []
    old_in = next(s for s in sides["a"].installed if s.dst == A)
    assert sides["a"].core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    pump(sides, now=10.0, record=wire)
    assert [d[18] for d in wire] == [36, 36, 37, 37]  # CREATE_CHILD_SA, then the Delete
    # With PFS both CREATE_CHILD_SA messages carry a 256-byte MODP2048 KE payload.
    assert all((len(d) > 400) == pfs for d in wire[:2]), [len(d) for d in wire]
    for n, reason in (("a", "rekeyed"), ("b", "deleted by the peer")):
        side = sides[n]
        downs = [e for e in side.events if isinstance(e, ChildSaDown)]
        assert [(e.reason, e.replaced) for e in downs] == [(reason, True)]  # no phase2_down
        assert [e.rekey for e in side.events if isinstance(e, ChildSaUp)] == [False, True]
        assert sum(isinstance(e, ChildSaUp) for e in side.events) == 2
        (sa,) = side.core.sas.values()
        assert len(sa.children) == 1 and sa.children[0].spi_in != old_in.spi
    new_a_out = sides["a"].installed[-1]
    new_b_in = next(s for s in sides["b"].installed[2:] if s.src == A)
    assert (new_a_out.spi, new_a_out.cipher) == (new_b_in.spi, new_b_in.cipher)
    assert new_a_out.cipher != old_in.cipher


@pytest.mark.parametrize("rekeyer", ["a", "b"])
def test_ike_sa_rekey_moves_children(pair: dict[str, Side], rekeyer: str) -> None:
    """At the IKE SA lifetime (8 h in the sample) the side whose timer fires rekeys the IKE SA:
    a successor with new SPIs takes the CHILD_SA, the old SA is deleted (no phase1_down), and
    the successor's keys work: a CHILD_SA rekey over it succeeds."""
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    (old,) = pair["a"].core.sas.values()
    old_name = old.name
    other = pair["b" if rekeyer == "a" else "a"].core
    other.sas[next(iter(other.sas))].deadline_life = None  # only the rekeyer's lifetime ends
    now = 0.0
    while (t := min(filter(None, (s.core.next_timer() for s in pair.values())),
                    default=None)) is not None and t <= 8 * 3600:
        now = t  # DPD probes every hour, then the rekey
        for side in pair.values():
            side.core.handle_timer(now)
        pump(pair, now=now)
    assert now == 8 * 3600
    for side in pair.values():
        (new,) = side.core.sas.values()
        assert new.name != old_name and len(new.children) == 1
        assert new.initiator == (side is pair[rekeyer])
        ups = [e for e in side.events if isinstance(e, IkeSaUp)]
        assert [u.rekey_of for u in ups] == [None, old_name]
        downs = [e for e in side.events if isinstance(e, IkeSaDown)]
        assert [(d.sa, d.replaced) for d in downs] == [(old_name, True)]
        assert not any(isinstance(e, ChildSaDown) for e in side.events)
    child_in = next(s for s in pair["a"].installed if s.dst == A)
    assert pair["a"].core.kernel_event(api.Expire(child_in.key, hard=False), 9 * 3600)
    pump(pair, now=9 * 3600)
    for side in pair.values():
        assert [e.rekey for e in side.events if isinstance(e, ChildSaUp)] == [False, True]


UDP_POLICY = '''selector udp_out { direction outbound; src "192.0.2.1"; dst "192.0.2.2";
    upper_layer_protocol udp; policy_index peer_udp; };
selector udp_in { direction inbound; src "192.0.2.2"; dst "192.0.2.1";
    upper_layer_protocol udp; policy_index peer_udp; };
policy peer_udp { action auto_ipsec; remote_index peer; ipsec_mode transport;
    ipsec_index { esp_sha256; }; ipsec_level require; };
policy peer_transport {'''


def test_second_policy_gets_a_child_on_the_same_ike_sa(tmp_path: Path) -> None:
    mirrored = UDP_POLICY.replace("192.0.2.1", "@").replace("192.0.2.2", "192.0.2.1").replace(
        "@", "192.0.2.2")
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                            edit=(("policy peer_transport {", UDP_POLICY),)),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b",
                            edit=(("policy peer_transport {", mirrored),))}
    first = sides["a"].core.initiate("peer_out", 0.0)
    pump(sides)
    wire: list[bytes] = []
    second = sides["a"].core.initiate("udp_out", 1.0)
    pump(sides, now=1.0, record=wire)
    assert second is first and [d[18] for d in wire] == [36, 36]  # one CREATE_CHILD_SA
    for side in sides.values():
        (sa,) = side.core.sas.values()
        assert sorted(c.settings.policy for c in sa.children) == ["peer_transport", "peer_udp"]
    udp = next(s for s in sides["a"].installed[2:] if s.src == A)
    assert len(sides["a"].installed) == 4 and udp.spi != sides["a"].installed[1].spi


def test_nat_detected_floats_to_4500_and_encapsulates(tmp_path: Path) -> None:
    """A behind a NAT (its source becomes 203.0.113.254 with another port; B accepts any
    address, IP_RW): both sides detect it, IKE moves to port 4500, the ESP SAs get UDP
    encapsulation with the mapped ports, and A sends NAT keepalives."""
    pair = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
            "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=(
                ('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),))}
    public = ipaddress.ip_address("203.0.113.254")
    mapping: dict[Endpoint, Endpoint] = {}
    a, b = pair["a"].core, pair["b"].core
    a.initiate("peer_out", 0.0)

    async def run() -> None:
        busy = True
        while busy:
            busy = False
            for side in pair.values():
                busy = await perform_requests(side, 0.0) or busy
            for d in a.datagrams_to_send():
                busy = True
                outside = mapping.setdefault(d.local, Endpoint(public, 40000 + len(mapping)))
                b.receive_datagram(d.data, d.remote, outside, 0.0)
            for d in b.datagrams_to_send():
                busy = True
                inside = next(k for k, v in mapping.items() if v == d.remote)
                a.receive_datagram(d.data, inside, d.local, 0.0)
        for side in pair.values():
            while (ev := side.core.next_event()) is not None:
                side.events.append(ev)

    asyncio.run(run())
    nats = {n: [e for e in pair[n].events if isinstance(e, NatDetected)] for n in "ab"}
    assert [(e.local_behind, e.peer_behind) for e in nats["a"]] == [(True, False)]
    assert [(e.local_behind, e.peer_behind) for e in nats["b"]] == [(False, True)]
    a_out = next(s for s in pair["a"].installed if s.src == A)
    b_in = next(s for s in pair["b"].installed if s.dst == B)
    assert a_out.encap == api.Encap(4500, 4500)  # A's view: its own port 4500 to B's
    assert b_in.encap == api.Encap(40001, 4500)  # B's view: the NAT's port to its 4500
    (sa,) = a.sas.values()
    assert sa.local.port == 4500 and sa.deadline_keepalive == 20.0
    a.handle_timer(20.0)
    assert [d.data for d in a.datagrams_to_send()] == [b"\xff"]


def test_ip_rw_child_narrows_to_the_peer_and_asks_for_policies(tmp_path: Path) -> None:
    """A responder with an IP_RW policy takes the peer's address as its side of the CHILD_SA,
    asks spmd (POLICY ADD) for the policies, and reports the CHILD_SA up only after that."""
    edit = (('peers_ipaddr "${PEER_IP4}" port 500;', "peers_ipaddr IP_RW;"),
            ('dst "${PEER_IP4}"', "dst IP_RW"), ('src "${PEER_IP4}"', "src IP_RW"))
    sides = {"a": make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a"),
             "b": make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=edit)}
    sides["a"].core.initiate("peer_out", 0.0)
    asked: list[object] = []
    b = sides["b"].core
    original = b.request

    def spy(sa: object, op: object, then: object) -> None:
        if isinstance(op, PolicyAdd | PolicyDelete):
            asked.append(op)
            then("Policy Added", 0.0)  # type: ignore[operator]
            return
        original(sa, op, then)  # type: ignore[arg-type]

    b.request = spy  # type: ignore[method-assign]
    pump(sides)
    (add,) = asked
    assert isinstance(add, PolicyAdd) and add.selector_index == "peer_out"
    assert (str(add.src), str(add.dst), str(add.sa_dst)) == ("192.0.2.2/32", "192.0.2.1/32",
                                                             "192.0.2.1")
    assert any(isinstance(e, ChildSaUp) for e in sides["b"].events)


def test_passive_remote_does_not_initiate(tmp_path: Path) -> None:
    side = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a",
                     edit=(("kmp_auth_method { psk; };", "kmp_auth_method { psk; }; passive on;"),))
    assert side.core.initiate("peer_out", 0.0) is None
    fail = side.core.next_event()
    assert isinstance(fail, NegotiationFailed) and "passive" in fail.reason
    assert not side.core.datagrams_to_send()
