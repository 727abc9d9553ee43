"""AH and IPComp CHILD_SAs between two IKEv2 cores and the in-memory kernel, and the bundles
iked -n refuses (RFC 7296 §3.3, §2.22)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_ikev2_pair import Side, make_side, pump

from iked.events import ChildSaUp, NegotiationFailed
from iked.ikev2 import ipcomp
from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.errors import ConfigError
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import Notify
from racoon2.kernel import api

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
ESP_SA = """sa esp_aes_sha256 {
	sa_protocol esp;"""
AH = (("sa_index esp_aes_sha256;", "sa_index ah_sha256;"),
      (ESP_SA, "sa ah_sha256 { sa_protocol ah; ah_auth_alg { hmac_sha2_384; hmac_sha2_256; }; };\n"
       + ESP_SA))
COMP = (("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
        (ESP_SA, "sa comp { sa_protocol ipcomp; ipcomp_alg { deflate; }; };\n" + ESP_SA))


def sides(tmp: Path, a_edit: tuple[tuple[str, str], ...], b_edit: tuple[tuple[str, str], ...],
          sample: str = "ikev2-transport.conf") -> dict[str, Side]:
    return {"a": make_side(tmp / "a", "192.0.2.1", "192.0.2.2", b"a", sample, edit=a_edit),
            "b": make_side(tmp / "b", "192.0.2.2", "192.0.2.1", b"b", sample, edit=b_edit)}


def test_ah_child_sa(tmp_path: Path) -> None:
    pair = sides(tmp_path, AH, AH)
    record: list[bytes] = []
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    pump(pair, record=record)
    for side in pair.values():
        assert [e.algorithms for e in side.events if isinstance(e, ChildSaUp)] == [
            "AH AUTH_HMAC_SHA2_384_192"]
        assert {s.proto for s in side.installed} == {api.Proto.AH}
    a_out = next(s for s in pair["a"].installed if str(s.src) == "192.0.2.1")
    b_in = next(s for s in pair["b"].installed if str(s.src) == "192.0.2.1")
    assert a_out.cipher is None and a_out.aead is None and a_out.integrity is not None
    assert (a_out.spi, a_out.integrity) == (b_in.spi, b_in.integrity)
    assert a_out.integrity.name == "hmac(sha384)" and a_out.integrity.trunc_bits == 192
    assert len(a_out.integrity.key) == 48
    # The larval SA the initiator reserved is an AH one (the kernel looks SPIs up per protocol).
    assert (api.Proto.AH, a_out.spi) in {(k[1], k[2]) for k in pair["b"].kernel.sas}


def test_ah_child_is_deleted_with_an_ah_delete(tmp_path: Path) -> None:
    pair = sides(tmp_path, AH, AH)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    (sa,) = pair["a"].core.sas.values()
    (child,) = sa.children
    sa.delete_child(child, 1.0, "test")
    record: list[bytes] = []
    pump(pair, 1.0, record=record)
    assert not any(k[1] is api.Proto.AH for k in pair["b"].kernel.sas)
    assert not any(k[1] is api.Proto.AH for k in pair["a"].kernel.sas)


def test_esp_with_ipcomp(tmp_path: Path) -> None:
    pair = sides(tmp_path, COMP, COMP, "ikev2-transport.conf")
    assert pair["a"].core.initiate("peer_out", 0.0) is not None
    pump(pair)
    for side in pair.values():
        ups = [e for e in side.events if isinstance(e, ChildSaUp)]
        assert ups and ups[0].algorithms.endswith(" + IPComp deflate")
        assert sorted(s.proto for s in side.installed) == [api.Proto.ESP, api.Proto.ESP,
                                                           api.Proto.IPCOMP, api.Proto.IPCOMP]
    a_comp = {str(s.src): s for s in pair["a"].installed if s.proto is api.Proto.IPCOMP}
    b_comp = {str(s.src): s for s in pair["b"].installed if s.proto is api.Proto.IPCOMP}
    for src in ("192.0.2.1", "192.0.2.2"):
        assert a_comp[src].spi == b_comp[src].spi and 0x100 <= a_comp[src].spi <= 0xFFFF
        assert a_comp[src].compression == "deflate" and a_comp[src].replay_window == 0
    # The inbound CPI was reserved in the kernel (ALLOCSPI), then filled.
    assert ("192.0.2.1", api.Proto.IPCOMP, a_comp["192.0.2.2"].spi) in {
        (str(k[0]), k[1], k[2]) for k in pair["a"].kernel.sas}


def test_tunnel_ipcomp_is_the_tunnel_and_esp_transport(tmp_path: Path) -> None:
    """spmd's templates: IPComp innermost in tunnel mode, ESP in transport mode around it."""
    edit = (("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
            ("sa esp_aes_sha256 {", "sa comp { sa_protocol ipcomp; };\nsa esp_aes_sha256 {"))
    a = make_side(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a", edit=edit + (
        ("ipsec_mode transport;", "ipsec_mode tunnel;"),))
    b = make_side(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b", edit=edit + (
        ("ipsec_mode transport;", "ipsec_mode tunnel;"),))
    pair = {"a": a, "b": b}
    a.core.initiate("peer_out", 0.0)
    pump(pair)
    modes = {(s.proto, s.mode) for s in a.installed}
    assert modes == {(api.Proto.ESP, api.Mode.TRANSPORT), (api.Proto.IPCOMP, api.Mode.TUNNEL)}
    ups = [e for e in a.events if isinstance(e, ChildSaUp)]
    assert ups and ups[0].mode is api.Mode.TUNNEL


def test_ipcomp_supported_notify_data(tmp_path: Path) -> None:
    """RFC 7296 §3.10.1: a two-octet CPI, then a one-octet transform ID (DEFLATE is 2)."""
    pair = sides(tmp_path, COMP, COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    (sa,) = pair["a"].core.sas.values()
    (child,) = sa.children
    (offer,) = ipcomp.offer(child)
    assert isinstance(offer, Notify) and offer.type == NotifyType.IPCOMP_SUPPORTED
    assert int(offer.type) == 16387
    assert offer.data == struct.pack("!HB", child.cpi_in, 2)
    assert ipcomp.pick(child, [offer, Notify(0, NotifyType.IPCOMP_SUPPORTED, b"",
                                             b"\x12\x34\x01")]) == (child.cpi_in, 2)
    assert ipcomp.received([Notify(0, NotifyType.IPCOMP_SUPPORTED, b"", b"\x12")]) == []


def test_responder_without_ipcomp_is_refused_by_the_initiator(tmp_path: Path) -> None:
    pair = sides(tmp_path, COMP, ())
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    failed = [e for e in pair["a"].events if isinstance(e, NegotiationFailed)]
    assert failed and "did not agree to IPComp" in failed[0].reason
    assert not pair["a"].installed
    assert not pair["a"].kernel.sas  # the larval ESP SA and the CPI are given back


def test_initiator_without_ipcomp_is_refused_by_the_responder(tmp_path: Path) -> None:
    pair = sides(tmp_path, (), COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    failed = [e for e in pair["b"].events if isinstance(e, NegotiationFailed)]
    assert failed and "no IPComp agreed" in failed[0].reason
    assert not pair["b"].installed and not pair["a"].installed


def check(tmp: Path, edit: tuple[tuple[str, str], ...]) -> None:
    text = (SAMPLES / "ikev2-transport.conf").read_text()
    for old, new in edit:
        assert old in text
        text = text.replace(old, new)
    check_config(loads(text, str(tmp / "racoon2.conf")), "iked")


@pytest.mark.parametrize(("edit", "message"), [
    ((("sa_index esp_aes_sha256;", "sa_index { ah1; esp_aes_sha256; };"),
      (ESP_SA, "sa ah1 { sa_protocol ah; ah_auth_alg { hmac_sha1; }; };\n" + ESP_SA)),
     "cannot bundle AH with ESP"),
    ((("sa_index esp_aes_sha256;", "sa_index comp;"),
      (ESP_SA, "sa comp { sa_protocol ipcomp; };\n" + ESP_SA)),
     "IPComp is negotiated only beside ESP or AH"),
    ((("sa_index esp_aes_sha256;", "sa_index { esp_aes_sha256; comp; };"),
      (ESP_SA, "sa comp { sa_protocol ipcomp; ipcomp_alg { oui; }; };\n" + ESP_SA)),
     "found oui in ipcomp_alg"),
    ((("ipsec_index { esp_sha256; };", "ipsec_index { esp_sha256; ah_only; };"),
      ("ipsec esp_sha256 {", "ipsec ah_only { sa_index ah1; };\nsa ah1 { sa_protocol ah; "
                             "ah_auth_alg { hmac_sha1; }; };\nipsec esp_sha256 {")),
     "as in the policy's first ipsec"),
])
def test_check_refuses_what_a_child_sa_cannot_carry(tmp_path: Path,
                                                    edit: tuple[tuple[str, str], ...],
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as e:
        check(tmp_path, edit)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{tmp_path}/racoon2.conf:")


@pytest.mark.parametrize("edit", [AH, COMP])
def test_check_accepts_ah_and_esp_with_ipcomp(tmp_path: Path,
                                              edit: tuple[tuple[str, str], ...]) -> None:
    check(tmp_path, edit)


def test_ipcomp_child_is_rekeyed_with_new_cpis(tmp_path: Path) -> None:
    """A CREATE_CHILD_SA rekey negotiates IPComp again (new CPIs); the old SAs all go."""
    pair = sides(tmp_path, COMP, COMP)
    pair["a"].core.initiate("peer_out", 0.0)
    pump(pair)
    old_in = next(s for s in pair["a"].installed if s.proto is api.Proto.ESP and
                  str(s.dst) == "192.0.2.1")
    old_cpis = {s.spi for s in pair["a"].installed if s.proto is api.Proto.IPCOMP}
    assert pair["a"].core.kernel_event(api.Expire(old_in.key, hard=False), 10.0)
    pump(pair, now=10.0)
    for side in pair.values():
        assert [e.rekey for e in side.events if isinstance(e, ChildSaUp)] == [False, True]
        (sa,) = side.core.sas.values()
        (child,) = sa.children
        assert child.ipcomp is not None and child.negotiated is not None
        assert {child.ipcomp.cpi_in, child.ipcomp.cpi_out}.isdisjoint(old_cpis)
        kernel = {(k[1], k[2]) for k in side.kernel.sas}
        assert kernel == {(s.proto, s.spi) for s in child.negotiated.specs}
