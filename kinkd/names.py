"""Who and where a peer is: its principal from its host name, its address from the config."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from kinkd.exchange import KinkError
from kinkd.settings import PeerSettings, principal_for
from racoon2.config.model import AddrKind
from racoon2.errors import Racoon2Error
from racoon2.net import Address
from racoon2.spmif.client import SpmifClient


async def peer_principal(peer: PeerSettings, addr: Address, realm: str,
                         spmif: SpmifClient | None) -> str:
    """The peer's principal: ``peers_principal``, else derived from the host name of ``addr``
    (/etc/hosts, then spmd) in ``realm``, as the original does."""
    if peer.principal:
        return peer.principal
    name = etc_hosts_name(addr)
    if name is None and spmif is not None:
        with contextlib.suppress(Racoon2Error):
            names = await spmif.fqdn_query(addr)
            name = names[0] if names else None
    if name is None:
        raise KinkError(f"remote {peer.remote} has no peers_principal and {addr} has no "
                        "host name in /etc/hosts or spmd")
    return principal_for(name, realm)


async def target(peer: PeerSettings, acquired: Address | None) -> Address:
    """Where a CREATE goes: the ACQUIRE's address, else the remote's first peers_ipaddr (a
    name is resolved now)."""
    if acquired is not None:
        return acquired
    for spec in peer.addresses:
        if spec.kind is AddrKind.INET and spec.address is not None:
            return spec.address
        if spec.kind is AddrKind.FQDN and spec.text:
            infos = await asyncio.get_running_loop().getaddrinfo(
                spec.text, None, type=socket.SOCK_DGRAM)
            if infos:
                return ipaddress.ip_address(infos[0][4][0])
    raise KinkError(f"remote {peer.remote} has no peers_ipaddr to send CREATE to")


def etc_hosts_name(addr: Address, path: str = "/etc/hosts") -> str | None:
    """The first host name /etc/hosts gives ``addr`` (the original reads it, not DNS)."""
    try:
        with open(path) as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2:
                    with contextlib.suppress(ValueError):
                        if ipaddress.ip_address(fields[0]) == addr:
                            return fields[1]
    except OSError:
        return None
    return None
