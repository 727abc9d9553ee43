"""racoon's ``sainfo`` blocks and the kernel SPD (setkey) → racoon2's selector, policy, ipsec
and sa blocks.

racoon had no policies of its own: the kernel's SPD asked for SAs (``spdadd … -P out ipsec
esp/tunnel/A-B/require``) and racoon picked the sainfo whose phase 2 IDs matched, else the
anonymous one, for the algorithms.  racoon2 links them statically: each SPD entry becomes a
selector, entries of one tunnel (or one transport peer) share a policy, and that policy's
ipsec bundle holds one sa per requested protocol with the matching sainfo's algorithms.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from racoon2.convert import names
from racoon2.convert.output import Out, Outcome, Report, listed, name
from racoon2.convert.remotes import Remote, lifetime
from racoon2.convert.spd import Skipped, SpdEntry
from racoon2.convert.syntax import PORT, QUOTED, WORD, Stmt, Tok
from racoon2.errors import RacoonConfError

_ID_TYPES = ("fqdn", "user_fqdn", "keyid", "asn1dn")
_LEVEL = {"default": "require", "use": "use", "require": "require", "unique": "unique"}
#: The sainfo header's keywords (cftoken.l, S_SAINF and the rules of every state): a '(' glued
#: before one of these is dropped with it.
_KEYWORDS = frozenset(("anonymous", "clientaddr", "address", "subnet", "any", "from", "group",
                       *_ID_TYPES, "esp", "ah", "ipcomp", "icmp", "icmp6", "tcp", "udp", "gre"))


@dataclass
class SaInfo:
    """One racoon sainfo with what racoon2 needs of it."""

    stmt: Stmt
    base: str                                   # the name its ipsec/sa blocks start with
    local: str | None                           # an address/prefix, None for anonymous
    remote: str | None
    remoteid: int | None = None
    pfs: str | None = None
    lifetime: list[Out] = field(default_factory=list)
    enc: list[str] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    comp: list[str] = field(default_factory=list)
    bundles: dict[tuple[str, ...], str] = field(default_factory=dict)


def _id(toks: list[Tok], where: str) -> tuple[str | None, list[Tok]]:
    """One sainfo ID: ``anonymous``, ``clientaddr``, ``address|subnet A[/p] [port] proto``
    or ``IDTYPE "string"``; returns the address (None when it is none) and what follows."""
    if not toks:
        raise RacoonConfError("found the end of the sainfo header, expected an ID", where)
    head = toks[0].text
    if head in ("anonymous", "clientaddr"):
        return None, toks[1:]
    if head in ("address", "subnet") and len(toks) >= 3:
        rest = toks[2:]
        if rest and rest[0].kind == PORT:
            rest = rest[1:]
        if not rest:
            raise RacoonConfError(f"found {head} without an upper-layer protocol, expected "
                                  f"{head} ADDRESS [[PORT]] PROTOCOL (any, tcp, icmp …)", where)
        return toks[1].text, rest[1:]
    if head in _ID_TYPES and len(toks) >= 2 and toks[1].kind == QUOTED:
        return None, toks[2:]
    raise RacoonConfError(f"found {toks[0].shown()!r} in the sainfo header, expected "
                          "anonymous, address, subnet or an ID type (fqdn, user_fqdn, keyid, "
                          "asn1dn)", where)


def _without_parentheses(args: tuple[Tok, ...], where: str) -> list[Tok]:
    """The sainfo header without the parentheses guides write around its two IDs (the FreeBSD
    Handbook's ``sainfo (address A any address B any)``).  racoon's lexer has no rule for '('
    or ')': its catch-all ``.`` keeps the character with yymore() for the next token, whose
    text a keyword or a blank ignores.  So racoon drops one standing apart, one after a word
    and one glued before a keyword, as this does; one glued before an address or a number
    becomes part of that value, which racoon refuses, and so does this."""
    out = []
    for tok in args:
        text = tok.text.rstrip(")") if tok.kind == WORD else tok.text
        bare = text.lstrip("(")
        if bare != text and bare and bare not in _KEYWORDS:
            raise RacoonConfError(f"found {tok.text!r} in the sainfo header, expected '(' "
                                  "apart from the address or number after it", where,
                                  "racoon would read the '(' as part of the value")
        if bare or tok.kind != WORD:
            out.append(replace(tok, text=bare) if bare != tok.text else tok)
    return out


def read_sainfo(stmt: Stmt, n: int, report: Report, groups: set[str | None]) -> SaInfo:
    """A sainfo block (header and algorithms) → :class:`SaInfo`; raises RacoonConfError.
    ``groups`` are the remotes' phase 1 groups, which racoon2 uses for PFS."""
    args = _without_parentheses(stmt.args, stmt.where)
    local, rest = _id(args, stmt.where)
    remote: str | None
    remote, rest = (None, rest) if local is None and args[0].text == "anonymous" and \
        (not rest or rest[0].text in ("from", "group")) else _id(rest, stmt.where)
    notes = []
    ids = [t.text for t in args[:len(args) - len(rest)]]
    if any(w in _ID_TYPES for w in ids):
        notes.append("racoon2 matches traffic by address, not by a phase 2 ID of type "
                     f"{', '.join(w for w in ids if w in _ID_TYPES)}: it applies like an "
                     "anonymous one")
    if "clientaddr" in ids:
        notes.append("clientaddr (the peer's address or its mode_cfg address) applies like "
                     "anonymous: the policies' selectors say which traffic")
    while rest:
        if rest[0].text == "from" and len(rest) >= 2:
            notes.append("'from ID' (only for peers with that phase 1 ID) has no equivalent: "
                         "the policy's remote_index decides the peer")
            rest = rest[3:] if len(rest) > 2 and rest[2].kind == QUOTED else rest[2:]
        elif rest[0].text == "group" and len(rest) >= 2:
            notes.append("'group' (only for XAuth users of that group) has no equivalent: "
                         "racoon2 checks no XAuth groups (restrict them in the PAM service)")
            rest = rest[2:]
        else:
            raise RacoonConfError(f"found {rest[0].shown()!r} in the sainfo header, expected "
                                  "from ID, group \"NAME\" or '{'", stmt.where)
    base = "sainfo_anonymous" if local is None and remote is None else f"sainfo_{n}"
    info = SaInfo(stmt, base, local, remote)
    report.add(stmt, Outcome.CHANGED if notes else Outcome.MAPPED,
               f"ipsec/sa blocks {base}_*", "; ".join(notes))
    for s in stmt.block or ():
        _algorithms(s, info, report, groups)
    return info


def _algorithms(s: Stmt, info: SaInfo, report: Report, groups: set[str | None]) -> None:
    where = f"sa {info.base}_*"
    if s.key == "lifetime":
        d = "ipsec_sa_lifetime_time" if s.args[0].text == "time" else "ipsec_sa_lifetime_byte"
        value, capped = lifetime(s)
        info.lifetime.append(Out([d, value]))
        report.add(s, Outcome.CHANGED if capped else Outcome.MAPPED,
                   f"ipsec {info.base}_* {d} {value}", capped)
    elif s.key == "pfs_group":
        group = names.DH.get(s.args[0].text)
        info.pfs = group
        if group is None:
            report.add(s, Outcome.NONE, "not emitted", f"racoon2 has no group "
                       f"{s.args[0].text}: no PFS; set kmp_dh_group to a MODP group and "
                       "need_pfs on")
            return
        if not groups:
            report.add(s, Outcome.NONE, "not emitted", "need_pfs goes into the remotes, and no "
                       "remote of this file is written (see them above)")
            return
        same = groups == {group}
        ike = ", ".join(sorted(g or "none" for g in groups))
        report.add(s, Outcome.MAPPED if same else Outcome.CHANGED,
                   "need_pfs on in the remotes it serves", "" if same else
                   f"racoon2 does PFS with the IKE SA's group ({ike}), not a group of its own "
                   f"({s.args[0].text})")
    elif s.key == "remoteid":
        info.remoteid = int(s.args[0].text, 0)
        report.add(s, Outcome.USED, "links this sainfo to the remotes of that ph1id")
    else:
        table, target = {"encryption_algorithm": (names.ESP_ENC, info.enc),
                         "authentication_algorithm": (names.ESP_AUTH, info.auth),
                         "compression_algorithm": (names.IPCOMP, info.comp)}[s.key]
        dropped = []
        for item in s.groups():
            bits = int(item[1].text) if len(item) > 1 else None
            mapped = names.cipher(table, item[0].text, bits)
            if mapped is None:
                dropped.append(" ".join(t.text for t in item))
            elif mapped not in target:
                target.append(mapped if bits is None or mapped.startswith("aes")
                              else f"{mapped}, {bits}")
        report.add(s, Outcome.CHANGED if dropped else Outcome.MAPPED,
                   f"{where} {', '.join(target) or 'nothing'}",
                   f"racoon2 has no {', '.join(dropped)}: left out" if dropped else
                   ("used only where the SPD asks for ipcomp"
                    if s.key == "compression_algorithm" else ""))


def bundle(info: SaInfo, protos: tuple[str, ...], sections: list[Out]) -> str:
    """The ipsec block for ``protos`` with ``info``'s algorithms (made once)."""
    if protos in info.bundles:
        return info.bundles[protos]
    ipsec = f"{info.base}_{'_'.join(protos)}"
    sa_names = []
    for proto in protos:
        sa = f"{ipsec}_{proto}"
        body = [Out(["sa_protocol", proto])]
        if proto == "esp":
            body.append(listed("esp_enc_alg", info.enc or ["3des_cbc"]))
            auth = [a for a in info.auth if a != "non_auth"] or ["non_auth"]
            body.append(listed("esp_auth_alg", auth))
        elif proto == "ah":
            body.append(listed("ah_auth_alg", [a for a in info.auth if a != "non_auth"]
                               or ["hmac_sha1"]))
        else:
            body.append(listed("ipcomp_alg", info.comp[:1] or ["deflate"]))
        sections.append(Out(["sa", sa], body, info.stmt.where))
        sa_names.append(sa)
    sections.append(Out(["ipsec", ipsec], [*info.lifetime, listed("sa_index", sa_names)],
                        info.stmt.where))
    info.bundles[protos] = ipsec
    return ipsec


def _net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def pick_sainfo(infos: list[SaInfo], local: str, remote: str) -> SaInfo | None:
    """racoon's choice: the sainfo whose IDs equal the selector's, else a half-anonymous
    one, else the anonymous one."""
    def fits(want: str | None, have: str) -> bool:
        return want is None or _net(want) == _net(have)
    ranked = sorted(infos, key=lambda i: (i.local is None) + (i.remote is None))
    return next((i for i in ranked if fits(i.local, local) and fits(i.remote, remote)), None)


def peer_remote(remotes: list[Remote], peer: str) -> Remote | None:
    """The remote racoon would use for ``peer``: by address, else the anonymous one."""
    addr = _net(peer)
    usable = [r for r in remotes if r.usable]
    return next((r for r in usable if r.address and _net(r.address) == addr), None) or \
        next((r for r in usable if r.address is None), None)


def convert_spd(entries: list[SpdEntry | Skipped], infos: list[SaInfo], remotes: list[Remote],
                sections: list[Out], notes: list[tuple[str, str, str, str]]) -> None:
    """Selectors and policies for the SPD ``entries``; ``notes`` gets (where, statement,
    outcome, text) for the report."""
    policies: dict[tuple[str, ...], str] = {}
    count = 0
    for e in entries:
        if isinstance(e, Skipped):
            notes.append((e.where, e.text, "none", "per-socket policies are the "
                          "applications' own (iked and kinkd set theirs)" if e.text.startswith(
                              "(per-socket") else "manual SAs and flushes have no equivalent "
                          "(racoon2 installs no manually keyed SAs)"))
            continue
        if e.direction == "fwd":
            notes.append((e.where, e.text, "used", "not emitted: spmd installs the forward "
                          "policy of each inbound tunnel selector itself"))
            continue
        count += 1
        out = e.direction == "out"
        local, peer = (e.src, e.dst) if out else (e.dst, e.src)
        key, body, info = _policy_body(e, local, peer, infos, remotes, sections, notes)
        if key is None:
            continue
        pname = policies.get(key)
        if pname is None:
            pname = f"policy_{len(policies) + 1}"
            policies[key] = pname
            sections.append(Out(["policy", pname], body, e.where))
        sel = [Out(["direction", "outbound" if out else "inbound"]),
               Out(["src", _addr(e.src, e.sport)]), Out(["dst", _addr(e.dst, e.dport)]),
               Out(["upper_layer_protocol", _upper(e.upper)]), Out(["policy_index", pname])]
        reqids = [r.reqid for r in e.requests if r.reqid is not None]
        if reqids:
            sel.append(Out(["reqid", str(reqids[0])]))
        sections.append(Out(["selector", f"spd_{count}_{e.direction}"], sel, e.where))
        notes.append((e.where, e.text, "mapped", f"selector spd_{count}_{e.direction} → "
                      f"policy {pname}" + (f" (sainfo at {info.stmt.where})" if info else "")))


def _policy_body(e: SpdEntry, local: str, peer: str, infos: list[SaInfo],
                 remotes: list[Remote], sections: list[Out],
                 notes: list[tuple[str, str, str, str]]
                 ) -> tuple[tuple[str, ...] | None, list[Out], SaInfo | None]:
    if e.action != "ipsec":
        return (e.action,), [Out(["action", "none" if e.action == "none" else "discard"])], None
    first = e.requests[0]
    tunnel = next((r for r in e.requests if r.mode == "tunnel"), None)
    if tunnel is not None and tunnel.src and tunnel.dst:
        mine, theirs = (tunnel.src, tunnel.dst) if e.direction == "out" else \
            (tunnel.dst, tunnel.src)
    else:
        mine, theirs = local.split("/")[0], peer.split("/")[0]
    info = pick_sainfo(infos, local, peer)
    if info is None:
        notes.append((e.where, e.text, "none", "no sainfo matches this policy (racoon would have "
                      "refused its phase 2): left out; add a sainfo for it"))
        return None, [], None
    protos = tuple(r.proto for r in e.requests)
    if "esp" in protos and "ah" in protos:
        # iked negotiates one of ESP or AH per SA, IPComp beside it (RFC 7296 §3.3, §2.22)
        protos = tuple(p for p in protos if p != "ah")
        notes.append((e.where, e.text, "changed", "AH and ESP together: racoon2 negotiates "
                      "one of them per SA, so the bundle has ESP (with its integrity) only"))
    if protos == ("ipcomp",):
        notes.append((e.where, e.text, "none", "IPComp alone: racoon2 negotiates IPComp "
                      "only beside ESP or AH; left out (add esp to this policy)"))
        return None, [], None
    levels = {_LEVEL[r.level] for r in e.requests}
    level = next(lv for lv in ("unique", "require", "use") if lv in levels)
    if any(r.level == "default" for r in e.requests):
        notes.append((e.where, e.text, "changed", "level default (the kernel's sysctl) becomes "
                      "require"))
    remote = peer_remote(remotes, theirs)
    body = [Out(["action", "auto_ipsec"])]
    if remote is not None:
        body.append(Out(["remote_index", name(remote.name)]))
        if info.pfs is not None and Out(["need_pfs", "on"]) not in remote.body:
            remote.body.append(Out(["need_pfs", "on"]))
    else:
        notes.append((e.where, e.text, "changed", f"no remote matches peer {theirs}: the "
                      "policy has no remote_index (iked uses default { remote { … } })"))
    body += [Out(["ipsec_mode", "tunnel" if tunnel else first.mode]), Out(["ipsec_level", level]),
             listed("ipsec_index", [bundle(info, protos, sections)])]
    if tunnel:
        body += [Out(["my_sa_ipaddr", mine]), Out(["peers_sa_ipaddr", theirs])]
    key = ("ipsec", mine, theirs, "tunnel" if tunnel else "transport", level, info.base,
           *protos)
    return key, body, info


def _addr(addr: str, port: str) -> str:
    return addr if port == "any" else f"{addr} port {port}"


def _upper(upper: str) -> str:
    words = upper.replace(",", " ").split()
    # setkey -DP prints 255 (IPSEC_ULPROTO_ANY) for any
    proto = {"icmp6": "ipv6-icmp", "ip4": "4", "ipv6": "41", "255": "any"}.get(words[0],
                                                                               words[0])
    return " ".join([proto, *words[1:]])
