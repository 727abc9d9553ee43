"""The key-exchange daemons' UDP sockets: one per configured address, exempt from IPsec.

iked (IKE, ports 500/4500) and kinkd (KINK, port 910) both bind every address of their
``interface`` line and give each socket its own bypass policy: their own traffic must never be
caught by the policies whose SAs they negotiate (``application_bypass off`` turns that off).
"""

from __future__ import annotations

import asyncio
import collections
import functools
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


#: Datagrams read per wake-up of the event loop at most: a busy responder takes what has queued
#: up in one go (one loop iteration and one flush of the cores' output for all of them), and
#: the bound keeps the other sockets and timers served under a flood.
BATCH = 64


@functools.lru_cache(maxsize=4096)
def _remote(host: str, port: int) -> Endpoint:
    # The cores compare addresses without zones, as kernel selectors hold them; peers keep
    # their address, so parsing it once per peer (not per datagram) is enough.
    return Endpoint(ipaddress.ip_address(host.split("%")[0]), port)


@functools.lru_cache(maxsize=4096)
def peer_address(remote: Endpoint) -> tuple[str, int]:
    """The socket address to send to ``remote`` (the same few peers, message after
    message: an address's text is made in Python)."""
    return str(remote.addr), remote.port


class UdpSocket:
    """A bound, non-blocking UDP socket on the event loop (what iked and kinkd send from).

    Unlike an asyncio datagram transport, which reads one datagram per loop iteration, a
    readable socket is drained up to :data:`BATCH` datagrams per wake-up.  Sends go straight
    to the socket; only when its buffer is full do they wait for it to drain, in order.
    """

    def __init__(self, sock: socket.socket, local: Endpoint, on_datagram: OnDatagram) -> None:
        self.sock, self.local, self.on_datagram = sock, local.unscoped, on_datagram
        self._loop = asyncio.get_running_loop()
        self._pending: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(BATCH):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # an ICMP error of an earlier send (ECONNREFUSED…)
                log.debug("%s: %s", self.local, e.strerror or e)
                continue
            self.on_datagram(data, self.local, _remote(str(addr[0]), int(addr[1])))

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram now, or once the socket's buffer has room (order kept)."""
        if not self._pending:
            try:
                self.sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self.sock.fileno(), self._writable)
            except OSError as e:
                log.warning("%s: cannot send to %s: %s", self.local, addr[0], e.strerror or e)
                return
        self._pending.append((data, addr))

    def _writable(self) -> None:
        while self._pending:
            data, addr = self._pending[0]
            try:
                self.sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("%s: cannot send to %s: %s", self.local, addr[0], e.strerror or e)
            self._pending.popleft()
        self._loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        """Stop reading and writing, close the socket (queued datagrams are dropped)."""
        if self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self._loop.remove_writer(self.sock.fileno())
            self.sock.close()
        self._pending.clear()


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


def bound_socket(ep: Endpoint, *, owner: api.Owner | None,
                 prepare: Callable[[socket.socket], None] | None = None) -> socket.socket:
    """A bound, non-blocking UDP socket on ``ep``; with an ``owner`` it bypasses IPsec;
    ``prepare`` may set more options before the bind."""
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
        return sock
    except BaseException:
        sock.close()
        raise


async def open_endpoint(ep: Endpoint, on_datagram: OnDatagram, *, owner: api.Owner | None,
                        prepare: Callable[[socket.socket], None] | None = None,
                        ) -> UdpSocket:
    """A bound, non-blocking UDP socket on ``ep`` delivering to ``on_datagram``
    (:func:`bound_socket`)."""
    return UdpSocket(bound_socket(ep, owner=owner, prepare=prepare), ep, on_datagram)


class Sockets:
    """A daemon's sockets, one per endpoint, kept in step with the configured addresses.

    ``transports`` is keyed by the endpoint without its zone (what the cores name as the local
    end); ``bound`` gives the endpoint as bound, zone included, for the log.
    """

    def __init__(self, on_datagram: OnDatagram, owner: api.Owner | None,
                 prepare: Callable[[Endpoint], Callable[[socket.socket], None] | None]
                 = lambda ep: None) -> None:
        self.on_datagram, self.owner, self.prepare = on_datagram, owner, prepare
        self.transports: dict[Endpoint, UdpSocket] = {}
        self.bound: dict[Endpoint, Endpoint] = {}

    async def sync(self, wanted: Sequence[Endpoint]) -> tuple[list[Endpoint], list[Endpoint]]:
        """Open the sockets of ``wanted`` not open yet, close those no longer wanted:
        (opened, closed).  An endpoint that cannot be bound is logged and left out."""
        keep = {ep.unscoped: ep for ep in wanted}
        closed = [self.bound.pop(key) for key in list(self.bound) if key not in keep]
        for ep in closed:
            self._close(ep.unscoped)
        opened = []
        for key, ep in keep.items():
            if key in self.bound:
                continue
            try:
                await self._open(ep)
            except OSError as e:
                log.error("cannot listen on %s: %s", ep, e.strerror or e)
                continue
            self.bound[key] = ep
            opened.append(ep)
        return opened, closed

    async def _open(self, ep: Endpoint) -> None:
        self.transports[ep.unscoped] = await open_endpoint(
            ep, self.on_datagram, owner=self.owner, prepare=self.prepare(ep))

    def _close(self, key: Endpoint) -> None:
        self.transports.pop(key).close()

    def adopt(self, ep: Endpoint, sock: socket.socket) -> None:
        """Serve ``sock``, bound elsewhere on ``ep`` (iked -j: by the coordinator)."""
        sock.setblocking(False)
        self.transports[ep.unscoped] = UdpSocket(sock, ep, self.on_datagram)
        self.bound[ep.unscoped] = ep

    def discard(self, ep: Endpoint) -> None:
        """Stop serving the socket of ``ep`` (its address went away)."""
        if self.bound.pop(ep.unscoped, None) is not None:
            self._close(ep.unscoped)

    def close(self) -> None:
        """Close every socket."""
        for key in list(self.bound):
            self._close(key)
        self.bound.clear()


async def follow(watch: AddressWatch, sockets: Sockets,
                 wanted: Callable[[HostAddresses], list[Endpoint]],
                 logger: logging.Logger, then: Callable[[], None] | None = None) -> None:
    """Forever: on each change of this host's addresses, open the sockets a new address
    gets and close those of a removed one, logging one line per address added or removed;
    ``then()`` runs after each change (iked's MOBIKE moves its IKE SAs)."""
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
        if then is not None:
            then()


def _log_change(logger: logging.Logger, host: HostAddress, change: str, did: str,
                endpoints: Sequence[Endpoint]) -> None:
    mine = ", ".join(str(ep) for ep in endpoints if ep.addr == host.scoped)
    logger.info("address %s %s: %s", host, change, f"{did} {mine}" if mine else "no socket for it")
