"""Where an initiator sends its first message and which of our addresses it sends it from:
the same rules for IKEv2 and IKEv1 (pure)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from iked.ikev2.sa import NAT_T_PORT
from racoon2.config import lookup
from racoon2.config.effective import ikev1, ikev2
from racoon2.config.model import AddrKind, AddrSpec, Config, Kmp, Remote
from racoon2.net import Address, Endpoint, scope

#: What an ``interface ike`` entry stands for on this host now (the shell's address watch).
LocalAddresses = Callable[[AddrSpec], Sequence[Address]]


def initiator_target(config: Config, remote: Remote | None, kmp: Kmp,
                     peer_addr: Address | None, default_port: int) -> Endpoint | None:
    """The peer to send to: the remote's ``peers_ipaddr`` (its port, else ``peers_kmp_port``,
    else ``default_port``, iked's -t), or the ACQUIRE's destination ``peer_addr``."""
    spec = lookup.initiator_target(config, remote, kmp) if remote else None
    port = None
    if remote is not None:
        port = (ikev1 if kmp is Kmp.IKEV1 else ikev2)(config, remote).peers_kmp_port
    if spec is not None and spec.address is not None:
        return Endpoint(spec.address, spec.port or port or default_port)
    return Endpoint(peer_addr, port or default_port) if peer_addr is not None else None


def interface_endpoints(config: Config, addresses: LocalAddresses,
                        ike_port: int) -> list[Endpoint]:
    """Every ``interface ike`` endpoint on this host now; ``ike_port`` (iked's -p) for entries
    without a port."""
    iface = config.interface
    found: list[Endpoint] = []
    for spec in (iface.ike if iface else ()):
        addrs = [spec.address] if spec.kind is AddrKind.INET and spec.address else \
            list(addresses(spec))
        found += [Endpoint(a, spec.port or ike_port) for a in addrs if a is not None]
    return found


def ike_endpoints(config: Config, addresses: LocalAddresses, peer: Address,
                  ike_port: int) -> list[Endpoint]:
    """The ``interface ike`` endpoints of ``peer``'s family, port 4500 left out."""
    return [e for e in interface_endpoints(config, addresses, ike_port)
            if e.addr.version == peer.version and e.port != NAT_T_PORT]


def local_endpoint(config: Config, addresses: LocalAddresses, peer: Address,
                   wanted: Address | None, ike_port: int,
                   avoid: Collection[Address] = ()) -> Endpoint | None:
    """Our end for a negotiation with ``peer``: an ``interface ike`` address of its family
    (``wanted`` only, when the ACQUIRE named one) on a port other than 4500 (where a
    negotiation floats to, RFC 7296 §2.23, not where it starts), ``ike_port``
    (iked's -p) for entries without one; never one of ``avoid`` (addresses a peer leased
    us: they live inside a tunnel)."""
    found = [e for e in ike_endpoints(config, addresses, peer, ike_port)
             if (wanted is None or e.addr == wanted) and e.addr not in avoid]
    # With MY_IP several addresses qualify, loopback first: prefer one of the peer's scope
    # (RFC 6724 §5 rule 2), so that a road warrior does not speak from 127.0.0.1.
    return next((e for e in found if scope(e.addr) == scope(peer)),
                found[0] if found else
                Endpoint(wanted, ike_port) if wanted is not None else None)
