"""Which policy a KINK exchange is for (pure): the responder's lookup and the initiator's.

The responder finds the policy of a CREATE from who sent it (the ticket's client principal),
from where, and the IDci/IDcr it carries (tunnel mode); :func:`responder_candidates` yields
those that fit, in the configuration's order.  A remote without ``peers_principal`` also needs
its host name to give the client's principal (as the initiator derives it), which may take a
query to spmd: the shell makes that last check on each candidate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kinkd.sas import ids_match
from kinkd.settings import (
    PeerSettings,
    PolicySettings,
    SettingsError,
    peer_settings,
    policy_settings,
)
from racoon2.config import Config, lookup
from racoon2.config.model import Kmp, Remote
from racoon2.ikev1.constants import EncapsulationMode
from racoon2.ikev1.payloads import Identification
from racoon2.net import Address


@dataclass(frozen=True)
class Candidate:
    """A policy that fits a CREATE, and its remote's settings.

    When ``peer.principal`` is None the peer's host name must still give the client's
    principal (:func:`kinkd.settings.principal_for`)."""

    policy: PolicySettings
    peer: PeerSettings


def responder_candidates(config: Config, client: str, remote: Address,
                         ids: tuple[Identification, ...]) -> Iterator[Candidate]:
    """The auto_ipsec policies with a KINK remote that fit a CREATE from ``client`` at
    ``remote`` with the Quick Mode IDs ``ids``, in the configuration's order."""
    for policy in config.policies:
        if policy.remote_index is None:
            continue
        cfg = config.remote(policy.remote_index)
        if cfg is None or Kmp.KINK not in lookup.acceptable_kmp(config, cfg):
            continue
        try:
            ps = policy_settings(config, policy)  # refuses what is not auto_ipsec
            peer = peer_settings(config, cfg)
        except SettingsError:
            continue
        if peer.principal is None:
            if not any(lookup.address_matches(a, remote) for a in peer.addresses):
                continue
        elif peer.principal != client:
            continue
        if ids and not ids_match(ps, ids):
            continue
        # Transport mode names no networks in the CREATE: the peer's address must be the
        # policy's remote one.
        if not ids and not any(remote in n for n in ps.remote_nets) and \
                ps.mode is EncapsulationMode.TRANSPORT:
            continue
        yield Candidate(ps, peer)


def remote_of(config: Config, policy: PolicySettings) -> Remote:
    """The ``remote`` a policy names (:class:`SettingsError` when it is not defined)."""
    remote = config.remote(policy.remote)
    if remote is None:
        raise SettingsError(f"policy {policy.policy}: remote {policy.remote} is not defined")
    return remote


def initiator_settings(config: Config, policy: PolicySettings) -> PeerSettings:
    """The settings of the remote kinkd sends ``policy``'s CREATE to.

    :class:`SettingsError` when that remote is not defined or is iked's to initiate: the
    first of its acceptable_kmp decides who initiates (doc/config.md, remote).
    """
    cfg = config.remote(policy.remote)
    if cfg is None:
        raise SettingsError(f"remote {policy.remote} is not defined")
    peer = peer_settings(config, cfg)
    if not peer.initiates:
        first_kmp = lookup.acceptable_kmp(config, cfg)[0].value
        raise SettingsError(f"remote {cfg.name} initiates with {first_kmp} (the first of its "
                            "acceptable_kmp), not kink")
    return peer


def acquire_target(policy: PolicySettings, dst: Address | None) -> Address | None:
    """Where an ACQUIRE's (or kinkdctl initiate's) CREATE goes: the tunnel's far end, or the
    packet's destination (the address kinkdctl named) in transport mode (None: the remote's
    peers_ipaddr)."""
    if policy.mode is EncapsulationMode.TUNNEL:
        return policy.peers_sa_addr or None
    return dst
