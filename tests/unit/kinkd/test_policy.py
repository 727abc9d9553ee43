"""kinkd.policy without a KDC: which policy a CREATE is for, and where a CREATE goes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from kinkd import policy as pol
from kinkd import sas
from kinkd.settings import PolicySettings, SettingsError, policy_settings
from racoon2.config import Config, loads
from racoon2.ikev1.payloads import Identification

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "kink-transport.conf"
B = "kink/host-b.example.com@EXAMPLE.COM"
ip = ipaddress.ip_address


def _names(config: Config, client: str, remote: str,
           ids: tuple[Identification, ...] = ()) -> list[str]:
    return [c.policy.policy for c in pol.responder_candidates(config, client, ip(remote), ids)]


def test_a_transport_create_finds_its_policy_by_principal_and_address(sample: Config) -> None:
    assert _names(sample, B, "192.0.2.2") == ["b_transport"]
    assert _names(sample, "kink/host-c.example.com@EXAMPLE.COM", "192.0.2.2") == []
    assert _names(sample, B, "192.0.2.9") == []  # not the policy's remote address


def test_a_remote_that_does_not_accept_kink_is_no_candidate() -> None:
    text = SAMPLE.read_text().replace("acceptable_kmp { kink; };", "acceptable_kmp { ikev2; };")
    assert _names(loads(text, str(SAMPLE)), B, "192.0.2.2") == []


def test_without_peers_principal_the_address_decides_and_the_name_is_left_to_check() -> None:
    text = SAMPLE.read_text().replace(
        'peers_principal "kink/host-b.example.com@EXAMPLE.COM";', "")
    config = loads(text, str(SAMPLE))
    [candidate] = pol.responder_candidates(config, "anyone@EXAMPLE.COM", ip("192.0.2.2"), ())
    assert candidate.peer.principal is None  # the shell derives it from the host name
    assert _names(config, "anyone@EXAMPLE.COM", "198.51.100.7") == []


def _tunnel() -> Config:
    text = SAMPLE.read_text().replace("ipsec_mode transport;", "ipsec_mode tunnel; "
                                      "my_sa_ipaddr 192.0.2.1; peers_sa_ipaddr 192.0.2.2;")
    text = text.replace("src 192.0.2.1;", "src 198.51.100.0/28;")
    return loads(text.replace("dst 192.0.2.2;", "dst 198.51.100.16/28;"), "tunnel.conf")


def _ids(policy: PolicySettings, ours: str, theirs: str) -> tuple[Identification, ...]:
    # As the initiator sends them: IDci its networks, IDcr ours.
    return (sas.quick_mode_id(ipaddress.ip_network(theirs), policy.proto),
            sas.quick_mode_id(ipaddress.ip_network(ours), policy.proto))


def test_a_tunnel_create_is_matched_by_its_ids() -> None:
    config = _tunnel()
    policy = policy_settings(config, config.policies[0])
    right = _ids(policy, "198.51.100.0/28", "198.51.100.16/28")
    assert _names(config, B, "192.0.2.2", right) == [policy.policy]
    assert _names(config, B, "192.0.2.2", _ids(policy, "198.51.100.16/28",
                                               "198.51.100.0/28")) == []
    # Tunnel mode without IDs: the policy is the peer's, whatever its address.
    assert _names(config, B, "192.0.2.2") == [policy.policy]


def test_the_initiator_needs_a_defined_remote_that_initiates_with_kink(sample: Config,
                                                                     policy: PolicySettings
                                                                     ) -> None:
    assert pol.initiator_settings(sample, policy).principal == B
    text = SAMPLE.read_text().replace("remote host_b {\n\tacceptable_kmp { kink; };",
                                      "remote host_b {\n\tacceptable_kmp { ikev2; kink; };")
    config = loads(text, str(SAMPLE))
    with pytest.raises(SettingsError, match="initiates with ikev2"):
        pol.initiator_settings(config, policy_settings(config, config.policies[0]))
    with pytest.raises(SettingsError, match="remote nowhere is not defined"):
        pol.initiator_settings(sample, type(policy)(**{**policy.__dict__, "remote": "nowhere"}))
    with pytest.raises(SettingsError, match="remote nowhere is not defined"):
        pol.remote_of(sample, type(policy)(**{**policy.__dict__, "remote": "nowhere"}))
    assert pol.remote_of(sample, policy).name == "host_b"


def test_an_acquire_goes_to_the_packet_or_the_tunnel_end(policy: PolicySettings) -> None:
    assert pol.acquire_target(policy, ip("192.0.2.2")) == ip("192.0.2.2")
    config = _tunnel()
    tunnel = policy_settings(config, config.policies[0])
    assert pol.acquire_target(tunnel, ip("198.51.100.20")) == ip("192.0.2.2")


@pytest.mark.parametrize("action", ["none", "discard", "static_ipsec"])
def test_only_auto_ipsec_policies_are_negotiated_either_way(action: str) -> None:
    # doc/config.md §6, policy: kinkd ignores selectors whose policy is not auto_ipsec, the
    # initiator's ACQUIRE (kinkd/shell.py: policy_settings) as the responder's lookup.
    config = loads(SAMPLE.read_text().replace("action auto_ipsec;", f"action {action};"),
                   str(SAMPLE))
    with pytest.raises(SettingsError, match=f"b_transport is {action}, not auto_ipsec: kinkd "
                                            "negotiates auto_ipsec policies only"):
        policy_settings(config, config.policies[0])
    assert _names(config, B, "192.0.2.2") == []


def test_a_policy_without_action_takes_the_default_policys() -> None:
    text = SAMPLE.read_text().replace("action auto_ipsec;", "")
    assert _names(loads(text, str(SAMPLE)), B, "192.0.2.2") == []
    config = loads(text.replace("default {", "default { policy { action auto_ipsec; };", 1),
                   str(SAMPLE))
    assert _names(config, B, "192.0.2.2") == ["b_transport"]
