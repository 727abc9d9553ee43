"""Netlink XFRM message layouts (linux/xfrm.h), pure: api values ⇄ bytes.

Layouts are those of x86_64 and every other Linux ABI with 8-byte alignment for u64 (struct
sizes are checked at import).  Everything is packed and unpacked with precompiled ``struct``
formats; a 10,000-policy batch is built in a few tens of milliseconds.  Malformed or truncated
kernel messages raise :class:`KernelError` naming the message, never another exception.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.net import Address

# -- netlink ----------------------------------------------------------------------------------
NETLINK_XFRM = 6
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
F_REQUEST, F_MULTI, F_ACK = 0x1, 0x2, 0x4
F_DUMP = 0x300
F_REPLACE, F_EXCL, F_CREATE = 0x100, 0x200, 0x400
NLMSGHDR = struct.Struct("=IHHII")
NLATTR = struct.Struct("=HH")

# -- message types (XFRM_MSG_*) ---------------------------------------------------------------
NEWSA, DELSA, GETSA = 0x10, 0x11, 0x12
NEWPOLICY, DELPOLICY, GETPOLICY = 0x13, 0x14, 0x15
ALLOCSPI, ACQUIRE, EXPIRE = 0x16, 0x17, 0x18
UPDPOLICY, UPDSA, POLEXPIRE = 0x19, 0x1A, 0x1B
FLUSHSA, FLUSHPOLICY = 0x1C, 0x1D
MIGRATE, MAPPING = 0x21, 0x26
NAMES = {
    NEWSA: "NEWSA", DELSA: "DELSA", GETSA: "GETSA", NEWPOLICY: "NEWPOLICY",
    DELPOLICY: "DELPOLICY", GETPOLICY: "GETPOLICY", ALLOCSPI: "ALLOCSPI", ACQUIRE: "ACQUIRE",
    EXPIRE: "EXPIRE", UPDPOLICY: "UPDPOLICY", UPDSA: "UPDSA", POLEXPIRE: "POLEXPIRE",
    FLUSHSA: "FLUSHSA", FLUSHPOLICY: "FLUSHPOLICY", MIGRATE: "MIGRATE", MAPPING: "MAPPING",
}

# -- attributes (XFRMA_*) ---------------------------------------------------------------------
A_ALG_AUTH, A_ALG_CRYPT, A_ALG_COMP, A_ENCAP, A_TMPL = 1, 2, 3, 4, 5
A_SA, A_POLICY, A_LTIME_VAL, A_REPLAY_VAL = 6, 7, 9, 10
A_SRCADDR, A_POLICY_TYPE, A_MIGRATE, A_ALG_AEAD, A_KMADDRESS = 13, 16, 17, 18, 19
A_ALG_AUTH_TRUNC, A_MARK, A_REPLAY_ESN_VAL, A_IF_ID = 20, 21, 23, 31

# -- multicast groups (XFRMNLGRP_*) -----------------------------------------------------------
GRP_ACQUIRE, GRP_EXPIRE, GRP_SA, GRP_POLICY, GRP_MIGRATE, GRP_MAPPING = 1, 2, 3, 4, 7, 8

XFRM_INF = 0xFFFFFFFFFFFFFFFF
STATE_AF_UNSPEC = 32
STATE_ESN = 128
SHARE_UNIQUE = 3
AF = {4: socket.AF_INET, 6: socket.AF_INET6}

# -- structures ------------------------------------------------------------------------------
SELECTOR = struct.Struct("=16s16sHHHHHBBB3xiI")            # xfrm_selector, 56
LIFETIME_CFG = struct.Struct("=8Q")                       # xfrm_lifetime_cfg, 64
LIFETIME_CUR = struct.Struct("=4Q")                       # xfrm_lifetime_cur, 32
ID = struct.Struct("=16s4sB3x")                           # xfrm_id, 24 (spi big-endian)
USERSA_INFO = struct.Struct("=56s24s16s64s32s3IIIHBBB7x")  # xfrm_usersa_info, 224
USERSA_ID = struct.Struct("=16s4sHB1x")                   # xfrm_usersa_id, 24
USERSPI_INFO = struct.Struct("=224sII")                   # xfrm_userspi_info, 232
USERPOLICY_INFO = struct.Struct("=56s64s32sIIBBBB4x")     # xfrm_userpolicy_info, 168
USERPOLICY_ID = struct.Struct("=56sIB3x")                 # xfrm_userpolicy_id, 64
USER_TMPL = struct.Struct("=24sH2x16sIBBBxIII")           # xfrm_user_tmpl, 64
USER_ACQUIRE = struct.Struct("=24s16s56s168s4I")          # xfrm_user_acquire, 280
USER_EXPIRE = struct.Struct("=224sB7x")                   # xfrm_user_expire, 232
USER_POLEXPIRE = struct.Struct("=168sB7x")                # xfrm_user_polexpire, 176
USER_MIGRATE = struct.Struct("=16s16s16s16sBBHIHH")       # xfrm_user_migrate, 76
USER_KMADDRESS = struct.Struct("=16s16sIH2x")             # xfrm_user_kmaddress, 40
USER_MAPPING = struct.Struct("=24sI16s16sHH")             # xfrm_user_mapping, 64
INDEX_DIR = struct.Struct("=IB")                          # index, dir in xfrm_userpolicy_info
INDEX_OFFSET = 156
ALGO = struct.Struct("=64sI")                             # xfrm_algo (+ key)
ALGO_AUTH = struct.Struct("=64sII")                       # xfrm_algo_auth (+ key)
ALGO_AEAD = struct.Struct("=64sII")                       # xfrm_algo_aead (+ key)
ENCAP_TMPL = struct.Struct("=HHH2x16s")                   # xfrm_encap_tmpl, 24 (ports BE)
MARK = struct.Struct("=II")
U32 = struct.Struct("=I")
REPLAY_ESN = struct.Struct("=6I")                         # xfrm_replay_state_esn (+ bitmap)

for _s, _size in ((SELECTOR, 56), (USERSA_INFO, 224), (USERPOLICY_INFO, 168), (USER_TMPL, 64),
                  (USER_ACQUIRE, 280), (USERSPI_INFO, 232), (USERPOLICY_ID, 64),
                  (USER_EXPIRE, 232), (USER_POLEXPIRE, 176), (USERSA_ID, 24),
                  (USER_MIGRATE, 76), (ENCAP_TMPL, 24), (USER_MAPPING, 64)):
    if _s.size != _size:
        raise ImportError(f"XFRM layout {_s.format} is {_s.size} bytes, expected {_size}")


@dataclass(frozen=True, slots=True)
class Message:
    """One netlink message: type, flags, sequence number, payload (header excluded)."""

    type: int
    flags: int
    seq: int
    payload: bytes

    @property
    def name(self) -> str:
        """XFRM_MSG_* name for messages."""
        return NAMES.get(self.type, f"type {self.type}")


# -- helpers ----------------------------------------------------------------------------------


def _addr16(addr: Address | None) -> bytes:
    return addr.packed.ljust(16, b"\0") if addr is not None else bytes(16)


def _addr(raw: bytes, family: int) -> Address:
    if family == socket.AF_INET:
        return ipaddress.IPv4Address(raw[:4])
    if family == socket.AF_INET6:
        return ipaddress.IPv6Address(raw[:16])
    raise KernelError("decode", "address", f"unknown address family {family}")


def _family(addr: Address) -> int:
    return AF[addr.version]


def _limit(n: int) -> int:
    return n if n else XFRM_INF


def nlmsg(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    """One netlink message with header."""
    return NLMSGHDR.pack(16 + len(payload), msg_type, flags, seq, 0) + payload


def attr(kind: int, data: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(data)
    return NLATTR.pack(length, kind) + data + bytes(-length % 4)


def split(buf: bytes) -> Iterator[Message]:
    """The netlink messages in one datagram."""
    off = 0
    end = len(buf)
    while off + 16 <= end:
        length, msg_type, flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        if length < 16 or off + length > end:
            raise KernelError("decode", "netlink message",
                              f"length {length} at offset {off} runs past {end} bytes")
        yield Message(msg_type, flags, seq, buf[off + 16:off + length])
        off += (length + 3) & ~3
    if off < end and end - off >= 4:
        raise KernelError("decode", "netlink message", f"{end - off} stray bytes at the end")


def attrs(data: bytes, off: int, what: str) -> dict[int, bytes]:
    """Attributes from ``off`` to the end (last of a kind wins; TMPL is one attribute)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while off + 4 <= end:
        length, kind = NLATTR.unpack_from(data, off)
        if length < 4 or off + length > end:
            raise KernelError("decode", what, f"attribute {kind} of length {length} at offset "
                              f"{off} runs past {end} bytes")
        out[kind & 0x3FFF] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise KernelError("decode", what, f"{len(data)} bytes, expected at least {size}")


def error_code(msg: Message) -> int:
    """The (positive) errno of an NLMSG_ERROR; 0 for an ACK."""
    _need(msg.payload, 4, "NLMSG_ERROR")
    code: int = struct.unpack_from("=i", msg.payload)[0]
    return -code


# -- selectors, lifetimes, templates -----------------------------------------------------------


def pack_selector(sel: api.Selector) -> bytes:
    """xfrm_selector for ``sel``."""
    return SELECTOR.pack(
        _addr16(sel.dst.network_address), _addr16(sel.src.network_address),
        socket.htons(sel.dport), 0xFFFF if sel.dport else 0,
        socket.htons(sel.sport), 0xFFFF if sel.sport else 0,
        _family(sel.src.network_address), sel.dst.prefixlen, sel.src.prefixlen, sel.proto,
        sel.ifindex, 0)


def unpack_selector(raw: bytes) -> api.Selector:
    """api.Selector from an xfrm_selector."""
    daddr, saddr, dport, _dm, sport, _sm, family, plen_d, plen_s, proto, ifindex, _user = \
        SELECTOR.unpack(raw)
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise KernelError("decode", "xfrm_selector", f"unknown address family {family}")
    src = ipaddress.ip_network((_addr(saddr, family), plen_s), strict=False)
    dst = ipaddress.ip_network((_addr(daddr, family), plen_d), strict=False)
    return api.Selector(src, dst, proto, socket.ntohs(sport), socket.ntohs(dport), ifindex)


def _zero_selector(family: int) -> bytes:
    return SELECTOR.pack(bytes(16), bytes(16), 0, 0, 0, 0, family, 0, 0, 0, 0, 0)


def pack_lifetime(lt: api.Lifetime) -> bytes:
    """xfrm_lifetime_cfg (0 = no limit, XFRM_INF for byte and packet counts)."""
    return LIFETIME_CFG.pack(_limit(lt.soft_bytes), _limit(lt.hard_bytes),
                             _limit(lt.soft_packets), _limit(lt.hard_packets),
                             lt.soft_add_seconds, lt.hard_add_seconds,
                             lt.soft_use_seconds, lt.hard_use_seconds)


def _unlimit(n: int) -> int:
    return 0 if n == XFRM_INF else n


def unpack_lifetime(raw: bytes) -> api.Lifetime:
    """api.Lifetime from xfrm_lifetime_cfg."""
    sb, hb, sp, hp, sa, ha, su, hu = LIFETIME_CFG.unpack(raw)
    return api.Lifetime(_unlimit(sb), _unlimit(hb), _unlimit(sp), _unlimit(hp), sa, ha, su, hu)


def pack_template(t: api.Template, family: int) -> bytes:
    """xfrm_user_tmpl; tunnel endpoints set only in tunnel mode."""
    if t.mode is api.Mode.TUNNEL and t.src is not None and t.dst is not None:
        family = _family(t.src)
    share = SHARE_UNIQUE if t.level is api.Level.UNIQUE else 0
    optional = 1 if t.level is api.Level.USE else 0
    xid = ID.pack(_addr16(t.dst), t.spi.to_bytes(4, "big"), int(t.proto))
    return USER_TMPL.pack(xid, family, _addr16(t.src), t.reqid, api.XFRM_MODES[t.mode], share,
                          optional, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def unpack_templates(data: bytes) -> tuple[api.Template, ...]:
    """The templates of an XFRMA_TMPL attribute."""
    out = []
    if len(data) % USER_TMPL.size:
        raise KernelError("decode", "XFRMA_TMPL", f"{len(data)} bytes is not a whole number of "
                          f"{USER_TMPL.size}-byte templates")
    for off in range(0, len(data), USER_TMPL.size):
        xid, family, saddr, reqid, mode, share, optional, *_ = USER_TMPL.unpack_from(data, off)
        daddr, spi, proto, = ID.unpack(xid)
        try:
            p, m = api.Proto(proto), api.mode_of_xfrm(mode)
        except ValueError:
            raise KernelError("decode", "XFRMA_TMPL", f"protocol {proto} mode {mode} is not "
                              "an IPsec protocol and mode") from None
        tunnel = m is api.Mode.TUNNEL
        level = api.Level.USE if optional else (
            api.Level.UNIQUE if share == SHARE_UNIQUE else api.Level.REQUIRE)
        out.append(api.Template(p, m, _addr(saddr, family) if tunnel else None,
                                _addr(daddr, family) if tunnel else None, reqid, level,
                                int.from_bytes(spi, "big")))
    return tuple(out)


# -- policies ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _templates_attr(templates: tuple[api.Template, ...], family: int) -> bytes:
    # Thousands of policies usually share a handful of template sets.
    return attr(A_TMPL, b"".join(pack_template(t, family) for t in templates))


_lifetime_cached = functools.lru_cache(maxsize=64)(pack_lifetime)
NO_CURRENT = bytes(LIFETIME_CUR.size)


#: xfrm_userpolicy_info with its selector inlined: one pack call per policy on the batch path.
POLICY_FLAT = struct.Struct("=16s16sHHHHHBBB3xiI64s32sIIBBBB4x")


def pack_policy(sp: api.PolicySpec) -> bytes:
    """NEWPOLICY/UPDPOLICY payload: xfrm_userpolicy_info + TMPL, MARK, IF_ID."""
    sel = sp.selector
    src, dst = sel.src, sel.dst
    info = POLICY_FLAT.pack(
        dst.network_address.packed.ljust(16, b"\0"), src.network_address.packed.ljust(16, b"\0"),
        socket.htons(sel.dport), 0xFFFF if sel.dport else 0,
        socket.htons(sel.sport), 0xFFFF if sel.sport else 0,
        AF[src.version], dst.prefixlen, src.prefixlen, sel.proto, sel.ifindex, 0,
        _lifetime_cached(sp.lifetime), NO_CURRENT,
        api.kernel_priority(sp.owner, sp.priority), sp.index, api.XFRM_DIRECTIONS[sp.direction],
        int(sp.action), 0, 0)
    out = [info]
    if sp.templates:
        out.append(_templates_attr(sp.templates, AF[src.version]))
    if sp.mark is not None:
        out.append(attr(A_MARK, MARK.pack(sp.mark.value, sp.mark.mask)))
    if sp.if_id:
        out.append(attr(A_IF_ID, U32.pack(sp.if_id)))
    return b"".join(out)


def unpack_policy(payload: bytes, what: str = "policy") -> api.PolicyInfo:
    """api.PolicyInfo from a NEWPOLICY (dump or reply) payload."""
    _need(payload, USERPOLICY_INFO.size, what)
    sel, lft, cur, prio, index, direction, action, _flags, _share = \
        USERPOLICY_INFO.unpack_from(payload)
    a = attrs(payload, USERPOLICY_INFO.size, what)
    owned = api.owner_of_priority(prio)
    try:
        d, act = api.direction_of_xfrm(direction), api.Verdict(action)
    except ValueError:
        raise KernelError("decode", what, f"direction {direction} action {action}") from None
    mark = api.Mark(*MARK.unpack(a[A_MARK][:8])) if A_MARK in a else None
    if_id = U32.unpack(a[A_IF_ID][:4])[0] if A_IF_ID in a else 0
    spec = api.PolicySpec(
        unpack_selector(sel), d, owned[0] if owned else api.Owner.TESTS, act,
        unpack_templates(a.get(A_TMPL, b"")), owned[1] if owned else prio, index,
        unpack_lifetime(lft), mark, if_id)
    b, p, add, use = LIFETIME_CUR.unpack(cur)
    return api.PolicyInfo(spec, index, owned[0] if owned else None, prio,
                          api.LifetimeCurrent(b, p, add, use))


def pack_policy_id(key: api.PolicyKey) -> bytes:
    """DELPOLICY/GETPOLICY payload: by index when known, else by selector and direction."""
    out = [USERPOLICY_ID.pack(pack_selector(key.selector), key.index,
                              api.XFRM_DIRECTIONS[key.direction])]
    if key.mark is not None:
        out.append(attr(A_MARK, MARK.pack(key.mark.value, key.mark.mask)))
    if key.if_id:
        out.append(attr(A_IF_ID, U32.pack(key.if_id)))
    return b"".join(out)


def unpack_policy_id(payload: bytes, what: str) -> api.PolicyKey:
    """api.PolicyKey from xfrm_userpolicy_id."""
    _need(payload, USERPOLICY_ID.size, what)
    sel, index, direction = USERPOLICY_ID.unpack_from(payload)
    try:
        d = api.direction_of_xfrm(direction)
    except ValueError:
        raise KernelError("decode", what, f"direction {direction}") from None
    return api.PolicyKey(d, unpack_selector(sel), index=index)


# -- SAs --------------------------------------------------------------------------------------


def _usersa_info(sa: api.SaSpec, replay_window: int, flags: int) -> bytes:
    family = _family(sa.dst)
    if sa.selector is not None:
        sel = pack_selector(sa.selector)
    elif sa.mode is api.Mode.TUNNEL:
        # A tunnel may carry the other family inside (IPv4 in IPv6 and the reverse): with
        # XFRM_STATE_AF_UNSPEC the kernel keeps the selector's family unset and picks the
        # inner mode by the decapsulated packet, where a selector of the outer family would
        # make it read an IPv4 packet as IPv6 and drop it (as strongSwan's kernel-netlink).
        sel, flags = _zero_selector(0), flags | STATE_AF_UNSPEC
    else:
        sel = _zero_selector(family)
    xid = ID.pack(_addr16(sa.dst), sa.spi.to_bytes(4, "big"), int(sa.proto))
    return USERSA_INFO.pack(sel, xid, _addr16(sa.src), pack_lifetime(sa.lifetime), bytes(32),
                            0, 0, 0, sa.acquire_seq, sa.reqid, family, api.XFRM_MODES[sa.mode],
                            replay_window, flags)


def _name(text: str) -> bytes:
    raw = text.encode()
    if len(raw) >= 64:
        raise KernelError("encode", "algorithm", f"name {text!r} is longer than 63 bytes")
    return raw.ljust(64, b"\0")


def pack_sa(sa: api.SaSpec) -> bytes:
    """NEWSA/UPDSA payload: xfrm_usersa_info and the algorithm, encap, mark attributes."""
    flags = STATE_ESN if sa.esn else 0
    out = [_usersa_info(sa, 0 if sa.esn else min(sa.replay_window, 255), flags)]
    if sa.aead is not None:
        k = sa.aead.key
        out.append(attr(A_ALG_AEAD, ALGO_AEAD.pack(_name(sa.aead.name), len(k) * 8,
                                                   sa.aead.icv_bits) + k))
    if sa.cipher is not None:
        k = sa.cipher.key
        out.append(attr(A_ALG_CRYPT, ALGO.pack(_name(sa.cipher.name), len(k) * 8) + k))
    if sa.integrity is not None:
        k = sa.integrity.key
        out.append(attr(A_ALG_AUTH_TRUNC, ALGO_AUTH.pack(_name(sa.integrity.name), len(k) * 8,
                                                         sa.integrity.trunc_bits) + k))
    if sa.compression is not None:
        out.append(attr(A_ALG_COMP, ALGO.pack(_name(sa.compression), 0)))
    if sa.encap is not None:
        e = sa.encap
        out.append(attr(A_ENCAP, ENCAP_TMPL.pack(e.type, socket.htons(e.sport),
                                                 socket.htons(e.dport), _addr16(e.oa))))
    if sa.mark is not None:
        out.append(attr(A_MARK, MARK.pack(sa.mark.value, sa.mark.mask)))
    if sa.if_id:
        out.append(attr(A_IF_ID, U32.pack(sa.if_id)))
    if sa.esn:
        window = max(sa.replay_window, 32)
        words = (window + 31) // 32
        out.append(attr(A_REPLAY_ESN_VAL, REPLAY_ESN.pack(words, 0, 0, 0, 0, window)
                        + bytes(4 * words)))
    return b"".join(out)


def _algo(data: bytes, what: str, struct_: struct.Struct) -> tuple[str, int, int, bytes]:
    _need(data, struct_.size, what)
    fields = struct_.unpack_from(data)
    name = fields[0].split(b"\0", 1)[0].decode(errors="replace")
    bits = fields[1]
    extra = fields[2] if len(fields) > 2 else 0
    key = data[struct_.size:struct_.size + (bits + 7) // 8]
    return name, bits, extra, key


def unpack_sa(payload: bytes, what: str = "SA") -> api.SaInfo:
    """api.SaInfo from a NEWSA payload (replies and dumps)."""
    _need(payload, USERSA_INFO.size, what)
    (sel, xid, saddr, lft, cur, replay_window_st, replay, failed, seq, reqid, family, mode,
     replay_window, flags) = USERSA_INFO.unpack_from(payload)
    daddr, spi, proto = ID.unpack(xid)
    a = attrs(payload, USERSA_INFO.size, what)
    try:
        p, m = api.Proto(proto), api.mode_of_xfrm(mode)
    except ValueError:
        raise KernelError("decode", what, f"protocol {proto} mode {mode}") from None
    cipher = integrity = aead = None
    compression = None
    if A_ALG_CRYPT in a:
        name, _b, _x, key = _algo(a[A_ALG_CRYPT], "XFRMA_ALG_CRYPT", ALGO)
        cipher = api.Cipher(name, key)
    if A_ALG_AUTH_TRUNC in a:
        name, _b, trunc, key = _algo(a[A_ALG_AUTH_TRUNC], "XFRMA_ALG_AUTH_TRUNC", ALGO_AUTH)
        integrity = api.Integrity(name, key, trunc)
    if A_ALG_AEAD in a:
        name, _b, icv, key = _algo(a[A_ALG_AEAD], "XFRMA_ALG_AEAD", ALGO_AEAD)
        aead = api.Aead(name, key, icv)
    if A_ALG_COMP in a:
        compression = _algo(a[A_ALG_COMP], "XFRMA_ALG_COMP", ALGO)[0]
    encap = None
    if A_ENCAP in a:
        _need(a[A_ENCAP], ENCAP_TMPL.size, "XFRMA_ENCAP")
        etype, sport, dport, oa = ENCAP_TMPL.unpack_from(a[A_ENCAP])
        encap = api.Encap(socket.ntohs(sport), socket.ntohs(dport), etype,
                          _addr(oa, family) if any(oa) else None)
    mark = api.Mark(*MARK.unpack(a[A_MARK][:8])) if A_MARK in a else None
    if_id = U32.unpack(a[A_IF_ID][:4])[0] if A_IF_ID in a else 0
    window = replay_window
    if A_REPLAY_ESN_VAL in a:
        _need(a[A_REPLAY_ESN_VAL], REPLAY_ESN.size, "XFRMA_REPLAY_ESN_VAL")
        window = REPLAY_ESN.unpack_from(a[A_REPLAY_ESN_VAL])[5]
    selector = unpack_selector(sel) if SELECTOR.unpack(sel)[6] in AF.values() else None
    spec = api.SaSpec(
        _addr(saddr, family), _addr(daddr, family), p, int.from_bytes(spi, "big"), m, reqid,
        cipher, integrity, aead, compression, encap, unpack_lifetime(lft), window,
        bool(flags & STATE_ESN), mark, if_id, selector, seq)
    b, pk, add, use = LIFETIME_CUR.unpack(cur)
    return api.SaInfo(spec, api.LifetimeCurrent(b, pk, add, use),
                      api.SaStats(replay_window_st, replay, failed))


def pack_sa_id(key: api.SaKey) -> bytes:
    """DELSA/GETSA payload: xfrm_usersa_id (+ SRCADDR and MARK)."""
    out = [USERSA_ID.pack(_addr16(key.dst), key.spi.to_bytes(4, "big"), _family(key.dst),
                          int(key.proto)),
           attr(A_SRCADDR, _addr16(key.src))]
    if key.mark is not None:
        out.append(attr(A_MARK, MARK.pack(key.mark.value, key.mark.mask)))
    return b"".join(out)


def pack_alloc_spi(proto: api.Proto, src: Address, dst: Address, reqid: int, lo: int, hi: int,
                   seq: int) -> bytes:
    """ALLOCSPI payload: a larval SA from ``src`` to ``dst`` and the SPI range."""
    larval = api.SaSpec(src, dst, proto, 0, api.Mode.TRANSPORT, reqid, acquire_seq=seq)
    return USERSPI_INFO.pack(_usersa_info(larval, 0, 0), lo, hi)


# -- events -----------------------------------------------------------------------------------


def unpack_acquire(payload: bytes) -> api.Acquire:
    """XFRM_MSG_ACQUIRE: the packet's flow, the policy, the first template's needs."""
    _need(payload, USER_ACQUIRE.size, "ACQUIRE")
    xid, saddr, sel, policy, _aalgos, _ealgos, _calgos, seq = USER_ACQUIRE.unpack_from(payload)
    daddr, _spi, proto = ID.unpack(xid)
    pol = unpack_policy(policy + payload[USER_ACQUIRE.size:], "ACQUIRE policy")
    selector = unpack_selector(sel)
    tmpl = pol.spec.templates[0] if pol.spec.templates else None
    # The addresses are the first template's tunnel ends, of the template's family: an IPv4
    # flow through an IPv6 tunnel (or the reverse) has the other family than the selector's.
    ends = tmpl.dst if tmpl is not None and tmpl.dst is not None else selector.src
    family = AF[ends.version]
    try:
        p = api.Proto(proto)
    except ValueError:
        raise KernelError("decode", "ACQUIRE", f"protocol {proto}") from None
    return api.Acquire(seq, pol.index, pol.spec.direction, selector, _addr(saddr, family),
                       _addr(daddr, family), p, tmpl.mode if tmpl else api.Mode.TRANSPORT,
                       tmpl.reqid if tmpl else 0)


def unpack_expire(payload: bytes) -> api.Expire:
    """XFRM_MSG_EXPIRE: which SA, soft or hard."""
    _need(payload, USER_EXPIRE.size, "EXPIRE")
    info = unpack_sa(payload[:USERSA_INFO.size], "EXPIRE")
    hard = payload[USERSA_INFO.size] != 0
    return api.Expire(info.key, hard, info.spec.reqid)


def unpack_polexpire(payload: bytes) -> api.PolicyExpire:
    """XFRM_MSG_POLEXPIRE."""
    _need(payload, USER_POLEXPIRE.size, "POLEXPIRE")
    info = unpack_policy(payload[:USERPOLICY_INFO.size], "POLEXPIRE")
    return api.PolicyExpire(info.key, payload[USERPOLICY_INFO.size] != 0)


def pack_migrate(m: api.Migration) -> bytes:
    """MIGRATE payload: the policy id, the moves, and optionally the KM addresses."""
    key = api.PolicyKey(m.direction, m.selector)
    moves = b"".join(
        USER_MIGRATE.pack(_addr16(e.old_dst), _addr16(e.old_src), _addr16(e.new_dst),
                          _addr16(e.new_src), int(e.proto), api.XFRM_MODES[e.mode], 0, e.reqid,
                          _family(e.old_dst), _family(e.new_dst))
        for e in m.entries)
    out = [USERPOLICY_ID.pack(pack_selector(key.selector), 0, api.XFRM_DIRECTIONS[key.direction]),
           attr(A_MIGRATE, moves)]
    if m.kmaddress is not None:
        local, remote = m.kmaddress
        out.append(attr(A_KMADDRESS, USER_KMADDRESS.pack(_addr16(local), _addr16(remote), 0,
                                                         _family(local))))
    return b"".join(out)


def unpack_migrate(payload: bytes) -> api.MigrateEvent:
    """XFRM_MSG_MIGRATE as an event."""
    key = unpack_policy_id(payload, "MIGRATE")
    a = attrs(payload, USERPOLICY_ID.size, "MIGRATE")
    data = a.get(A_MIGRATE, b"")
    entries = []
    for off in range(0, len(data) - USER_MIGRATE.size + 1, USER_MIGRATE.size):
        od, os_, nd, ns, proto, mode, _r, reqid, of, nf = USER_MIGRATE.unpack_from(data, off)
        try:
            p, md = api.Proto(proto), api.mode_of_xfrm(mode)
        except ValueError:
            raise KernelError("decode", "MIGRATE", f"protocol {proto} mode {mode}") from None
        entries.append(api.MigrateEntry(p, md, reqid, _addr(os_, of), _addr(od, of),
                                        _addr(ns, nf), _addr(nd, nf)))
    return api.MigrateEvent(api.Migration(key.selector, key.direction, tuple(entries)))


def unpack_mapping(payload: bytes) -> api.Mapping:
    """XFRM_MSG_MAPPING: a NAT-T peer's address or port changed."""
    _need(payload, USER_MAPPING.size, "MAPPING")
    sa_id, reqid, old, new, old_port, new_port = USER_MAPPING.unpack_from(payload)
    daddr, spi, family, proto = USERSA_ID.unpack(sa_id)
    try:
        p = api.Proto(proto)
    except ValueError:
        raise KernelError("decode", "MAPPING", f"protocol {proto}") from None
    dst = _addr(daddr, family)
    return api.Mapping(api.SaKey(_addr(old, family), dst, p, int.from_bytes(spi, "big")),
                       reqid, _addr(old, family), socket.ntohs(old_port), _addr(new, family),
                       socket.ntohs(new_port))


def unpack_event(msg: Message) -> api.KernelEvent | None:
    """The api event for a multicast message, None for types we do not report."""
    if msg.type == ACQUIRE:
        return unpack_acquire(msg.payload)
    if msg.type == EXPIRE:
        return unpack_expire(msg.payload)
    if msg.type == POLEXPIRE:
        return unpack_polexpire(msg.payload)
    if msg.type == MIGRATE:
        return unpack_migrate(msg.payload)
    if msg.type == MAPPING:
        return unpack_mapping(msg.payload)
    return None
