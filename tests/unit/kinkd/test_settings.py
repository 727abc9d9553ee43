"""kinkd's reading of racoon2.conf and the pure helpers of its shell: offers, lifetimes, peer
principals, Quick Mode IDs and the kernel SAs of a negotiated pair."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from kinkd import exchange as kx
from kinkd import sas
from kinkd.exchange import ChildSa, EspOffer, KinkError, lifetime_for
from kinkd.keymat import EspKeys
from kinkd.names import etc_hosts_name
from kinkd.settings import (
    KINK_PORT,
    SettingsError,
    my_principal,
    peer_settings,
    policy_settings,
    principal_for,
    realm_of,
)
from racoon2.config import loads
from racoon2.config.model import ProposalCheck
from racoon2.crypto.rng import SystemRng
from racoon2.crypto.transforms import TransformType, by_keyword
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.ikev1.payloads import Nonce
from racoon2.kernel import api
from racoon2.net import Endpoint

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "kink-transport.conf"
ip = ipaddress.ip_address


def _tunnel_conf() -> str:
    text = SAMPLE.read_text().replace("ipsec_mode transport;", "ipsec_mode tunnel; "
                                      "my_sa_ipaddr 192.0.2.1; peers_sa_ipaddr 192.0.2.2;")
    text = text.replace("src 192.0.2.1;", "src 198.51.100.0/28;")
    text = text.replace("dst 192.0.2.2;", "dst 198.51.100.16/28;")
    return text.replace("esp_enc_alg { aes128_cbc; };",
                        "esp_enc_alg { aes256_cbc; aes128_gcm16; };")


def test_the_sample_gives_one_transport_offer_and_its_lifetime() -> None:
    config = loads(SAMPLE.read_text(), str(SAMPLE))
    assert my_principal(config) == "kink/host-a.example.com@EXAMPLE.COM"
    policy = policy_settings(config, config.policies[0])
    assert (policy.policy, policy.selector, policy.remote) == ("b_transport", "b_out", "host_b")
    assert policy.mode is EncapsulationMode.TRANSPORT and policy.lifetime_seconds == 8 * 3600
    assert policy.offers == (EspOffer(by_keyword(TransformType.ENCR, "aes128_cbc"),
                                      by_keyword(TransformType.INTEG, "hmac_sha1"),
                                      EncapsulationMode.TRANSPORT, 8 * 3600),)
    remote = config.remote("host_b")
    assert remote is not None
    peer = peer_settings(config, remote)
    assert peer.principal == "kink/host-b.example.com@EXAMPLE.COM"
    assert (peer.port, peer.nonce_size, peer.max_retry, peer.passive) == (KINK_PORT, 16, 5,
                                                                          False)


def test_aead_offers_take_no_integrity_and_tunnel_ids_round_trip() -> None:
    config = loads(_tunnel_conf(), "tunnel.conf")
    policy = policy_settings(config, config.policies[0])
    assert [(o.encr.name, o.integ.name if o.integ else None) for o in policy.offers] == [
        ("ENCR_AES_CBC", "AUTH_HMAC_SHA1_96"), ("ENCR_AES_GCM_16", None)]
    ids = sas.quick_mode_ids(policy, ip("192.0.2.1"), ip("192.0.2.2"))
    assert ids is not None
    # What the initiator sends (IDci = its networks) matches the mirrored responder policy.
    mirrored = type(policy)(**{**policy.__dict__, "local": policy.remote_nets,
                               "remote_nets": policy.local})
    assert sas.ids_match(mirrored, ids) and not sas.ids_match(policy, ids)


def test_a_policy_without_esp_or_outbound_selector_is_refused() -> None:
    text = SAMPLE.read_text().replace("sa_protocol esp;", "sa_protocol ah; ah_auth_alg "
                                      "{ hmac_sha1; };").replace("esp_enc_alg { aes128_cbc; };",
                                                                 "").replace(
        "esp_auth_alg { hmac_sha1; };", "")
    config = loads(text, "ah.conf")
    with pytest.raises(SettingsError, match="no ESP sa"):
        policy_settings(config, config.policies[0])


def test_peer_principal_from_a_host_name(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n192.0.2.2 Host-B.Example.COM. b  # peer\n")
    name = etc_hosts_name(ip("192.0.2.2"), str(hosts))
    assert name == "Host-B.Example.COM."
    assert principal_for(name, realm_of("kink/a@EXAMPLE.COM")) == \
        "kink/host-b.example.com@EXAMPLE.COM"
    assert etc_hosts_name(ip("192.0.2.3"), str(hosts)) is None
    assert etc_hosts_name(ip("192.0.2.3"), str(tmp_path / "absent")) is None


@pytest.mark.parametrize("initiator", [True, False])
def test_kernel_sas_of_a_pair(initiator: bool) -> None:
    config = loads(SAMPLE.read_text(), str(SAMPLE))
    policy = policy_settings(config, config.policies[0])
    child = ChildSa(policy.offers[0], 0x100, 0x200, EspKeys(b"i" * 16, b"I" * 20),
                    EspKeys(b"o" * 16, b"O" * 20), False, 1)
    pair = sas.SaPair(policy, "kink/b@R", Endpoint(ip("192.0.2.2"), 910), ip("192.0.2.1"),
                        ip("192.0.2.2"), child, initiator, 0.0)
    inbound, outbound = sas.sa_specs(pair, SystemRng())
    assert (inbound.src, inbound.dst, inbound.spi) == (ip("192.0.2.2"), ip("192.0.2.1"), 0x100)
    assert (outbound.src, outbound.dst, outbound.spi) == (ip("192.0.2.1"), ip("192.0.2.2"),
                                                          0x200)
    assert inbound.cipher == api.Cipher("cbc(aes)", b"i" * 16)
    assert outbound.integrity == api.Integrity("hmac(sha1)", b"O" * 20, 96)
    hard = 8 * 3600
    assert inbound.lifetime.hard_add_seconds == hard
    low, high = (0.8, 0.9) if initiator else (0.92, 0.97)
    assert low * hard - 1 <= inbound.lifetime.soft_add_seconds <= high * hard
    assert pair.inbound == api.SaKey(ip("192.0.2.2"), ip("192.0.2.1"), api.Proto.ESP, 0x100)


class _ByteRng:
    """Always the same byte: the end points of the soft-lifetime draw."""

    def __init__(self, byte: int) -> None:
        self.byte = byte

    def random_bytes(self, n: int) -> bytes:
        return bytes([self.byte]) * n


@pytest.mark.parametrize(("initiator", "byte", "share"), [
    (True, 0, 0.8), (True, 255, 0.9), (False, 0, 0.92), (False, 255, 0.97)])
def test_the_soft_lifetime_is_drawn_from_the_injected_rng(initiator: bool, byte: int,
                                                          share: float) -> None:
    config = loads(SAMPLE.read_text(), str(SAMPLE))
    policy = policy_settings(config, config.policies[0])
    child = ChildSa(policy.offers[0], 0x100, 0x200, EspKeys(b"i" * 16, b"I" * 20),
                    EspKeys(b"o" * 16, b"O" * 20), False, 1)
    pair = sas.SaPair(policy, "kink/b@R", Endpoint(ip("192.0.2.2"), 910), ip("192.0.2.1"),
                      ip("192.0.2.2"), child, initiator, 0.0)
    inbound, outbound = sas.sa_specs(pair, _ByteRng(byte))
    assert inbound.lifetime.soft_add_seconds == int(8 * 3600 * share)
    assert outbound.lifetime == inbound.lifetime


# -- issue 15 §2: infinite, acceptable_kmp, proposal_check -----------------------------------


def test_infinite_lifetimes_are_no_kernel_limit() -> None:
    text = SAMPLE.read_text().replace("ipsec_sa_lifetime_time 8 hours;",
                                      "ipsec_sa_lifetime_time infinite; "
                                      "ipsec_sa_lifetime_byte infinite;")
    assert "infinite" in text
    config = loads(text, str(SAMPLE))
    policy = policy_settings(config, config.policies[0])
    assert (policy.lifetime_seconds, policy.lifetime_bytes) == (0, 0)
    assert all(o.lifetime == 0 for o in policy.offers)
    remote = config.remote("host_b")
    assert remote is not None
    local, peer = ip("192.0.2.1"), ip("192.0.2.2")
    child = ChildSa(policy.offers[0], 1, 2, EspKeys(b"i" * 16, b"I" * 20),
                    EspKeys(b"o" * 16, b"O" * 20), False, 1)
    inbound, _ = sas.sa_specs(sas.SaPair(policy, "p", Endpoint(peer, 910), local, peer,
                                         child, True, 0.0), SystemRng())
    assert inbound.lifetime == api.Lifetime()


@pytest.mark.parametrize(("kmps", "initiates"), [("kink;", True), ("kink; ikev2;", True),
                                                 ("ikev2; kink;", False)])
def test_kinkd_initiates_when_kink_comes_first(kmps: str, initiates: bool) -> None:
    text = SAMPLE.read_text().replace("remote host_b {\n\tacceptable_kmp { kink; };",
                                      f"remote host_b {{\n\tacceptable_kmp {{ {kmps} }};")
    config = loads(text, str(SAMPLE))
    remote = config.remote("host_b")
    assert remote is not None and remote.acceptable_kmp
    assert peer_settings(config, remote).initiates is initiates


@pytest.mark.parametrize(("check", "offered", "mine", "taken"), [
    (ProposalCheck.OBEY, 7200, 3600, 7200), (ProposalCheck.OBEY, 0, 3600, 0),
    (ProposalCheck.STRICT, 1800, 3600, 1800), (ProposalCheck.STRICT, 7200, 3600, None),
    (ProposalCheck.STRICT, 0, 3600, None), (ProposalCheck.STRICT, 3600, 0, 3600),
    (ProposalCheck.CLAIM, 7200, 3600, 3600), (ProposalCheck.CLAIM, 1800, 3600, 1800),
    (ProposalCheck.CLAIM, 0, 3600, 3600),
    (ProposalCheck.EXACT, 3600, 3600, 3600), (ProposalCheck.EXACT, 1800, 3600, None),
])
def test_proposal_check_on_lifetimes(check: ProposalCheck, offered: int, mine: int,
                                     taken: int | None) -> None:
    assert lifetime_for(check, offered, mine) == taken


@pytest.mark.parametrize(("check", "taken"), [("obey", 7200), ("claim", 3600), ("strict", None)])
def test_the_responder_applies_proposal_check(check: str, taken: int | None) -> None:
    text = SAMPLE.read_text().replace("peers_ipaddr 192.0.2.2;",
                                      f"peers_ipaddr 192.0.2.2; proposal_check {check};")
    config = loads(text, str(SAMPLE))
    remote = config.remote("host_b")
    assert remote is not None
    peer = peer_settings(config, remote)
    assert peer.proposal_check is ProposalCheck(check)
    mine = policy_settings(config, config.policies[0]).offers  # 8 hours
    longer = replace(mine[0], lifetime=7200)
    shorter = tuple(replace(o, lifetime=3600) for o in mine)
    verified = kx.Verified(SimpleNamespace(xid=1), "kink/b@EXAMPLE.COM", 0, None, None,  # type: ignore[arg-type]
                           (kx._sa(1, (kx._transform(1, longer),)), Nonce(b"n" * 16)))
    if taken is None:
        with pytest.raises(KinkError, match="no ESP transform"):
            kx.choose(verified, shorter, peer.proposal_check)
    else:
        assert kx.choose(verified, shorter, peer.proposal_check).chosen.lifetime == taken
