"""iked's saved state for a restart that keeps the tunnels (``iked --keep-sas``), pure.

On a keeping SIGTERM the shell writes :func:`dump`'s document and leaves the kernel SAs in
place; the next iked reads it (:func:`load`) and :func:`revive` makes each IKE SA again, so
the peer sees no change: same SPIs, keys and message IDs (RFC 7296 §2.1, §2.2).

What the document holds, per IKE SA (JSON, secrets in base64, the file is the shell's to keep
at mode 0600):

* the SPIs, both IKE endpoints, who initiated, the NAT flags (RFC 7296 §2.23);
* the chosen IKE proposal (PRF, ENCR, INTEG are derived from it again) and the seven keys
  SK_d, SK_ai/ar, SK_ei/er, SK_pi/pr (§2.14); the nonces are not kept: every later exchange
  (CREATE_CHILD_SA, an IKE SA rekey) brings its own (§2.17, §2.18);
* both message-ID counters and the last response with its message ID: a peer whose request
  was answered just before the stop, the answer lost, retransmits it and must get the same
  bytes again (§2.1), which a restored SA without that response could not give;
* the peer's identity and hash algorithms, the address leased to it from an addresspool;
* the lifetime, hard-limit, liveness and NAT-keepalive deadlines, as wall-clock times (the
  core's are monotonic, which does not survive the process);
* per CHILD_SA: its policy, SPIs, IPComp CPIs, the negotiated traffic selectors and the keys
  (addresses, protocol, SPI) of its kernel SAs.  The CHILD_SA keys, algorithms and
  lifetimes are not written: the kernel SAs hold them, and :func:`revive` takes them from
  the kernel's dump (fewer secrets on disk; a CHILD_SA whose kernel SAs are gone is
  noticed there).

Only a quiet, established IKE SA is kept (:func:`keepable`): no exchange in flight or queued
in either direction, no CHILD_SA half rekeyed.  Then nothing is lost that a restart could
not rebuild.  An IKE SA whose remote or one of whose policies is no longer configured, or
whose kernel SAs are gone, is revived only to be deleted (the caller sends the Delete).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from iked.events import Now
from iked.ikev2.child import Child, Ipcomp, Negotiated
from iked.ikev2.common import State
from iked.ikev2.proposals import Chosen
from iked.ikev2.sa import Host, IkeSa
from iked.ikev2.settings import ChildSettings, PeerSettings
from iked.ikev2.ts import Ts
from iked.ikev2.window import Schedule
from racoon2.crypto import keymat
from racoon2.crypto.prf import prf_for
from racoon2.crypto.transforms import TransformType
from racoon2.errors import StateError
from racoon2.ikev2.payloads import Attribute, Transform
from racoon2.ikev2.sk import SkCipher
from racoon2.kernel import api
from racoon2.net import Address, Endpoint

__all__ = ["FORMAT", "VERSION", "Clock", "SavedChild", "SavedSa", "dump", "farewell",
           "keepable", "load", "overdue", "revive"]

FORMAT = "racoon2-iked-state"
#: Raised whenever a field changes meaning; an iked refuses another version's document.
VERSION = 2  # 2: "leased" is a list (an IPv4 and an IPv6 lease)
#: The deadlines of an IKE SA that the document carries (IkeSa.deadline_<name>).
DEADLINES = ("life", "hard", "dpd", "keepalive")
#: A kernel SA as the document names it: (src, dst, protocol, SPI).
SaRef = tuple[Address, Address, api.Proto, int]


@dataclass(frozen=True, slots=True)
class Clock:
    """One moment on both clocks: the core's monotonic ``mono`` and the wall clock ``wall``
    (seconds since the epoch), to carry deadlines across the restart."""

    mono: Now
    wall: float

    def to_wall(self, t: Now | None) -> float | None:
        """A monotonic deadline as a wall-clock time."""
        return None if t is None else t - self.mono + self.wall

    def to_mono(self, t: float | None) -> Now | None:
        """A wall-clock deadline as a monotonic one."""
        return None if t is None else t - self.wall + self.mono


@dataclass(frozen=True)
class SavedChild:
    """One CHILD_SA as the document holds it."""

    policy: str
    spi_in: int
    spi_out: int
    cpi_in: int
    ipcomp: Ipcomp | None
    local_ts: tuple[Ts, ...]
    remote_ts: tuple[Ts, ...]
    #: Its kernel SAs in :attr:`Negotiated.specs` order (inbound, outbound, IPComp in, out).
    kernel: tuple[SaRef, ...]
    algorithms: str
    key_exchanges: tuple[int, ...] = ()  # its PFS and RFC 9370 key exchanges (the status)


@dataclass(frozen=True)
class SavedSa:
    """One IKE SA as the document holds it (deadlines on the wall clock)."""

    remote: str
    initiator: bool
    spi_i: bytes
    spi_r: bytes
    local: Endpoint
    peer: Endpoint
    chosen: Chosen
    keys: keymat.IkeKeys
    next_mid: int
    peer_next: int
    cached_mid: int
    cached: tuple[bytes, ...]
    peer_id: tuple[int, bytes] | None
    peer_hashes: frozenset[int]
    nat: bool
    behind_nat: bool
    leased: tuple[tuple[str, Address], ...]
    deadlines: Mapping[str, float | None]
    children: tuple[SavedChild, ...]
    fragmenting: bool = False  # RFC 7383 agreed (absent from a document before it)
    ppk_id: bytes | None = None  # the RFC 8784 PPK its keys were mixed with (the status)

    @property
    def name(self) -> str:
        """``spi_i:spi_r`` as the logs show it."""
        return f"{self.spi_i.hex()}:{self.spi_r.hex()}"


def keepable(sa: IkeSa) -> bool:
    """Whether ``sa`` can be saved now: established, with its keys and every CHILD_SA in
    the kernel, no exchange of either side in progress or queued, none half rekeyed, no
    CFG_REPLY address of ours (the shell removes those addresses at every stop)."""
    t = sa.tasks
    return (sa.state is State.ESTABLISHED and sa.crypto is not None and sa.cfg_reply is None
            and t.claimed() is None and t.passive is None and not t.queued
            and not t.window.busy and not t.window.answering and not sa.retiring
            and all(c.negotiated is not None for c in sa.children))


# -- writing ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ts(t: Ts) -> list[object]:
    return [str(t.start), str(t.end), t.proto, t.start_port, t.end_port]


def _child(c: Child) -> dict[str, object]:
    assert c.negotiated is not None
    s = c.settings
    return {"policy": s.policy, "spi_in": c.spi_in, "spi_out": c.spi_out, "cpi_in": c.cpi_in,
            "ipcomp": [c.ipcomp.transform, c.ipcomp.cpi_in, c.ipcomp.cpi_out]
            if c.ipcomp else None,
            "local_ts": [_ts(t) for t in s.local_ts], "remote_ts": [_ts(t) for t in s.remote_ts],
            "kernel": [[str(x.src), str(x.dst), x.proto.value, x.spi]
                       for x in c.negotiated.specs],
            "algorithms": c.negotiated.algorithms, "exchanges": list(c.key_exchanges)}


def _sa(sa: IkeSa, clock: Clock) -> dict[str, object]:
    assert sa.crypto is not None
    ch, k, w = sa.crypto.chosen, sa.crypto.keys, sa.tasks.window
    return {
        "remote": sa.peer.remote, "initiator": sa.initiator,
        "spi_i": _b64(sa.spi_i), "spi_r": _b64(sa.spi_r),
        "local": [str(sa.local.addr), sa.local.port],
        "peer": [str(sa.remote.addr), sa.remote.port],
        "chosen": {"number": ch.number, "protocol": ch.protocol, "spi": _b64(ch.spi),
                   "transforms": [[t.type, t.id, [[a.type, a.value if isinstance(a.value, int)
                                                   else _b64(a.value)] for a in t.attributes]]
                                  for t in ch.transforms]},
        "keys": {name: _b64(getattr(k, name)) for name in keymat.IkeKeys.__dataclass_fields__},
        "window": {"next_mid": w.next_mid, "peer_next": w.peer_next,
                   "cached_mid": w.cached_mid, "cached": [_b64(p) for p in w.cached]},
        "peer_id": [sa.peer_id[0], _b64(sa.peer_id[1])] if sa.peer_id else None,
        "peer_hashes": sorted(sa.peer_hashes),
        "nat": sa.nat, "behind_nat": sa.behind_nat, "fragmenting": sa.fragmenting,
        "leased": [[pool, str(addr)] for pool, addr in sa.leased],
        "deadlines": {d: clock.to_wall(getattr(sa, f"deadline_{d}")) for d in DEADLINES},
        "children": [_child(c) for c in sa.children],
        "ppk_id": _b64(sa.ppk_id) if sa.ppk_id is not None else None,
    }


def dump(sas: Sequence[IkeSa], clock: Clock, config_file: str) -> bytes:
    """The document for ``sas`` (each :func:`keepable`), made with ``config_file``."""
    doc = {"format": FORMAT, "version": VERSION, "config": config_file, "saved": clock.wall,
           "ike_sas": [_sa(sa, clock) for sa in sas]}
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


# -- reading ---------------------------------------------------------------------------------


def _bytes(v: Any) -> bytes:
    if not isinstance(v, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(v, validate=True)


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"expected a number, not {v!r}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"expected true or false, not {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected text, not {v!r}")
    return v


def _time(v: Any) -> float | None:
    if v is not None and (not isinstance(v, int | float) or isinstance(v, bool)):
        raise TypeError(f"expected a time, not {v!r}")
    return v


def _addr(v: Any) -> Address:
    return ipaddress.ip_address(_str(v))


def _endpoint(v: Any) -> Endpoint:
    addr, port = v
    return Endpoint(_addr(addr), _int(port))


def _load_ts(v: Any) -> Ts:
    start, end, proto, sp, ep = v
    return Ts(_addr(start), _addr(end), _int(proto), _int(sp), _int(ep))


def _load_child(d: Any) -> SavedChild:
    comp = d["ipcomp"]
    return SavedChild(
        _str(d["policy"]), _int(d["spi_in"]), _int(d["spi_out"]), _int(d["cpi_in"]),
        Ipcomp(*map(_int, comp)) if comp is not None else None,
        tuple(map(_load_ts, d["local_ts"])), tuple(map(_load_ts, d["remote_ts"])),
        tuple((_addr(s), _addr(t), api.Proto(_int(p)), _int(spi)) for s, t, p, spi in
              d["kernel"]), _str(d["algorithms"]),
        tuple(map(_int, d.get("exchanges", ()))))


def _load_sa(d: Any) -> SavedSa:
    ch, w, pid, leased = d["chosen"], d["window"], d["peer_id"], d["leased"]
    transforms = tuple(Transform(_int(t), _int(i), tuple(
        Attribute(_int(a), v if isinstance(v, int) else _bytes(v)) for a, v in attrs))
        for t, i, attrs in ch["transforms"])
    keys = keymat.IkeKeys(**{n: _bytes(d["keys"][n])
                             for n in keymat.IkeKeys.__dataclass_fields__})
    return SavedSa(
        _str(d["remote"]), _bool(d["initiator"]), _bytes(d["spi_i"]), _bytes(d["spi_r"]),
        _endpoint(d["local"]), _endpoint(d["peer"]),
        Chosen(_int(ch["number"]), _int(ch["protocol"]), _bytes(ch["spi"]), transforms), keys,
        _int(w["next_mid"]), _int(w["peer_next"]), _int(w["cached_mid"]),
        tuple(map(_bytes, w["cached"])),
        (_int(pid[0]), _bytes(pid[1])) if pid is not None else None,
        frozenset(map(_int, d["peer_hashes"])), _bool(d["nat"]), _bool(d["behind_nat"]),
        tuple((_str(pool), _addr(addr)) for pool, addr in leased),
        {name: _time(d["deadlines"][name]) for name in DEADLINES},
        tuple(map(_load_child, d["children"])), _bool(d.get("fragmenting", False)),
        _bytes(d["ppk_id"]) if d.get("ppk_id") is not None else None)


def load(data: bytes, config_file: str) -> list[SavedSa]:
    """The IKE SAs of a document; StateError when it is not one of this version's, was made
    with another configuration file, or is damaged (nothing of it is used then)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StateError(f"not a saved state: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError("not a saved state of iked")
    if doc.get("version") != VERSION:
        raise StateError(f"saved state version {doc.get('version')!r}; this iked reads "
                         f"version {VERSION}", hint="its SAs are removed as after a crash")
    if doc.get("config") != config_file:
        raise StateError(f"saved state of {doc.get('config')!r}, not of {config_file}",
                         hint="its SAs are removed as after a crash")
    try:
        return [_load_sa(d) for d in doc["ike_sas"]]
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        raise StateError(f"damaged saved state: {type(e).__name__} {e}") from None


# -- reviving --------------------------------------------------------------------------------


def _children(saved: SavedSa, settings: Sequence[ChildSettings],
              kernel: Mapping[SaRef, api.SaInfo]) -> list[Child] | str:
    by_policy = {s.policy: s for s in settings}
    out = []
    for sc in saved.children:
        s = by_policy.get(sc.policy)
        if s is None:
            return f"policy {sc.policy} is no longer configured"
        infos = [kernel.get(ref) for ref in sc.kernel]
        if None in infos or len(infos) not in (2, 4):
            return f"the kernel SAs of policy {sc.policy} (spi in 0x{sc.spi_in:08x}) are gone"
        found = [i.spec for i in infos if i is not None]
        neg = Negotiated(found[0], found[1], sc.algorithms,
                         (found[2], found[3]) if len(found) == 4 else None)
        # The negotiated selectors: narrowed ones (IP_RW, a leased address) as agreed.
        out.append(Child(replace(s, local_ts=sc.local_ts, remote_ts=sc.remote_ts),
                         sc.spi_in, sc.spi_out, neg, sc.cpi_in, sc.ipcomp,
                         key_exchanges=sc.key_exchanges))
    return out


def overdue(c: Child, kernel: Mapping[SaRef, api.SaInfo], wall: float) -> bool:
    """Whether a kernel SA of ``c`` passed its soft lifetime (by the kernel's add time):
    its EXPIRE came while no iked listened, so the rekey it asks for is due now."""
    specs = c.negotiated.specs if c.negotiated else ()
    for spec in specs:
        info = kernel.get((spec.src, spec.dst, spec.proto, spec.spi))
        soft = spec.lifetime.soft_add_seconds
        if info is not None and soft and info.current.add_time and \
                info.current.add_time + soft <= wall:
            return True
    return False


def farewell(remote: str) -> PeerSettings:
    """Settings for an IKE SA whose remote is no longer configured, enough to send its
    Delete (the default retransmission schedule) and nothing else: no proposal, no key."""
    return PeerSettings(remote, (), (), False, None, (), 32, Schedule(), 0.0, 0.0, 0.0, False,
                        False, False, False, False, True)


def revive(host: Host, peer: PeerSettings, settings: Sequence[ChildSettings] | None,
           saved: SavedSa, kernel: Mapping[SaRef, api.SaInfo], clock: Clock
           ) -> tuple[IkeSa, str]:
    """The IKE SA ``saved`` describes, established, with its deadlines on ``clock`` and its
    CHILD_SAs over the kernel SAs in ``kernel``; and "" when it carries on, else why it is
    to be deleted (then it has no CHILD_SA: its kernel SAs are not taken over).
    ``settings`` are the CHILD_SAs configured for its remote, None when the remote is gone."""
    sa = IkeSa(host, peer, saved.local, saved.peer, saved.initiator, saved.spi_i, clock.mono)
    sa.spi_r = saved.spi_r
    prf_t, encr = saved.chosen.get(TransformType.PRF), saved.chosen.get(TransformType.ENCR)
    if prf_t is None or encr is None:
        raise StateError(f"saved IKE SA {saved.name}: its proposal has no PRF or ENCR")
    sa.set_crypto(saved.chosen, prf_for(prf_t.ident),
                  SkCipher(encr, saved.chosen.get(TransformType.INTEG)), saved.keys)
    w = sa.tasks.window
    w.next_mid, w.peer_next = saved.next_mid, saved.peer_next
    w.cached_mid, w.cached = saved.cached_mid, saved.cached
    sa.peer_id, sa.peer_hashes = saved.peer_id, saved.peer_hashes
    sa.ppk_id = saved.ppk_id
    sa.nat, sa.behind_nat, sa.leased = saved.nat, saved.behind_nat, list(saved.leased)
    sa.fragmenting = saved.fragmenting
    sa.deadline_nego = None
    for name in DEADLINES:
        setattr(sa, f"deadline_{name}", clock.to_mono(saved.deadlines[name]))
    sa.move(State.ESTABLISHED)
    if settings is None:
        return sa, f"remote {saved.remote} is no longer configured"
    children = _children(saved, settings, kernel)
    if isinstance(children, str):
        return sa, children
    sa.children = children
    return sa, ""
