"""The key-exchange daemons' UDP sockets: one per configured address, exempt from IPsec.

iked (IKE, ports 500/4500) and kinkd (KINK, port 910) both bind every address of their
``interface`` line and give each socket its own bypass policy: their own traffic must never be
caught by the policies whose SAs they negotiate (``application_bypass off`` turns that off).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence

from racoon2.config.model import AddrKind, AddrSpec
from racoon2.kernel import api
from racoon2.kernel.xfrm.messages import pack_policy
from racoon2.net import Address, Endpoint, local_addresses, parse_prefix

IP_XFRM_POLICY, IPV6_XFRM_POLICY = 17, 35

#: Called with (data, the local endpoint it came in on, the sender).
OnDatagram = Callable[[bytes, Endpoint, Endpoint], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, local: Endpoint, on_datagram: OnDatagram) -> None:
        self.local, self.on_datagram = local, on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        remote = Endpoint(ipaddress.ip_address(str(addr[0]).split("%")[0]), int(str(addr[1])))
        self.on_datagram(data, self.local, remote)


def endpoints(specs: Sequence[AddrSpec], default_port: int, family: int | None = None
              ) -> list[Endpoint]:
    """The endpoints an ``interface ike``/``kink`` line names: numeric addresses as given,
    macros (MY_IP…) expanded on this host, each once; ``family`` 4 or 6 keeps one family."""
    out = []
    for spec in specs:
        addrs: Sequence[Address | None] = [spec.address] if spec.kind is AddrKind.INET and \
            spec.address else local_addresses(spec.text, spec.ifname)
        out += [Endpoint(a, spec.port or default_port) for a in addrs
                if a is not None and family in (None, a.version)]
    return list(dict.fromkeys(out))


def bypass(sock: socket.socket, owner: api.Owner) -> None:
    """Exempt ``sock`` from IPsec policy in both directions (a per-socket XFRM policy)."""
    v4 = sock.family == socket.AF_INET
    level, opt = (socket.IPPROTO_IP, IP_XFRM_POLICY) if v4 else \
        (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY)
    any_net = parse_prefix("0.0.0.0/0" if v4 else "::/0")
    for direction in (api.Direction.IN, api.Direction.OUT):
        sock.setsockopt(level, opt, pack_policy(api.PolicySpec(
            api.Selector(any_net, any_net), direction, owner)))


async def open_endpoint(ep: Endpoint, on_datagram: OnDatagram, *, owner: api.Owner | None,
                        prepare: Callable[[socket.socket], None] | None = None,
                        ) -> asyncio.DatagramTransport:
    """A bound, non-blocking UDP socket on ``ep`` delivering to ``on_datagram``; with an
    ``owner`` it bypasses IPsec; ``prepare`` may set more options before the bind."""
    family = socket.AF_INET if ep.addr.version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if owner is not None:
            bypass(sock, owner)
        if prepare is not None:
            prepare(sock)
        sock.bind((str(ep.addr), ep.port))
        sock.setblocking(False)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Receiver(ep, on_datagram), sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport
