"""The PF_KEYv2 backend: :class:`~racoon2.kernel.api.KernelBackend` over an AF_KEY socket.

For BSD and for Linux kernels that still have AF_KEY.  Requests carry our pid and a sequence
number; the kernel's answer echoes both (with ``sadb_msg_errno`` on failure).  Dumps are matched
by pid and type; Linux numbers dump messages so that the last one has ``sadb_msg_seq`` 1 (KAME:
0).  One socket is registered for ESP, AH and IPComp to receive ACQUIRE and EXPIRE.

PF_KEY cannot say everything XFRM can: no AEAD other than AES-GCM/CCM (no ChaCha20-Poly1305), no
explicit integrity truncation (Linux installs ``hmac(sha256)`` with its 96-bit default, not the
128 bits of RFC 4868, so such SAs are refused here), no marks or interface ids.  Those raise
:class:`KernelError` with EPROTONOSUPPORT instead of installing something else.
"""

from __future__ import annotations

import asyncio
import errno as errnos
import ipaddress
import itertools
import os
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from racoon2.errors import KernelError, ParseError
from racoon2.kernel import api
from racoon2.kernel.pfkey import codec as c
from racoon2.kernel.pfkey.constants import (
    AF_KEY,
    PF_KEY_V2,
    AuthAlg,
    CompAlg,
    Dir,
    EncAlg,
    ExtType,
    Level,
    Mode,
    MsgType,
    PolicyType,
    SaType,
)
from racoon2.kernel.probe import probe_capabilities
from racoon2.net import Address

RECV_SIZE = 1 << 16
SATYPES = {api.Proto.ESP: SaType.ESP, api.Proto.AH: SaType.AH, api.Proto.IPCOMP: SaType.X_IPCOMP}
PROTOS = {v: k for k, v in SATYPES.items()}
CIPHERS = {"cbc(aes)": EncAlg.AESCBC, "cbc(des3_ede)": EncAlg.TRIPLEDESCBC,
           "rfc3686(ctr(aes))": EncAlg.AESCTR, "ecb(cipher_null)": EncAlg.NULL,
           "cbc(des)": EncAlg.DESCBC, "cbc(cast5)": EncAlg.CASTCBC,
           "cbc(blowfish)": EncAlg.BLOWFISHCBC, "cbc(twofish)": EncAlg.TWOFISHCBC,
           "cbc(serpent)": EncAlg.SERPENTCBC, "cbc(camellia)": EncAlg.CAMELLIACBC}
#: name → (SADB id, the truncation the kernel applies for it).
INTEGRITY = {"hmac(md5)": (AuthAlg.MD5HMAC, 96), "hmac(sha1)": (AuthAlg.SHA1HMAC, 96),
             "hmac(sha256)": (AuthAlg.SHA2_256HMAC, 96),
             "hmac(sha384)": (AuthAlg.SHA2_384HMAC, 192),
             "hmac(sha512)": (AuthAlg.SHA2_512HMAC, 256), "xcbc(aes)": (AuthAlg.AES_XCBC_MAC, 96),
             "digest_null": (AuthAlg.NULL, 0)}
AEAD = {("rfc4106(gcm(aes))", 64): EncAlg.AES_GCM_ICV8,
        ("rfc4106(gcm(aes))", 96): EncAlg.AES_GCM_ICV12,
        ("rfc4106(gcm(aes))", 128): EncAlg.AES_GCM_ICV16,
        ("rfc4309(ccm(aes))", 64): EncAlg.AES_CCM_ICV8,
        ("rfc4309(ccm(aes))", 96): EncAlg.AES_CCM_ICV12,
        ("rfc4309(ccm(aes))", 128): EncAlg.AES_CCM_ICV16}
COMPRESSION = {"deflate": CompAlg.DEFLATE, "lzs": CompAlg.LZS, "lzjh": CompAlg.LZJH}
DIRS = {api.Direction.INBOUND: Dir.INBOUND, api.Direction.OUTBOUND: Dir.OUTBOUND,
        api.Direction.FORWARD: Dir.FWD}
LEVELS = {api.Level.REQUIRE: Level.REQUIRE, api.Level.USE: Level.USE,
          api.Level.UNIQUE: Level.UNIQUE}
MODES = {api.Mode.TRANSPORT: Mode.TRANSPORT, api.Mode.TUNNEL: Mode.TUNNEL}


def _unsupported(op: str, subject: str, why: str) -> KernelError:
    return KernelError(op, subject, f"PF_KEY cannot express {why}", errnos.EPROTONOSUPPORT)


def _addr_ext(kind: ExtType, addr: Address, plen: int | None = None, port: int = 0,
              proto: int = 0) -> c.AddressExt:
    return c.AddressExt(kind, c.Sockaddr(addr, port),
                        addr.max_prefixlen if plen is None else plen, proto)


def _lifetimes(lt: api.Lifetime) -> list[c.LifetimeExt]:
    return [c.LifetimeExt(ExtType.LIFETIME_HARD, lt.hard_packets, lt.hard_bytes,
                          lt.hard_add_seconds, lt.hard_use_seconds),
            c.LifetimeExt(ExtType.LIFETIME_SOFT, lt.soft_packets, lt.soft_bytes,
                          lt.soft_add_seconds, lt.soft_use_seconds)]


def sa_message(msg_type: MsgType, sa: api.SaSpec) -> c.Message:
    """SADB_ADD / SADB_UPDATE for ``sa``; KernelError when PF_KEY cannot say it."""
    subject = str(sa.key)
    op = "SADB_" + msg_type.name
    if sa.mark is not None or sa.if_id or sa.esn:
        raise _unsupported(op, subject, "marks, interface ids or extended sequence numbers")
    auth = enc = 0
    exts: list[c.Extension] = []
    if sa.aead is not None:
        aead = AEAD.get((sa.aead.name, sa.aead.icv_bits))
        if aead is None:
            raise _unsupported(op, subject, f"{sa.aead.name} with a {sa.aead.icv_bits}-bit ICV")
        enc = aead
        exts.append(c.KeyExt(ExtType.KEY_ENCRYPT, sa.aead.key))
    if sa.cipher is not None:
        cipher = CIPHERS.get(sa.cipher.name)
        if cipher is None:
            raise _unsupported(op, subject, sa.cipher.name)
        enc = cipher
        exts.append(c.KeyExt(ExtType.KEY_ENCRYPT, sa.cipher.key))
    if sa.integrity is not None:
        found = INTEGRITY.get(sa.integrity.name)
        if found is None or found[1] != sa.integrity.trunc_bits:
            raise _unsupported(op, subject, f"{sa.integrity.name} truncated to "
                               f"{sa.integrity.trunc_bits} bits (use the netlink backend)")
        auth = found[0]
        exts.append(c.KeyExt(ExtType.KEY_AUTH, sa.integrity.key))
    if sa.compression is not None:
        comp = COMPRESSION.get(sa.compression)
        if comp is None:
            raise _unsupported(op, subject, sa.compression)
        enc = comp
    head: list[c.Extension] = [
        c.SaExt(sa.spi, min(sa.replay_window, 255), 0, auth, enc, 0),
        *_lifetimes(sa.lifetime),
        _addr_ext(ExtType.ADDRESS_SRC, sa.src), _addr_ext(ExtType.ADDRESS_DST, sa.dst),
        c.Sa2Ext(MODES[sa.mode], sa.reqid)]
    if sa.encap is not None:
        head += [c.NatTTypeExt(sa.encap.type), c.NatTPortExt(ExtType.X_NAT_T_SPORT,
                                                             sa.encap.sport),
                 c.NatTPortExt(ExtType.X_NAT_T_DPORT, sa.encap.dport)]
        if sa.encap.oa is not None:
            head.append(_addr_ext(ExtType.X_NAT_T_OA, sa.encap.oa))
    return c.Message(msg_type, SATYPES[sa.proto], sa.acquire_seq, 0, 0, tuple(head + exts))


def policy_message(msg_type: MsgType, sp: api.PolicySpec) -> c.Message:
    """SADB_X_SPDADD / SPDUPDATE / SPDDELETE for ``sp``."""
    if sp.mark is not None or sp.if_id:
        raise _unsupported("SADB_" + msg_type.name, str(sp.key), "marks or interface ids")
    sel = sp.selector
    requests = tuple(
        c.IpsecRequest(int(t.proto), MODES[t.mode], LEVELS[t.level], t.reqid,
                       c.Sockaddr(t.src) if t.mode is api.Mode.TUNNEL and t.src else None,
                       c.Sockaddr(t.dst) if t.mode is api.Mode.TUNNEL and t.dst else None)
        for t in sp.templates)
    ptype = PolicyType.DISCARD if sp.action is api.Verdict.BLOCK else (
        PolicyType.IPSEC if sp.templates else PolicyType.NONE)
    proto = sel.proto or 255
    return c.Message(msg_type, 0, 0, 0, 0, (
        *_lifetimes(sp.lifetime),
        _addr_ext(ExtType.ADDRESS_SRC, sel.src.network_address, sel.src.prefixlen, sel.sport,
                  proto),
        _addr_ext(ExtType.ADDRESS_DST, sel.dst.network_address, sel.dst.prefixlen, sel.dport,
                  proto),
        c.PolicyExt(ptype, DIRS[sp.direction], sp.index,
                    api.kernel_priority(sp.owner, sp.priority), requests)))


def policy_from(msg: c.Message) -> api.PolicyInfo:
    """api.PolicyInfo from an SPDDUMP/SPDGET/SPDADD message."""
    pol = msg.get(ExtType.X_POLICY, c.PolicyExt)
    src = msg.get(ExtType.ADDRESS_SRC, c.AddressExt)
    dst = msg.get(ExtType.ADDRESS_DST, c.AddressExt)
    if pol is None or src is None or dst is None:
        raise KernelError("decode", msg.name, "policy message without policy or addresses")
    proto = 0 if src.proto == 255 else src.proto
    selector = api.Selector(
        ipaddress.ip_network((src.addr.address, src.prefixlen), strict=False),
        ipaddress.ip_network((dst.addr.address, dst.prefixlen), strict=False),
        proto, src.addr.port, dst.addr.port)
    templates = tuple(
        api.Template(api.Proto(rq.proto), api.Mode.TUNNEL if rq.mode == Mode.TUNNEL else
                     api.Mode.TRANSPORT, rq.src.address if rq.src else None,
                     rq.dst.address if rq.dst else None, rq.reqid,
                     {Level.USE: api.Level.USE, Level.UNIQUE: api.Level.UNIQUE}.get(
                         Level(rq.level), api.Level.REQUIRE))
        for rq in pol.requests)
    direction = {Dir.INBOUND: api.Direction.INBOUND, Dir.OUTBOUND: api.Direction.OUTBOUND,
                 Dir.FWD: api.Direction.FORWARD}[Dir(pol.dir)]
    owned = api.owner_of_priority(pol.priority)
    action = api.Verdict.BLOCK if pol.type == PolicyType.DISCARD else api.Verdict.ALLOW
    spec = api.PolicySpec(selector, direction, owned[0] if owned else api.Owner.TESTS, action,
                          templates, owned[1] if owned else pol.priority, pol.id)
    return api.PolicyInfo(spec, pol.id, owned[0] if owned else None, pol.priority)


def _proto(msg: c.Message) -> api.Proto:
    """The kernel protocol of ``msg``'s SA type; KernelError for one we do not manage."""
    try:
        return PROTOS[SaType(msg.satype)]
    except (ValueError, KeyError):
        raise KernelError("decode", msg.name, f"SA type {msg.satype} is not ESP, AH or "
                          "IPComp") from None


def sa_from(msg: c.Message) -> api.SaInfo:
    """api.SaInfo (algorithms by id only: PF_KEY does not return keys) from SADB_GET/DUMP."""
    sa = msg.get(ExtType.SA, c.SaExt)
    src = msg.get(ExtType.ADDRESS_SRC, c.AddressExt)
    dst = msg.get(ExtType.ADDRESS_DST, c.AddressExt)
    if sa is None or src is None or dst is None:
        raise KernelError("decode", msg.name, "SA message without SA or addresses")
    sa2 = msg.get(ExtType.X_SA2, c.Sa2Ext)
    cur = msg.get(ExtType.LIFETIME_CURRENT, c.LifetimeExt)
    mode = api.Mode.TUNNEL if sa2 is not None and sa2.mode == Mode.TUNNEL else api.Mode.TRANSPORT
    spec = api.SaSpec(src.addr.address, dst.addr.address, _proto(msg), sa.spi,
                      mode, sa2.reqid if sa2 else 0, replay_window=sa.replay)
    current = api.LifetimeCurrent(cur.nbytes, cur.allocations, cur.addtime, cur.usetime) \
        if cur else api.LifetimeCurrent()
    return api.SaInfo(spec, current)


def decode_reply(data: bytes, bsd: bool = False) -> c.Message:
    """A kernel PF_KEY message; malformed or truncated input is a KernelError naming it."""
    try:
        return c.decode(data, bsd)
    except ParseError as e:
        raise KernelError("decode", e.what, e.message) from None


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[list[c.Message]]
    op: str
    subject: str
    dump: MsgType | None = None
    parts: list[c.Message] = field(default_factory=list)


class PfkeyBackend:
    """PF_KEYv2; see the module docstring."""

    def __init__(self, sock: socket.socket, bsd: bool = False) -> None:
        self._sock = sock
        self._bsd = bsd
        self._loop = asyncio.get_running_loop()
        self._pid = os.getpid()
        self._seq = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._dump: _Pending | None = None
        self._events: asyncio.Queue[api.KernelEvent] = asyncio.Queue(65536)
        self._closed = False
        self.bad_messages = 0
        self._loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    async def open(cls) -> PfkeyBackend:
        """Open an AF_KEY socket and register for ESP, AH and IPComp events."""
        try:
            sock = socket.socket(AF_KEY, socket.SOCK_RAW | socket.SOCK_CLOEXEC, PF_KEY_V2)
        except OSError as e:
            raise KernelError("open", "PF_KEY socket", e.strerror or str(e), e.errno) from None
        sock.setblocking(False)
        backend = cls(sock)
        for satype in (SaType.ESP, SaType.AH, SaType.X_IPCOMP):
            await backend._call(c.Message(MsgType.REGISTER, satype), "SADB_REGISTER",
                                satype.name)
        return backend

    async def close(self) -> None:
        """Close the socket; pending requests fail."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for p in [*self._pending.values(), *([self._dump] if self._dump else [])]:
            if not p.future.done():
                p.future.set_exception(KernelError(p.op, p.subject, "backend closed"))

    # -- socket side ------------------------------------------------------------------------

    def _on_readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                msg = decode_reply(data, self._bsd)
            except KernelError:
                self.bad_messages += 1
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: c.Message) -> None:
        if msg.pid == self._pid and self._dump is not None and msg.msg_type == self._dump.dump:
            d = self._dump
            if msg.errno:
                self._dump = None
                if msg.errno == errnos.ENOENT:
                    d.future.set_result(d.parts)
                else:
                    d.future.set_exception(KernelError(d.op, d.subject, os.strerror(msg.errno),
                                                       msg.errno))
                return
            d.parts.append(msg)
            if msg.seq in (0, 1):
                self._dump = None
                d.future.set_result(d.parts)
            return
        if msg.pid == self._pid and msg.seq in self._pending:
            p = self._pending.pop(msg.seq)
            if msg.errno:
                p.future.set_exception(KernelError(p.op, p.subject, os.strerror(msg.errno),
                                                   msg.errno))
            else:
                p.future.set_result([msg])
            return
        try:
            event = self._event(msg)
        except KernelError:
            self.bad_messages += 1
            return
        if event is not None:
            try:
                self._events.put_nowait(event)
            except asyncio.QueueFull:
                self.bad_messages += 1

    def _event(self, msg: c.Message) -> api.KernelEvent | None:
        if msg.msg_type == MsgType.EXPIRE:
            info = sa_from(msg)
            hard = msg.ext(ExtType.LIFETIME_HARD) is not None
            return api.Expire(info.key, hard, info.spec.reqid)
        if msg.msg_type == MsgType.ACQUIRE:
            pol = msg.get(ExtType.X_POLICY, c.PolicyExt)
            src = msg.get(ExtType.ADDRESS_SRC, c.AddressExt)
            dst = msg.get(ExtType.ADDRESS_DST, c.AddressExt)
            if pol is None or src is None or dst is None:
                return None
            rq = pol.requests[0] if pol.requests else None
            sel = api.Selector(ipaddress.ip_network(src.addr.address),
                               ipaddress.ip_network(dst.addr.address))
            return api.Acquire(msg.seq, pol.id, api.Direction.OUTBOUND, sel, src.addr.address,
                               dst.addr.address, _proto(msg),
                               api.Mode.TUNNEL if rq and rq.mode == Mode.TUNNEL
                               else api.Mode.TRANSPORT, rq.reqid if rq else 0)
        return None

    async def _call(self, msg: c.Message, op: str, subject: str) -> c.Message:
        if self._closed:
            raise KernelError(op, subject, "backend closed")
        seq = next(self._seq) & 0xFFFFFFFF
        future: asyncio.Future[list[c.Message]] = self._loop.create_future()
        self._pending[seq] = _Pending(future, op, subject)
        out = c.Message(msg.msg_type, msg.satype, seq, self._pid, 0, msg.extensions)
        try:
            self._sock.send(out.encode(self._bsd))
        except OSError as e:
            self._pending.pop(seq, None)
            raise KernelError(op, subject, e.strerror or str(e), e.errno) from None
        return (await future)[0]

    async def _dump_all(self, msg_type: MsgType, satype: int, op: str) -> list[c.Message]:
        while self._dump is not None:
            await asyncio.sleep(0.001)
        future: asyncio.Future[list[c.Message]] = self._loop.create_future()
        self._dump = _Pending(future, op, "all", msg_type)
        try:
            self._sock.send(c.Message(msg_type, satype, 0, self._pid).encode(self._bsd))
        except OSError as e:
            self._dump = None
            raise KernelError(op, "all", e.strerror or str(e), e.errno) from None
        return await future

    # -- KernelBackend ------------------------------------------------------------------------

    async def capabilities(self) -> api.Capabilities:
        """The kernel's algorithms, limited to what PF_KEY can name."""
        caps = probe_capabilities()
        return api.Capabilities(
            caps.protos, caps.modes, caps.ciphers & frozenset(CIPHERS),
            caps.integrity & frozenset(INTEGRITY),
            caps.aead & frozenset(name for name, _ in AEAD),
            caps.compression & frozenset(COMPRESSION), False, caps.encap, "PF_KEY; " + caps.source)

    async def alloc_spi(self, proto: api.Proto, src: Address, dst: Address, reqid: int, *,
                        lo: int = 0x100, hi: int = 0xFFFFFFFF, seq: int = 0) -> int:
        """SADB_GETSPI."""
        subject = f"SA {proto.name} {src} -> {dst} reqid {reqid}"
        reply = await self._call(c.Message(MsgType.GETSPI, SATYPES[proto], seq, 0, 0, (
            _addr_ext(ExtType.ADDRESS_SRC, src), _addr_ext(ExtType.ADDRESS_DST, dst),
            c.Sa2Ext(Mode.ANY, reqid), c.SpiRangeExt(lo, hi))), "SADB_GETSPI", subject)
        sa = reply.get(ExtType.SA, c.SaExt)
        if sa is None:
            raise KernelError("SADB_GETSPI", subject, "the kernel sent no SA back")
        return sa.spi

    async def add_sa(self, sa: api.SaSpec) -> None:
        """SADB_ADD."""
        await self._call(sa_message(MsgType.ADD, sa), "SADB_ADD", str(sa.key))

    async def update_sa(self, sa: api.SaSpec) -> None:
        """SADB_UPDATE."""
        await self._call(sa_message(MsgType.UPDATE, sa), "SADB_UPDATE", str(sa.key))

    def _sa_id(self, msg_type: MsgType, key: api.SaKey) -> c.Message:
        return c.Message(msg_type, SATYPES[key.proto], 0, 0, 0, (
            c.SaExt(key.spi), _addr_ext(ExtType.ADDRESS_SRC, key.src),
            _addr_ext(ExtType.ADDRESS_DST, key.dst)))

    async def del_sa(self, key: api.SaKey) -> None:
        """SADB_DELETE."""
        await self._call(self._sa_id(MsgType.DELETE, key), "SADB_DELETE", str(key))

    async def get_sa(self, key: api.SaKey) -> api.SaInfo:
        """SADB_GET."""
        return sa_from(await self._call(self._sa_id(MsgType.GET, key), "SADB_GET", str(key)))

    async def dump_sas(self) -> list[api.SaInfo]:
        """SADB_DUMP."""
        return [sa_from(m) for m in await self._dump_all(MsgType.DUMP, 0, "SADB_DUMP")]

    async def add_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """SADB_X_SPDADD; the reply carries the policy id."""
        reply = await self._call(policy_message(MsgType.X_SPDADD, sp), "SADB_X_SPDADD",
                                 str(sp.key))
        return policy_from(reply).key

    async def add_policies(self, sps: Sequence[api.PolicySpec]
                           ) -> list[api.PolicyKey | KernelError]:
        """One SPDADD after another (PF_KEY has no batches)."""
        out: list[api.PolicyKey | KernelError] = []
        for sp in sps:
            try:
                out.append(await self.add_policy(sp))
            except KernelError as e:
                out.append(e)
        return out

    async def update_policy(self, sp: api.PolicySpec) -> api.PolicyKey:
        """SADB_X_SPDUPDATE."""
        reply = await self._call(policy_message(MsgType.X_SPDUPDATE, sp), "SADB_X_SPDUPDATE",
                                 str(sp.key))
        return policy_from(reply).key

    async def del_policy(self, key: api.PolicyKey) -> None:
        """SADB_X_SPDDELETE2 by id, or SADB_X_SPDDELETE by selector and direction."""
        if key.index:
            msg = c.Message(MsgType.X_SPDDELETE2, 0, 0, 0, 0, (
                c.PolicyExt(PolicyType.IPSEC, DIRS[key.direction], key.index),))
            await self._call(msg, "SADB_X_SPDDELETE2", str(key))
            return
        sp = api.PolicySpec(key.selector, key.direction, api.Owner.TESTS)
        await self._call(policy_message(MsgType.X_SPDDELETE, sp), "SADB_X_SPDDELETE", str(key))

    async def dump_policies(self, owner: api.Owner | None = None) -> list[api.PolicyInfo]:
        """SADB_X_SPDDUMP."""
        infos = [policy_from(m) for m in await self._dump_all(MsgType.X_SPDDUMP, 0,
                                                               "SADB_X_SPDDUMP")]
        return infos if owner is None else [i for i in infos if i.owner is owner]

    async def flush_own(self, owner: api.Owner) -> None:
        """Delete ``owner``'s policies and the SAs their reqids name (never SPDFLUSH)."""
        mine = await self.dump_policies(owner)
        reqids = {t.reqid for i in mine for t in i.spec.templates if t.reqid}
        for info in mine:
            await self.del_policy(info.key)
        if reqids:
            for sa in await self.dump_sas():
                if sa.spec.reqid in reqids:
                    await self.del_sa(sa.key)

    async def migrate(self, mig: api.Migration) -> None:
        """SADB_X_MIGRATE: the policy's selector and, per move, old and new requests."""
        sel = mig.selector
        requests: list[c.IpsecRequest] = []
        for e in mig.entries:
            requests.append(c.IpsecRequest(int(e.proto), MODES[e.mode], Level.REQUIRE, e.reqid,
                                           c.Sockaddr(e.old_src), c.Sockaddr(e.old_dst)))
            requests.append(c.IpsecRequest(int(e.proto), MODES[e.mode], Level.REQUIRE, e.reqid,
                                           c.Sockaddr(e.new_src), c.Sockaddr(e.new_dst)))
        msg = c.Message(MsgType.X_MIGRATE, 0, 0, 0, 0, (
            _addr_ext(ExtType.ADDRESS_SRC, sel.src.network_address, sel.src.prefixlen,
                      sel.sport, sel.proto or 255),
            _addr_ext(ExtType.ADDRESS_DST, sel.dst.network_address, sel.dst.prefixlen,
                      sel.dport, sel.proto or 255),
            c.PolicyExt(PolicyType.IPSEC, DIRS[mig.direction], 0, 0, tuple(requests))))
        await self._call(msg, "SADB_X_MIGRATE", str(api.PolicyKey(mig.direction, sel)))

    async def events(self) -> AsyncIterator[api.KernelEvent]:
        """ACQUIRE and EXPIRE as they arrive."""
        while not self._closed:
            yield await self._events.get()
