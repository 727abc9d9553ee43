"""The key-exchange daemons' UDP sockets: one per configured address, exempt from IPsec.

iked (IKE, ports 500/4500) and kinkd (KINK, port 910) both bind every address of their
``interface`` line and give each socket its own bypass policy: their own traffic must never be
caught by the policies whose SAs they negotiate (``application_bypass off`` turns that off).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence

from racoon2.addrwatch import AddressWatch
from racoon2.config.model import AddrKind, AddrSpec
from racoon2.kernel import api
from racoon2.kernel.xfrm.messages import pack_policy
from racoon2.net import Address, Endpoint, HostAddress, HostAddresses, parse_prefix

log = logging.getLogger("racoon2.udp")
IP_XFRM_POLICY, IPV6_XFRM_POLICY = 17, 35

#: Called with (data, the local endpoint it came in on, the sender).
OnDatagram = Callable[[bytes, Endpoint, Endpoint], None]


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, local: Endpoint, on_datagram: OnDatagram) -> None:
        # The cores compare addresses without zones, as kernel selectors hold them.
        self.local, self.on_datagram = local.unscoped, on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        remote = Endpoint(ipaddress.ip_address(str(addr[0]).split("%")[0]), int(str(addr[1])))
        self.on_datagram(data, self.local, remote)


def endpoints(specs: Sequence[AddrSpec], default_port: int, hosts: HostAddresses,
              family: int | None = None) -> list[Endpoint]:
    """The endpoints an ``interface ike``/``kink`` line names: numeric addresses as given,
    macros (MY_IP…) expanded in ``hosts``, IPv6 link-local ones with their zone
    (``fe80::1%eth0``), each once; ``family`` 4 or 6 keeps one family."""
    out = []
    for spec in specs:
        addrs: Sequence[Address | None] = [spec.address] if spec.kind is AddrKind.INET and \
            spec.address else [h.scoped for h in hosts.matching(spec.text, spec.ifname)]
        out += [Endpoint(a, spec.port or default_port) for a in addrs
                if a is not None and family in (None, a.version)]
    return list(dict.fromkeys(out))


def sockaddr(ep: Endpoint) -> tuple[str, int] | tuple[str, int, int, int]:
    """The socket address of ``ep``: an IPv6 zone becomes the scope id (RFC 3493 section 3.3);
    a link-local address bound without one fails with EINVAL."""
    if ep.addr.version == 6 and ep.addr.scope_id:
        zone = ep.addr.scope_id
        index = int(zone) if zone.isdigit() else socket.if_nametoindex(zone)
        return str(ep.unscoped.addr), ep.port, 0, index
    return str(ep.addr), ep.port


def bypass(sock: socket.socket, owner: api.Owner) -> None:
    """Exempt ``sock`` from IPsec policy in both directions (a per-socket XFRM policy)."""
    v4 = sock.family == socket.AF_INET
    level, opt = (socket.IPPROTO_IP, IP_XFRM_POLICY) if v4 else \
        (socket.IPPROTO_IPV6, IPV6_XFRM_POLICY)
    any_net = parse_prefix("0.0.0.0/0" if v4 else "::/0")
    for direction in (api.Direction.INBOUND, api.Direction.OUTBOUND):
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
        sock.bind(sockaddr(ep))
        sock.setblocking(False)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Receiver(ep, on_datagram), sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport


class Sockets:
    """A daemon's sockets, one per endpoint, kept in step with the configured addresses.

    ``transports`` is keyed by the endpoint without its zone (what the cores name as the local
    end); ``bound`` gives the endpoint as bound, zone included, for the log.
    """

    def __init__(self, on_datagram: OnDatagram, owner: api.Owner | None,
                 prepare: Callable[[Endpoint], Callable[[socket.socket], None] | None]
                 = lambda ep: None) -> None:
        self.on_datagram, self.owner, self.prepare = on_datagram, owner, prepare
        self.transports: dict[Endpoint, asyncio.DatagramTransport] = {}
        self.bound: dict[Endpoint, Endpoint] = {}

    async def sync(self, wanted: Sequence[Endpoint]) -> tuple[list[Endpoint], list[Endpoint]]:
        """Open the sockets of ``wanted`` not open yet, close those no longer wanted:
        (opened, closed).  An endpoint that cannot be bound is logged and left out."""
        keep = {ep.unscoped: ep for ep in wanted}
        closed = [self.bound.pop(key) for key in list(self.bound) if key not in keep]
        for ep in closed:
            self.transports.pop(ep.unscoped).close()
        opened = []
        for key, ep in keep.items():
            if key in self.transports:
                continue
            try:
                self.transports[key] = await open_endpoint(
                    ep, self.on_datagram, owner=self.owner, prepare=self.prepare(ep))
            except OSError as e:
                log.error("cannot listen on %s: %s", ep, e.strerror or e)
                continue
            self.bound[key] = ep
            opened.append(ep)
        return opened, closed

    def close(self) -> None:
        """Close every socket."""
        for transport in self.transports.values():
            transport.close()
        self.transports.clear()
        self.bound.clear()


async def follow(watch: AddressWatch, sockets: Sockets,
                 wanted: Callable[[HostAddresses], list[Endpoint]],
                 logger: logging.Logger) -> None:
    """Forever: on each change of this host's addresses, open the sockets a new address
    gets and close those of a removed one, logging one line per address added or removed."""
    old = watch.current
    while True:
        new = await watch.changed()
        added, removed = old.changes(new)
        old = new
        opened, closed = await sockets.sync(wanted(new))
        for host in added:
            _log_change(logger, host, "added", "listening on", opened)
        for host in removed:
            _log_change(logger, host, "removed", "closed", closed)


def _log_change(logger: logging.Logger, host: HostAddress, change: str, did: str,
                endpoints: Sequence[Endpoint]) -> None:
    mine = ", ".join(str(ep) for ep in endpoints if ep.addr == host.scoped)
    logger.info("address %s %s: %s", host, change, f"{did} {mine}" if mine else "no socket for it")
