"""IKEv1 NAT traversal between two cores in memory, A behind a NAT (RFC 3947, RFC 3948)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

import pytest

from iked.events import ChildSaUp, IkeSaUp, NatDetected, NegotiationFailed
from iked.ikev1 import nat_exchange, natt, vendor
from iked.ikev1.core import Ikev1Core
from iked.ikev1.sa import IsakmpSa
from iked.ikev2.child import show
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Endpoint

from .conf import ikev1_conf
from .harness import QM, A, B, Route, Side, pump, side, timer

#: A's public address on the NAT, and the NAT's port for each of A's.
PUBLIC = ipaddress.ip_address("198.51.100.1")
PORTS = {500: 31500, 4500: 34500}
NAT_ON = "\t\tnat_traversal on;"


def nat() -> Route:
    """A NAT in front of A: A's source rewritten one way, B's destination back."""
    back = {p: q for q, p in PORTS.items()}

    def route(sender: str, src: Endpoint, dst: Endpoint) -> tuple[Endpoint, Endpoint]:
        if sender == "a":
            return Endpoint(PUBLIC, PORTS[src.port]), dst
        return src, Endpoint(ipaddress.ip_address(A), back[dst.port])
    return route


def nat_pair(tmp: Path, **options: object) -> tuple[Side, Side]:
    """A (behind the NAT) to B, B knowing A as the NAT's address (its traffic selectors
    being A's own address, as transport mode's IDs behind a NAT are)."""
    extra = str(options.pop("extra", NAT_ON))
    return (side(tmp / "a", A, B, b"a", extra=extra, **options),
            side(tmp / "b", B, str(PUBLIC), b"b", extra=extra, src=B, dst=A, **options))


@pytest.mark.parametrize("aggressive", [False, True])
@pytest.mark.parametrize("tunnel", [False, True])
def test_floats_and_encapsulates(tmp_path: Path, aggressive: bool, tunnel: bool) -> None:
    options: dict[str, object] = {"aggressive": aggressive, "tunnel": tunnel}
    a, b = nat_pair(tmp_path, **options)
    a.core.initiate("sel_out", 0.0)
    wire: list[tuple[str, int, bool]] = []
    pump(a, b, wire=wire, route=nat())
    for s in (a, b):
        assert not s.of(NegotiationFailed), s.events
        assert len(s.of(IkeSaUp)) == 1 and len(s.of(ChildSaUp)) == 1
    (seen_a,), (seen_b,) = a.of(NatDetected), b.of(NatDetected)
    assert isinstance(seen_a, NatDetected) and seen_a.local_behind and not seen_a.peer_behind
    assert isinstance(seen_b, NatDetected) and seen_b.peer_behind and not seen_b.local_behind
    # MM1-4 / AM1-2 on port 500, the rest between the ports 4500 (RFC 3947 §4).
    (sa_a,), (sa_b,) = a.core.sas.values(), b.core.sas.values()
    assert sa_a.local.port == sa_a.remote.port == 4500
    assert sa_b.local == Endpoint(ipaddress.ip_address(B), 4500)
    assert sa_b.remote == Endpoint(PUBLIC, PORTS[4500])
    assert wire[-1] == ("a", QM, True)
    # ESP in UDP between the IKE ports each side sees (RFC 3948).
    for s, ours, theirs in ((a, 4500, 4500), (b, 4500, PORTS[4500])):
        for spec in s.installed:
            assert spec.encap is not None
            outbound = str(spec.src) == (A if s is a else B)
            assert (spec.encap.sport, spec.encap.dport) == (
                (ours, theirs) if outbound else (theirs, ours))
        assert {sp.mode for sp in s.installed} == {api.Mode.TUNNEL if tunnel
                                                   else api.Mode.TRANSPORT}


def test_no_nat_no_float(tmp_path: Path) -> None:
    a, b = (side(tmp_path / "a", A, B, b"a", extra=NAT_ON),
            side(tmp_path / "b", B, A, b"b", extra=NAT_ON))
    a.core.initiate("sel_out", 0.0)
    pump(a, b)
    assert len(a.of(ChildSaUp)) == len(b.of(ChildSaUp)) == 1
    assert not a.of(NatDetected) and not b.of(NatDetected)
    assert all(s.encap is None for s in a.installed + b.installed)
    (sa_a,) = a.core.sas.values()
    assert sa_a.local.port == 500 and sa_a.nat_variant is natt.Variant.RFC3947


def test_nat_traversal_off_sends_no_vendor_id(tmp_path: Path) -> None:
    a, b = nat_pair(tmp_path, extra="\t\tnat_traversal off;")
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    assert len(a.of(ChildSaUp)) == 1
    assert all(s.encap is None for s in a.installed)
    (sa_b,) = b.core.sas.values()
    assert sa_b.peer_vendor_ids == () or natt.choose(sa_b.peer_vendor_ids) is None


def test_keepalives_from_behind_the_nat(tmp_path: Path) -> None:
    a, b = nat_pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    for now in (10.0, 20.0, 39.0, 40.0):
        timer(a, now)
        timer(b, now)
    ka_a = [d for d in a.outbox if d.data == natt.KEEPALIVE]
    assert len(ka_a) == 2 and all(d.local.port == d.remote.port == 4500 for d in ka_a)
    assert not [d for d in b.outbox if d.data == natt.KEEPALIVE]  # B is not behind it


def test_nat_rebinding_followed(tmp_path: Path) -> None:
    a, b = nat_pair(tmp_path)
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    PORTS[4500] = 40000  # the NAT forgot the mapping and made another
    try:
        a.core.initiate("sel_out", 0.0)
        (sa_a,) = a.core.sas.values()
        (c,) = sa_a.children
        a.core.kernel_event(api.Expire(c.negotiated.inbound.key, False), 1.0)  # type: ignore[union-attr]
        pump(a, b, now=1.0, route=nat())
        (sa_b,) = b.core.sas.values()
        assert sa_b.remote.port == 40000
        assert len(b.of(ChildSaUp)) == 2
    finally:
        PORTS[4500] = 34500


def test_draft_variant_when_the_initiator_speaks_only_drafts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older Windows/macOS client announces draft-02 with the newline only: both speak it,
    with the drafts' payload types (130/131) and Encapsulation Modes (61443/61444)."""
    def draft_only(sa: IsakmpSa) -> Sequence[bytes]:
        return (natt.vendor_id(natt.Variant.DRAFT_02_N),) if sa.initiator else \
            nat_exchange._vendor_ids(sa)
    monkeypatch.setattr(vendor, "SENDERS", [draft_only if s is nat_exchange._vendor_ids else s
                                            for s in vendor.SENDERS])
    a, b = nat_pair(tmp_path, tunnel=True)
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    for s in (a, b):
        assert len(s.of(ChildSaUp)) == 1, s.events
        (sa,) = s.core.sas.values()
        assert sa.nat_variant is natt.Variant.DRAFT_02_N
        assert nat_exchange.mode(sa, True) is EncapsulationMode.UDP_TUNNEL_DRAFT
        assert all(spec.encap is not None for spec in s.installed)


def test_phase1_rekey_stays_on_4500(tmp_path: Path) -> None:
    a, b = nat_pair(tmp_path, p1_life=100)
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    timer(a, 90.0)  # 90 % of the lifetime: the successor
    ports: list[tuple[int, int]] = []
    inner = nat()

    def route(sender: str, src: Endpoint, dst: Endpoint) -> tuple[Endpoint, Endpoint]:
        if sender == "a":
            ports.append((src.port, dst.port))
        return inner(sender, src, dst)
    pump(a, b, now=90.0, route=route)
    # MM1 onwards between the ports 4500, with the non-ESP marker the shell adds there.
    assert ports and set(ports) == {(4500, 4500)}
    for s in (a, b):
        assert len(s.of(IkeSaUp)) == 2 and not s.of(NegotiationFailed), s.events
        (sa,) = [x for x in s.core.sas.values() if x.children]
        assert sa.local.port == 4500 and sa.nat is not None and sa.nat.nat


def test_ip_rw_transport_ids_read_as_the_nat_address(tmp_path: Path) -> None:
    """L2TP/IPsec behind a NAT: the client's transport-mode IDci names its own address (A),
    which B never sees; B's IP_RW policy is for the NAT's address, and the IPsec SAs and the
    policy are for it (RFC 3947 §5.2), while QM2 echoes the IDs as A sent them."""
    a = side(tmp_path / "a", A, B, b"a", extra=NAT_ON)
    text = ikev1_conf(tmp_path / "b", B, str(PUBLIC), extra=NAT_ON, src=B, dst="IP_RW")
    text = text.replace(f"peers_ipaddr {PUBLIC} port 500", "peers_ipaddr IP_RW")
    b = Side(Ikev1Core(loads(text, f"{tmp_path}/b.conf"), DeterministicRng(b"b"), read_secret,
                       0.0), MemoryBackend(seed=2))
    a.core.initiate("sel_out", 0.0)
    pump(a, b, route=nat())
    for s in (a, b):
        assert not s.of(NegotiationFailed) and len(s.of(ChildSaUp)) == 1, s.events
    (sa_b,) = b.core.sas.values()
    (child,) = sa_b.children
    assert show(child.settings.remote_ts) == f"{PUBLIC}/32"
    assert {str(spec.dst) for spec in b.installed} == {B, str(PUBLIC)}
    assert all(spec.mode is api.Mode.TRANSPORT and spec.encap for spec in b.installed)
