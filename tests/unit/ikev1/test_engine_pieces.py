"""The pure pieces of iked's IKEv1 engine: lifetime judgement and Quick Mode IDs."""

from __future__ import annotations

import ipaddress

import pytest

from iked.ikev1 import ids, proposals
from iked.ikev2.ts import Ts
from racoon2.config.model import AlgSpec, ProposalCheck
from racoon2.ikev1.constants import IdType, IpsecAttr
from racoon2.ikev1.payloads import Identification

OB, S, C, E = ProposalCheck.OBEY, ProposalCheck.STRICT, ProposalCheck.CLAIM, ProposalCheck.EXACT


@pytest.mark.parametrize(("check", "theirs", "ours", "want"), [
    (OB, 7200, 3600, (7200, False)),   # obey: the initiator's, whatever it is
    (S, 1800, 3600, (1800, False)),   # shorter than ours: taken
    (S, 7200, 3600, None),            # longer: strict refuses
    (C, 7200, 3600, (3600, True)),    # longer: claim shortens and says so
    (E, 3600, 3600, (3600, False)),
    (E, 1800, 3600, None),            # exact wants them equal
    (S, 7200, 0, (7200, False)),      # we set no limit: theirs
])
def test_judge_lifetime_as_racoon(check: ProposalCheck, theirs: int, ours: int,
                                  want: tuple[int, bool] | None) -> None:
    assert proposals.judge_lifetime(check, theirs, ours) == want


def test_responder_lifetime_with_claim() -> None:
    enc, auth = (AlgSpec("aes128_cbc", "x"),), (AlgSpec("hmac_sha1", "x"),)
    ours = proposals.qm_transforms(enc, auth, True, 3600, 0, None)
    theirs = proposals.qm_transforms(enc, auth, True, 86400, 0, None)
    choice = proposals.choose(theirs, ours, IpsecAttr.SA_LIFE_TYPE, C)
    assert choice is not None and choice.lifetime == 3600 and choice.notify_lifetime
    assert proposals.choose(theirs, ours, IpsecAttr.SA_LIFE_TYPE, S) is None
    # 86400 does not fit a TV attribute: it goes as a 4-octet TLV (RFC 2408 §3.3).
    assert isinstance(theirs[0].attribute(IpsecAttr.SA_LIFE_DURATION).value,  # type: ignore[union-attr]
                      bytes)


def a(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("ts", "kind"), [
    (Ts(a("192.0.2.1"), a("192.0.2.1")), IdType.IPV4_ADDR),
    (Ts(a("198.51.100.0"), a("198.51.100.15")), IdType.IPV4_ADDR_SUBNET),
    (Ts(a("198.51.100.3"), a("198.51.100.9")), IdType.IPV4_ADDR_RANGE),
    (Ts(a("2001:db8::"), a("2001:db8::ffff"), 6, 80, 80), IdType.IPV6_ADDR_SUBNET),
])
def test_quick_mode_ids_round_trip(ts: Ts, kind: IdType) -> None:
    ident = ids.to_id(ts)
    assert ident.id_type == kind
    assert ids.to_ts(ident) == ts


def test_a_broken_netmask_names_nothing() -> None:
    assert ids.to_ts(Identification(IdType.IPV4_ADDR_SUBNET, bytes(4) + b"\xff\x00\xff\x00")) \
        is None
    assert ids.to_ts(Identification(IdType.FQDN, b"example.com")) is None
