"""spmif over TCP (``interface { spmd { 127.0.0.1 port 9555; }; }``; doc/spmif.md §1).

A numeric address is bound as written.  A host name is resolved and only its loopback
addresses are bound: the original meant to allow names for loopback only (it bound every IPv4
result instead), and spmif on TCP has no protection but the password.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from racoon2.config.model import AddrKind, AddrSpec
from racoon2.errors import SpmifError
from racoon2.spmif.client import DEFAULT_TCP_PORT
from racoon2.spmif.server import Handler, SpmifServer, serve_tcp

log = logging.getLogger("spmd")


async def serve_tcp_entry(spec: AddrSpec, password: bytes,
                          handler: Handler) -> list[SpmifServer]:
    """The TCP listeners for one ``spmd`` entry; an entry that cannot listen is logged."""
    port = spec.port or DEFAULT_TCP_PORT
    if spec.kind is AddrKind.INET and spec.address is not None:
        hosts = [str(spec.address)]
    elif spec.kind is AddrKind.FQDN:
        hosts = _loopback_addresses(spec)
    else:
        log.warning("%s: spmif cannot listen on %s (a macro); give an address", spec.where,
                    spec.text)
        return []
    servers: list[SpmifServer] = []
    for host in hosts:
        try:
            servers.append(await serve_tcp(host, port, password, handler))
        except SpmifError as e:
            log.error("%s: %s", spec.where, e)
    return servers


def _loopback_addresses(spec: AddrSpec) -> list[str]:
    try:
        infos = socket.getaddrinfo(spec.text, None, type=socket.SOCK_STREAM)
    except OSError as e:
        log.error("%s: cannot resolve %s: %s", spec.where, spec.text, e)
        return []
    hosts: list[str] = []
    for info in infos:
        host = str(info[4][0])
        if not ipaddress.ip_address(host).is_loopback:
            log.warning("%s: %s resolves to %s, not loopback; spmif not offered there",
                        spec.where, spec.text, host)
        elif host not in hosts:
            hosts.append(host)
    return hosts
