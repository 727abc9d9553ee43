"""This host's addresses, read and then followed over netlink (NETLINK_ROUTE) in the event loop.

    watch = await AddressWatch.open()     # dumps the addresses (RTM_GETADDR)
    watch.current                         # a HostAddresses snapshot
    newer = await watch.changed()         # the next snapshot that differs (RTM_NEWADDR/DELADDR)
    watch.close()

A plain non-blocking socket read by ``loop.add_reader``, as the XFRM backend does: no thread,
and no dependence on a netlink library's event-loop handling (pyroute2's synchronous IPRoute
refuses to run inside a running loop from 0.9 on).  Addresses still in IPv6 duplicate address
detection (tentative) or that failed it are left out: they cannot be bound yet (RFC 4862
section 5.4); the kernel announces them again once DAD is over.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct

from racoon2.errors import KernelError
from racoon2.kernel.xfrm.messages import NLMSG_DONE, NLMSG_ERROR, Message, attrs, nlmsg, split
from racoon2.net import Address, HostAddress, HostAddresses

log = logging.getLogger("racoon2.addrwatch")

NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x10, 0x100
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFADDRMSG = struct.Struct("=BBBBI")  # ifa_family, ifa_prefixlen, ifa_flags, ifa_scope, ifa_index
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x08, 0x40
RECV_SIZE = 1 << 16
DUMP_SEQ = 1


def decode(msg: Message) -> tuple[bool, HostAddress] | None:
    """An RTM_NEWADDR/RTM_DELADDR as (present, address); None for other messages and for
    addresses that cannot be used (yet)."""
    if msg.type not in (RTM_NEWADDR, RTM_DELADDR) or len(msg.payload) < IFADDRMSG.size:
        return None
    family, _plen, flags, _scope, index = IFADDRMSG.unpack_from(msg.payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    a = attrs(msg.payload, IFADDRMSG.size, "ifaddrmsg")
    if IFA_FLAGS in a and len(a[IFA_FLAGS]) >= 4:
        flags = int.from_bytes(a[IFA_FLAGS][:4], "little")
    # IFA_LOCAL is the address itself; IFA_ADDRESS is the peer's on point-to-point links.
    raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
    if raw is None:
        return None
    addr: Address = ipaddress.IPv4Address(raw[:4]) if family == socket.AF_INET else \
        ipaddress.IPv6Address(raw[:16])
    try:
        name = socket.if_indextoname(index)
    except OSError:
        name = str(index)  # the interface went away already; its DELADDR follows
    present = msg.type == RTM_NEWADDR and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
    return present, HostAddress(addr, index, name)


def _dump_request() -> bytes:
    return nlmsg(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, DUMP_SEQ, IFADDRMSG.pack(0, 0, 0, 0, 0))


class AddressWatch:
    """This host's addresses, kept current; see the module docstring."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._entries: set[HostAddress] = set()
        self._dump: set[HostAddress] | None = None  # the dump being read
        self._again = False
        self._dumped: asyncio.Future[None] = self._loop.create_future()
        self._changed = asyncio.Event()
        self._delivered = HostAddresses()
        self.current = HostAddresses()
        self._loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def open(cls) -> AddressWatch:
        """Subscribe to address changes, then dump the addresses (in that order, so that no
        change between the two is missed)."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 NETLINK_ROUTE)
            sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
            sock.setblocking(False)
        except OSError as e:
            raise KernelError("open", "netlink route socket", e.strerror or str(e),
                              e.errno) from None
        watch = cls(sock)
        try:
            watch._redump()
            await watch._dumped
        except BaseException:
            watch.close()
            raise
        watch._delivered = watch.current
        return watch

    def close(self) -> None:
        """Stop following; the snapshot stays readable."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    async def changed(self) -> HostAddresses:
        """Wait for the next snapshot that differs from the one returned last (or from the
        first); a burst of changes comes back as one snapshot."""
        while self.current == self._delivered:
            self._changed.clear()
            await self._changed.wait()
        self._delivered = self.current
        return self.current

    def _redump(self) -> None:
        if self._dump is not None:
            self._again = True  # one dump at a time per socket: the next when this one ends
            return
        self._dump = set()
        try:
            self._sock.send(_dump_request())
        except OSError as e:
            self._dump = None
            error = KernelError("dump", "addresses", e.strerror or str(e), e.errno)
            if not self._dumped.done():
                self._dumped.set_exception(error)
            log.error("%s", error)

    def _on_readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    # Notifications were lost: read everything afresh.
                    log.warning("address notifications lost; reading the addresses again")
                    self._redump()
                    continue
                log.error("netlink route socket: %s", e.strerror or e)
                return
            try:
                for msg in split(data):
                    self._handle(msg)
            except KernelError as e:
                log.warning("undecodable address notification skipped: %s", e)

    def _handle(self, msg: Message) -> None:
        if msg.type == NLMSG_ERROR and msg.seq == DUMP_SEQ:
            code = -int.from_bytes(msg.payload[:4], "little", signed=True)
            if code and not self._dumped.done():
                self._dumped.set_exception(KernelError(
                    "dump", "addresses", errno.errorcode.get(code, str(code)), code))
            return
        if msg.type == NLMSG_DONE and msg.seq == DUMP_SEQ and self._dump is not None:
            self._entries, self._dump = self._dump, None
            self._publish()
            if not self._dumped.done():
                self._dumped.set_result(None)
            if self._again:
                self._again = False
                self._redump()
            return
        decoded = decode(msg)
        if decoded is None:
            return
        present, host = decoded
        for entries in (self._entries, self._dump):
            if entries is None:
                continue
            if present:
                entries.add(host)
            else:
                entries.discard(host)
        if self._dump is None:
            self._publish()

    def _publish(self) -> None:
        snapshot = HostAddresses(frozenset(self._entries))
        if snapshot != self.current:
            self.current = snapshot
            self._changed.set()
