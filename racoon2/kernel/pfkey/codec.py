"""PF_KEYv2 messages and extensions as frozen dataclasses, byte-exact both ways (pure).

Layouts are RFC 2367 §2.3 plus the KAME/Linux extensions (X_POLICY with ipsecrequests, X_SA2,
NAT-T, X_KMADDRESS, X_SEC_CTX, X_FILTER).  Fields are host byte order except SPIs and ports,
which are network order, as the RFC says.  Lengths (sadb_msg_len, sadb_ext_len) are computed on
encode and checked on decode; reserved fields and padding are written as zero.  Sockaddrs come
in two layouts: Linux (``sa_family`` is 16 bits) and BSD (``sa_len`` then an 8-bit family),
chosen with ``bsd=``.  Extensions this module does not know stay as :class:`RawExt` so that any
message the kernel sends decodes and re-encodes to the same bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from racoon2.errors import ParseError
from racoon2.kernel.pfkey.constants import PF_KEY_V2, ExtType, MsgType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LINUX_AF_INET6 = 10
_HDR = struct.Struct("=BBBBHHII")
_EXT_HDR = struct.Struct("=HH")


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def msg_name(msg_type: int) -> str:
    """SADB_<NAME> for a message type number, or SADB_<n> when unknown."""
    try:
        return "SADB_" + MsgType(msg_type).name
    except ValueError:
        return f"SADB_{msg_type}"


def ext_name(ext_type: int) -> str:
    """SADB_EXT_<NAME> / SADB_X_EXT_<NAME> for an extension type number."""
    try:
        name = ExtType(ext_type).name
    except ValueError:
        return f"extension {ext_type}"
    return ("SADB_" if name.startswith("X_") else "SADB_EXT_") + name.replace("X_", "X_EXT_", 1)


class _Reader:
    """Bounds-checked reads inside one message; every failure is a ParseError naming `what`."""

    def __init__(self, data: bytes, what: str, base: int = 0) -> None:
        self.data = data
        self.what = what
        self.base = base

    def unpack(self, st: struct.Struct, off: int) -> tuple[Any, ...]:
        if off < 0 or off + st.size > len(self.data):
            raise ParseError(self.what, self.base + off,
                             f"truncated: needs {st.size} bytes, {len(self.data) - off} left")
        return st.unpack_from(self.data, off)

    def fail(self, off: int, message: str) -> ParseError:
        return ParseError(self.what, self.base + off, message)


# -- sockaddr ------------------------------------------------------------------------------------

_SIN = struct.Struct("=H2s4s8x")
_SIN6 = struct.Struct("=H2s4s16sI")
_BSD_SIN = struct.Struct("=BB2s4s8x")
_BSD_SIN6 = struct.Struct("=BB2s4s16sI")


@dataclass(frozen=True)
class Sockaddr:
    """sockaddr_in / sockaddr_in6 as PF_KEY carries them (port 0 unless NAT-T or selectors)."""

    address: IPAddress
    port: int = 0
    flowinfo: int = 0
    scope_id: int = 0

    @property
    def size(self) -> int:
        return 16 if self.address.version == 4 else 28

    def encode(self, bsd: bool = False) -> bytes:
        """The sockaddr bytes, unpadded (16 or 28)."""
        port = self.port.to_bytes(2, "big")
        packed = self.address.packed
        if self.address.version == 4:
            if bsd:
                return _BSD_SIN.pack(16, socket.AF_INET, port, packed)
            return _SIN.pack(socket.AF_INET, port, packed)
        flow = self.flowinfo.to_bytes(4, "big")
        if bsd:
            return _BSD_SIN6.pack(28, socket.AF_INET6, port, flow, packed, self.scope_id)
        return _SIN6.pack(_LINUX_AF_INET6, port, flow, packed, self.scope_id)

    @classmethod
    def decode(cls, r: _Reader, off: int, bsd: bool = False) -> Sockaddr:
        """A sockaddr at `off`; raises ParseError for other families or truncation."""
        if bsd:
            (sa_len, _fam) = r.unpack(struct.Struct("=BB"), off)
            if sa_len == 16:
                _l, _f, port, addr = r.unpack(_BSD_SIN, off)
                return cls(ipaddress.IPv4Address(addr), int.from_bytes(port, "big"))
            if sa_len == 28:
                _l, _f, port, flow, addr6, scope = r.unpack(_BSD_SIN6, off)
                return cls(ipaddress.IPv6Address(addr6), int.from_bytes(port, "big"),
                           int.from_bytes(flow, "big"), scope)
            raise r.fail(off, f"sockaddr length {sa_len} is neither IPv4 (16) nor IPv6 (28)")
        (family,) = r.unpack(struct.Struct("=H"), off)
        if family == socket.AF_INET:
            _f, port, addr = r.unpack(_SIN, off)
            return cls(ipaddress.IPv4Address(addr), int.from_bytes(port, "big"))
        if family == _LINUX_AF_INET6:
            _f, port, flow, addr6, scope = r.unpack(_SIN6, off)
            return cls(ipaddress.IPv6Address(addr6), int.from_bytes(port, "big"),
                       int.from_bytes(flow, "big"), scope)
        raise r.fail(off, f"sockaddr family {family} is neither AF_INET nor AF_INET6")


# -- extensions ----------------------------------------------------------------------------------

E = TypeVar("E", bound="_Ext")


class _Ext:
    """Common interface: `exttype`, `body(bsd)` (after the 4-byte header), `parse`."""

    exttype: int
    TYPES: ClassVar[tuple[ExtType, ...]] = ()

    def body(self, bsd: bool) -> bytes:
        raise NotImplementedError

    def encode(self, bsd: bool = False) -> bytes:
        """The extension with its header; the body must already be 8-byte aligned + 4."""
        body = self.body(bsd)
        total = _pad8(4 + len(body))
        return _EXT_HDR.pack(total // 8, self.exttype) + body + bytes(total - 4 - len(body))

    @classmethod
    def parse(cls: type[E], exttype: int, r: _Reader, bsd: bool) -> E:
        raise NotImplementedError


def _fixed(st: struct.Struct, r: _Reader) -> tuple[Any, ...]:
    return r.unpack(st, 4)


@dataclass(frozen=True)
class SaExt(_Ext):
    """SADB_EXT_SA (RFC 2367 §2.3.1)."""

    spi: int
    replay: int = 0
    state: int = 0
    auth: int = 0
    encrypt: int = 0
    flags: int = 0
    exttype: int = ExtType.SA
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.SA,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=4sBBBBI")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.spi.to_bytes(4, "big"), self.replay, self.state, self.auth,
                             self.encrypt, self.flags)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> SaExt:
        spi, replay, state, auth, enc, flags = _fixed(cls._ST, r)
        return cls(int.from_bytes(spi, "big"), replay, state, auth, enc, flags, exttype)


@dataclass(frozen=True)
class LifetimeExt(_Ext):
    """SADB_EXT_LIFETIME_{CURRENT,HARD,SOFT}; Linux puts packets in `allocations` (CURRENT)."""

    exttype: int
    allocations: int = 0
    nbytes: int = 0
    addtime: int = 0
    usetime: int = 0
    TYPES: ClassVar[tuple[ExtType, ...]] = (
        ExtType.LIFETIME_CURRENT, ExtType.LIFETIME_HARD, ExtType.LIFETIME_SOFT)
    _ST: ClassVar[struct.Struct] = struct.Struct("=IQQQ")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.allocations, self.nbytes, self.addtime, self.usetime)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> LifetimeExt:
        return cls(exttype, *_fixed(cls._ST, r))


@dataclass(frozen=True)
class AddressExt(_Ext):
    """SADB_EXT_ADDRESS_{SRC,DST,PROXY} and Linux's SADB_X_EXT_NAT_T_OA."""

    exttype: int
    addr: Sockaddr
    prefixlen: int
    proto: int = 0
    TYPES: ClassVar[tuple[ExtType, ...]] = (
        ExtType.ADDRESS_SRC, ExtType.ADDRESS_DST, ExtType.ADDRESS_PROXY, ExtType.X_NAT_T_OA)
    _ST: ClassVar[struct.Struct] = struct.Struct("=BBH")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.proto, self.prefixlen, 0) + self.addr.encode(bsd)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> AddressExt:
        proto, prefixlen, _ = _fixed(cls._ST, r)
        return cls(exttype, Sockaddr.decode(r, 8, bsd), prefixlen, proto)


@dataclass(frozen=True)
class KeyExt(_Ext):
    """SADB_EXT_KEY_{AUTH,ENCRYPT}: `bits` of key material (ceil(bits/8) bytes kept)."""

    exttype: int
    key: bytes
    bits: int = -1
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.KEY_AUTH, ExtType.KEY_ENCRYPT)
    _ST: ClassVar[struct.Struct] = struct.Struct("=HH")

    def __post_init__(self) -> None:
        if self.bits < 0:
            object.__setattr__(self, "bits", len(self.key) * 8)

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.bits, 0) + self.key

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> KeyExt:
        bits, _ = _fixed(cls._ST, r)
        nbytes = (bits + 7) // 8
        if 8 + nbytes > len(r.data):
            raise r.fail(8, f"key of {bits} bits does not fit in {len(r.data)} bytes")
        return cls(exttype, r.data[8:8 + nbytes], bits)


@dataclass(frozen=True)
class IdentityExt(_Ext):
    """SADB_EXT_IDENTITY_{SRC,DST}; `data` is the string with its NUL padding."""

    exttype: int
    idtype: int
    ident: int = 0
    data: bytes = b""
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.IDENTITY_SRC, ExtType.IDENTITY_DST)
    _ST: ClassVar[struct.Struct] = struct.Struct("=HHQ")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.idtype, 0, self.ident) + self.data

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> IdentityExt:
        idtype, _, ident = _fixed(cls._ST, r)
        return cls(exttype, idtype, ident, r.data[16:])


@dataclass(frozen=True)
class SensitivityExt(_Ext):
    """SADB_EXT_SENSITIVITY; bitmaps are whole 64-bit words."""

    dpd: int
    sens_level: int = 0
    integ_level: int = 0
    sens_bitmap: bytes = b""
    integ_bitmap: bytes = b""
    exttype: int = ExtType.SENSITIVITY
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.SENSITIVITY,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=IBBBBI")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.dpd, self.sens_level, len(self.sens_bitmap) // 8,
                             self.integ_level, len(self.integ_bitmap) // 8, 0) + \
            self.sens_bitmap + self.integ_bitmap

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> SensitivityExt:
        dpd, sl, slen, il, ilen, _ = _fixed(cls._ST, r)
        end = 16 + 8 * (slen + ilen)
        if end > len(r.data):
            raise r.fail(16, "sensitivity bitmaps run past the extension")
        mid = 16 + 8 * slen
        return cls(dpd, sl, il, r.data[16:mid], r.data[mid:end], exttype)


@dataclass(frozen=True)
class Comb:
    """sadb_comb: one combination inside SADB_EXT_PROPOSAL (72 bytes)."""

    auth: int
    encrypt: int
    flags: int = 0
    auth_minbits: int = 0
    auth_maxbits: int = 0
    encrypt_minbits: int = 0
    encrypt_maxbits: int = 0
    soft_allocations: int = 0
    hard_allocations: int = 0
    soft_bytes: int = 0
    hard_bytes: int = 0
    soft_addtime: int = 0
    hard_addtime: int = 0
    soft_usetime: int = 0
    hard_usetime: int = 0
    ST: ClassVar[struct.Struct] = struct.Struct("=BBHHHHHIIIQQQQQQ")

    def encode(self) -> bytes:
        return self.ST.pack(self.auth, self.encrypt, self.flags, self.auth_minbits,
                            self.auth_maxbits, self.encrypt_minbits, self.encrypt_maxbits, 0,
                            self.soft_allocations, self.hard_allocations, self.soft_bytes,
                            self.hard_bytes, self.soft_addtime, self.hard_addtime,
                            self.soft_usetime, self.hard_usetime)


@dataclass(frozen=True)
class ProposalExt(_Ext):
    """SADB_EXT_PROPOSAL (sent in ACQUIRE)."""

    replay: int
    combs: tuple[Comb, ...] = ()
    exttype: int = ExtType.PROPOSAL
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.PROPOSAL,)

    def body(self, bsd: bool) -> bytes:
        return struct.pack("=B3x", self.replay) + b"".join(c.encode() for c in self.combs)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> ProposalExt:
        (replay,) = r.unpack(struct.Struct("=B3x"), 4)
        if (len(r.data) - 8) % Comb.ST.size:
            raise r.fail(8, f"proposal body is not a whole number of {Comb.ST.size}-byte combs")
        combs = []
        for off in range(8, len(r.data), Comb.ST.size):
            v = Comb.ST.unpack_from(r.data, off)
            combs.append(Comb(*v[:7], *v[8:]))
        return cls(replay, tuple(combs), exttype)


@dataclass(frozen=True)
class Alg:
    """sadb_alg: one algorithm in SADB_EXT_SUPPORTED_*."""

    id: int
    ivlen: int
    minbits: int
    maxbits: int
    ST: ClassVar[struct.Struct] = struct.Struct("=BBHHH")


@dataclass(frozen=True)
class SupportedExt(_Ext):
    """SADB_EXT_SUPPORTED_{AUTH,ENCRYPT} (the SADB_REGISTER reply)."""

    exttype: int
    algs: tuple[Alg, ...] = ()
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.SUPPORTED_AUTH, ExtType.SUPPORTED_ENCRYPT)

    def body(self, bsd: bool) -> bytes:
        return bytes(4) + b"".join(Alg.ST.pack(a.id, a.ivlen, a.minbits, a.maxbits, 0)
                                   for a in self.algs)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> SupportedExt:
        algs = []
        for off in range(8, len(r.data), Alg.ST.size):
            i, iv, lo, hi, _ = r.unpack(Alg.ST, off)
            algs.append(Alg(i, iv, lo, hi))
        return cls(exttype, tuple(algs))


@dataclass(frozen=True)
class SpiRangeExt(_Ext):
    """SADB_EXT_SPIRANGE (host byte order, unlike the SPI in SADB_EXT_SA)."""

    min: int
    max: int
    exttype: int = ExtType.SPIRANGE
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.SPIRANGE,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=III")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.min, self.max, 0)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> SpiRangeExt:
        lo, hi, _ = _fixed(cls._ST, r)
        return cls(lo, hi, exttype)


@dataclass(frozen=True)
class IpsecRequest:
    """sadb_x_ipsecrequest: one bundle member of an X_POLICY; tunnel endpoints follow it."""

    proto: int
    mode: int
    level: int
    reqid: int = 0
    src: Sockaddr | None = None
    dst: Sockaddr | None = None
    ST: ClassVar[struct.Struct] = struct.Struct("=HHBBHII")

    def encode(self, bsd: bool) -> bytes:
        addrs = b""
        if self.src is not None and self.dst is not None:
            addrs = self.src.encode(bsd) + self.dst.encode(bsd)
        size = _pad8(self.ST.size + len(addrs))
        return self.ST.pack(size, self.proto, self.mode, self.level, 0, self.reqid, 0) + addrs + \
            bytes(size - self.ST.size - len(addrs))


@dataclass(frozen=True)
class PolicyExt(_Ext):
    """SADB_X_EXT_POLICY; `priority` is Linux's field (KAME: reserved2, zero)."""

    type: int
    dir: int
    id: int = 0
    priority: int = 0
    requests: tuple[IpsecRequest, ...] = ()
    exttype: int = ExtType.X_POLICY
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_POLICY,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=HBBII")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.type, self.dir, 0, self.id, self.priority) + \
            b"".join(rq.encode(bsd) for rq in self.requests)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> PolicyExt:
        ptype, pdir, _, pid, prio = _fixed(cls._ST, r)
        requests, off = [], 16
        while off < len(r.data):
            size, proto, mode, level, _, reqid, _ = r.unpack(IpsecRequest.ST, off)
            if size < IpsecRequest.ST.size or size % 8 or off + size > len(r.data):
                raise r.fail(off, f"ipsecrequest length {size} is invalid")
            src = dst = None
            if size > IpsecRequest.ST.size:
                sub = _Reader(r.data[:off + size], r.what, r.base)
                src = Sockaddr.decode(sub, off + 16, bsd)
                dst = Sockaddr.decode(sub, off + 16 + src.size, bsd)
            requests.append(IpsecRequest(proto, mode, level, reqid, src, dst))
            off += size
        return cls(ptype, pdir, pid, prio, tuple(requests), exttype)


@dataclass(frozen=True)
class Sa2Ext(_Ext):
    """SADB_X_EXT_SA2: mode, reqid and (KAME) sequence of an SA."""

    mode: int
    reqid: int = 0
    sequence: int = 0
    exttype: int = ExtType.X_SA2
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_SA2,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=BBHII")

    def body(self, bsd: bool) -> bytes:
        return self._ST.pack(self.mode, 0, 0, self.sequence, self.reqid)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> Sa2Ext:
        mode, _, _, seq, reqid = _fixed(cls._ST, r)
        return cls(mode, reqid, seq, exttype)


@dataclass(frozen=True)
class NatTTypeExt(_Ext):
    """SADB_X_EXT_NAT_T_TYPE: the UDP encapsulation type."""

    type: int
    exttype: int = ExtType.X_NAT_T_TYPE
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_NAT_T_TYPE,)

    def body(self, bsd: bool) -> bytes:
        return struct.pack("=B3x", self.type)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> NatTTypeExt:
        return cls(r.unpack(struct.Struct("=B3x"), 4)[0], exttype)


@dataclass(frozen=True)
class NatTPortExt(_Ext):
    """SADB_X_EXT_NAT_T_{SPORT,DPORT} (port in network order)."""

    exttype: int
    port: int
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_NAT_T_SPORT, ExtType.X_NAT_T_DPORT)

    def body(self, bsd: bool) -> bytes:
        return struct.pack("!HH", self.port, 0)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> NatTPortExt:
        return cls(exttype, r.unpack(struct.Struct("!H2x"), 4)[0])


@dataclass(frozen=True)
class SecCtxExt(_Ext):
    """SADB_X_EXT_SEC_CTX (Linux LSM security context)."""

    alg: int
    doi: int
    ctx: bytes
    exttype: int = ExtType.X_SEC_CTX
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_SEC_CTX,)

    def body(self, bsd: bool) -> bytes:
        return struct.pack("=BBH", self.alg, self.doi, len(self.ctx)) + self.ctx

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> SecCtxExt:
        alg, doi, n = r.unpack(struct.Struct("=BBH"), 4)
        if 8 + n > len(r.data):
            raise r.fail(8, f"security context of {n} bytes runs past the extension")
        return cls(alg, doi, r.data[8:8 + n], exttype)


@dataclass(frozen=True)
class KmAddressExt(_Ext):
    """SADB_X_EXT_KMADDRESS: the key managers' old endpoints in X_MIGRATE."""

    local: Sockaddr
    remote: Sockaddr
    exttype: int = ExtType.X_KMADDRESS
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_KMADDRESS,)

    def body(self, bsd: bool) -> bytes:
        return bytes(4) + self.local.encode(bsd) + self.remote.encode(bsd)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> KmAddressExt:
        local = Sockaddr.decode(r, 8, bsd)
        return cls(local, Sockaddr.decode(r, 8 + local.size, bsd), exttype)


@dataclass(frozen=True)
class FilterExt(_Ext):
    """SADB_X_EXT_FILTER (Linux): restrict a SADB_DUMP to source/destination prefixes."""

    src: Sockaddr
    dst: Sockaddr
    splen: int
    dplen: int
    exttype: int = ExtType.X_FILTER
    TYPES: ClassVar[tuple[ExtType, ...]] = (ExtType.X_FILTER,)
    _ST: ClassVar[struct.Struct] = struct.Struct("=16s16sHBB")

    def body(self, bsd: bool) -> bytes:
        family = socket.AF_INET if self.src.address.version == 4 else _LINUX_AF_INET6
        return self._ST.pack(self.src.address.packed, self.dst.address.packed, family,
                             self.splen, self.dplen)

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> FilterExt:
        s, d, family, splen, dplen = _fixed(cls._ST, r)
        if family == socket.AF_INET:
            return cls(Sockaddr(ipaddress.IPv4Address(s[:4])),
                       Sockaddr(ipaddress.IPv4Address(d[:4])), splen, dplen, exttype)
        return cls(Sockaddr(ipaddress.IPv6Address(s)), Sockaddr(ipaddress.IPv6Address(d)),
                   splen, dplen, exttype)


@dataclass(frozen=True)
class RawExt(_Ext):
    """An extension kept as bytes (X_KMPRIVATE, unknown or BSD-only types)."""

    exttype: int
    data: bytes = b""

    def body(self, bsd: bool) -> bytes:
        return self.data

    @classmethod
    def parse(cls, exttype: int, r: _Reader, bsd: bool) -> RawExt:
        return cls(exttype, r.data[4:])


Extension = (SaExt | LifetimeExt | AddressExt | KeyExt | IdentityExt | SensitivityExt
             | ProposalExt | SupportedExt | SpiRangeExt | PolicyExt | Sa2Ext | NatTTypeExt
             | NatTPortExt | SecCtxExt | KmAddressExt | FilterExt | RawExt)

_PARSERS: dict[int, Callable[[int, _Reader, bool], Extension]] = {}
for _cls in (SaExt, LifetimeExt, AddressExt, KeyExt, IdentityExt, SensitivityExt, ProposalExt,
             SupportedExt, SpiRangeExt, PolicyExt, Sa2Ext, NatTTypeExt, NatTPortExt, SecCtxExt,
             KmAddressExt, FilterExt):
    for _t in _cls.TYPES:
        _PARSERS[_t] = _cls.parse

X = TypeVar("X", bound=_Ext)


# -- message -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    """sadb_msg and its extensions, in wire order."""

    msg_type: int
    satype: int = 0
    seq: int = 0
    pid: int = 0
    errno: int = 0
    extensions: tuple[Extension, ...] = field(default=())
    version: int = PF_KEY_V2

    @property
    def name(self) -> str:
        return msg_name(self.msg_type)

    def ext(self, exttype: int) -> Extension | None:
        """The first extension of that type, or None."""
        for e in self.extensions:
            if e.exttype == exttype:
                return e
        return None

    def get(self, exttype: int, kind: type[X]) -> X | None:
        """The extension of that type as `kind`, or None; ParseError if it has another shape."""
        e = self.ext(exttype)
        if e is None:
            return None
        if not isinstance(e, kind):
            raise ParseError(self.name, 0, f"{ext_name(exttype)} is not a {kind.__name__}")
        return e

    def __iter__(self) -> Iterator[Extension]:
        return iter(self.extensions)

    def encode(self, bsd: bool = False) -> bytes:
        """The message's bytes, lengths filled in."""
        body = b"".join(e.encode(bsd) for e in self.extensions)
        return _HDR.pack(self.version, self.msg_type, self.errno, self.satype,
                         (_HDR.size + len(body)) // 8, 0, self.seq, self.pid) + body


def decode(data: bytes, bsd: bool = False) -> Message:
    """One PF_KEY message; raises ParseError naming the message and the bad offset."""
    r = _Reader(data, "PF_KEY message")
    version, mtype, errno, satype, length, _, seq, pid = r.unpack(_HDR, 0)
    r.what = msg_name(mtype)
    if version != PF_KEY_V2:
        raise r.fail(0, f"version {version}, expected {PF_KEY_V2}")
    if length * 8 != len(data):
        raise r.fail(4, f"sadb_msg_len says {length * 8} bytes, got {len(data)}")
    exts: list[Extension] = []
    off = _HDR.size
    while off < len(data):
        elen, etype = r.unpack(_EXT_HDR, off)
        if elen == 0 or off + elen * 8 > len(data):
            raise r.fail(off, f"{ext_name(etype)} length {elen * 8} runs past the message")
        sub = _Reader(data[off:off + elen * 8], f"{r.what} {ext_name(etype)}", off)
        exts.append(_PARSERS.get(etype, RawExt.parse)(etype, sub, bsd))
        off += elen * 8
    return Message(mtype, satype, seq, pid, errno, tuple(exts), version)
