"""spmd's DNS proxy (pure): query-id tracking and answer snooping for the FQDN cache.

The original (spmd/query.c, dns.c, cache.c) listens on ``dns_query`` addresses, forwards each
query to the current ``nameserver`` and relays the answer back; on the way it reads the answer
section so that the addresses of registered FQDNs land in spmd's FQDN cache (what kinkd's
``FQDN QUERY`` and FQDN selectors use).  Differences, all defensive: the upstream query id is
drawn afresh (RFC 5452 §9.2) and mapped back, an answer is taken only from the server the query
went to, the table of outstanding queries is bounded, and a packet too short for a header, a
query with QR set, an answer with QR clear or an unknown id is dropped and counted.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from racoon2.config.model import Resolver as ConfigResolver
from racoon2.errors import ParseError
from racoon2.net import Address

HEADER = struct.Struct("!HHHHHH")  # id, flags, qd/an/ns/ar counts (RFC 1035 §4.1.1)
QR = 0x8000
TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
CLASS_IN = 1
DEFAULT_PORT = 53
MAX_PACKET = 65535
#: STAT's DNS counters, in its order (doc/spmif.md §4.3).
COUNTERS = ("query", "response", "query_proxy", "response_proxy", "expired", "dup")

Server = tuple[Address, int]


@dataclass(slots=True)
class Resolver:
    """The proxy's upstream servers (current first), its ports, and the DNS counters."""

    enabled: bool = False
    nsswitch_dns: bool = True
    servers: list[Address] = field(default_factory=list)
    ports: dict[Address, int] = field(default_factory=dict)
    counters: list[int] = field(default_factory=lambda: [0] * len(COUNTERS))
    dropped: int = 0  # malformed, unknown, unsolicited or over the table's bound

    def current(self) -> Server | None:
        """Where queries go now."""
        if not self.servers:
            return None
        addr = self.servers[0]
        return addr, self.ports.get(addr, DEFAULT_PORT)

    def rotate(self) -> None:
        """The current server failed: the next one becomes current (dns.c dnsl_del/live)."""
        if len(self.servers) > 1:
            self.servers.append(self.servers.pop(0))

    def count(self, name: str) -> None:
        """Add one to the STAT counter ``name`` (one of COUNTERS)."""
        self.counters[COUNTERS.index(name)] += 1


@dataclass(frozen=True, slots=True)
class Pending:
    """A query sent upstream: whom to answer, with which id, and until when."""

    client: Hashable
    client_id: int
    listener: int
    server: Server
    deadline: float


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes to send: upstream to ``server``, or back through ``listener`` to ``client``."""

    data: bytes
    server: Server | None = None
    client: Hashable | None = None
    listener: int = 0


class Proxy:
    """The outstanding queries of one proxy; ``now`` is any monotonic clock in seconds."""

    def __init__(self, resolver: Resolver, *, timeout: float = 10.0,
                 max_pending: int = 1024) -> None:
        self.resolver = resolver
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[int, Pending] = {}
        self._by_client: dict[tuple[int, Hashable, int], int] = {}

    @property
    def pending(self) -> int:
        """Queries waiting for an answer."""
        return len(self._pending)

    def query(self, data: bytes, client: Hashable, listener: int, now: float,
              new_id: Callable[[], int]) -> Send | None:
        """A query from ``client`` on listener ``listener``: what to send upstream, or None."""
        res = self.resolver
        header = _header(data)
        server = res.current()
        if header is None or header[1] & QR or server is None:
            res.dropped += 1
            return None
        client_id = header[0]
        key = (listener, client, client_id)
        upstream = self._by_client.get(key)
        if upstream is not None:
            res.count("dup")  # a retransmission: same upstream id, so one answer serves both
        else:
            if len(self._pending) >= self.max_pending:
                res.dropped += 1
                return None
            upstream = new_id() & 0xFFFF
            while upstream in self._pending:
                upstream = (upstream + 1) & 0xFFFF
            self._by_client[key] = upstream
        self._pending[upstream] = Pending(client, client_id, listener, server,
                                          now + self.timeout)
        res.count("query")
        return Send(_with_id(data, upstream), server=server)

    def sent(self) -> None:
        """The query went out (STAT's DNS QUERY PROXY)."""
        self.resolver.count("query_proxy")

    def response(self, data: bytes, source: Server) -> tuple[Send, bytes] | None:
        """An answer from ``source``: what to relay, and the packet as received (to snoop)."""
        header = _header(data)
        pending = self._pending.get(header[0]) if header is not None else None
        if header is None or not header[1] & QR or pending is None \
                or pending.server != source:
            self.resolver.dropped += 1
            return None
        self._forget(header[0], pending)
        self.resolver.count("response_proxy")
        return Send(_with_id(data, pending.client_id), client=pending.client,
                    listener=pending.listener), data

    def relayed(self) -> None:
        """The answer reached the client (STAT's DNS RESPONSE)."""
        self.resolver.count("response")

    def expire(self, now: float) -> int:
        """Forget queries whose deadline passed (STAT's DNS EXPIRED QUERY); how many."""
        gone = [(i, p) for i, p in self._pending.items() if p.deadline < now]
        for upstream, pending in gone:
            self._forget(upstream, pending)
            self.resolver.count("expired")
        return len(gone)

    def _forget(self, upstream: int, pending: Pending) -> None:
        del self._pending[upstream]
        self._by_client.pop((pending.listener, pending.client, pending.client_id), None)


def _header(data: bytes) -> tuple[int, ...] | None:
    if not HEADER.size <= len(data) <= MAX_PACKET:
        return None
    return HEADER.unpack_from(data)


def _with_id(data: bytes, ident: int) -> bytes:
    return struct.pack("!H", ident) + data[2:]


class Malformed(ParseError):
    """A DNS message that does not parse, at byte ``offset``."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__("DNS message", offset, message)


def answer_addresses(data: bytes) -> dict[str, list[Address]]:
    """Name (lower case, trailing dot) → A/AAAA addresses of the answer section, each CNAME
    owner also getting its target's addresses (as cache.c did).  Raises Malformed."""
    _ident, _flags, qd, an, _ns, _ar = HEADER.unpack_from(data)
    pos = HEADER.size
    for _ in range(qd):
        _name, pos = _read_name(data, pos)
        pos += 4  # QTYPE, QCLASS
    direct: dict[str, list[Address]] = {}
    aliases: dict[str, str] = {}
    for _ in range(an):
        name, pos = _read_name(data, pos)
        if pos + 10 > len(data):
            raise Malformed(pos, "resource record header runs past the end")
        rtype, rclass, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        rdata = data[pos:pos + rdlen]
        if len(rdata) != rdlen:
            raise Malformed(pos, "resource record data runs past the end")
        if rclass == CLASS_IN and (rtype, rdlen) in ((TYPE_A, 4), (TYPE_AAAA, 16)):
            direct.setdefault(name, []).append(ipaddress.ip_address(rdata))
        elif rclass == CLASS_IN and rtype == TYPE_CNAME:
            aliases[name] = _read_name(data, pos)[0]
        pos += rdlen
    out = {n: list(dict.fromkeys(a)) for n, a in direct.items()}
    for alias, target in aliases.items():
        for _ in range(8):  # follow a chain, but not a loop
            if target not in aliases:
                break
            target = aliases[target]
        for addr in direct.get(target, ()):
            have = out.setdefault(alias, [])
            if addr not in have:
                have.append(addr)
    return out


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """The (possibly compressed, RFC 1035 §4.1.4) name at ``pos`` and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    jumps = 0
    while True:
        if pos >= len(data):
            raise Malformed(pos, "name runs past the end")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data) or jumps > 16:
                raise Malformed(pos, "bad compression pointer")
            if end is None:
                end = pos + 2
            pos, jumps = ((length & 0x3F) << 8) | data[pos + 1], jumps + 1
        elif length & 0xC0:
            raise Malformed(pos, "reserved label type")
        elif length == 0:
            name = ".".join(labels).lower() + "."
            return name, end if end is not None else pos + 1
        else:
            label = data[pos + 1:pos + 1 + length]
            if len(label) != length:
                raise Malformed(pos, "label runs past the end")
            labels.append(label.decode("ascii", "replace"))
            pos += 1 + length


def nsswitch_has_dns(text: str | None) -> bool:
    """Whether the ``hosts:`` line of nsswitch.conf lists ``dns`` (glibc's default, used when
    the file or the line is missing, does)."""
    for line in (text or "").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "hosts:":
            return "dns" in fields[1:]
    return True


def configure(res: Resolver, section: ConfigResolver | None, nsswitch_dns: bool) -> None:
    """Set ``res`` from ``resolver { }``: enabled only with ``resolver on`` and dns in
    nsswitch; numeric name servers only (doc/spmd.md, DNS proxy)."""
    res.nsswitch_dns = nsswitch_dns
    res.enabled = bool(section and section.resolver) and nsswitch_dns
    res.servers, res.ports = [], {}
    for spec in section.nameserver if section else ():
        if spec.address is not None and spec.address not in res.servers:
            res.servers.append(spec.address)
            res.ports[spec.address] = spec.port or DEFAULT_PORT
