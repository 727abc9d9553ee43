"""racoon's ``remote`` blocks → racoon2's ``remote NAME { acceptable_kmp ikev1; ikev1 { … }; }``.

racoon chose a remote by the peer's address (or took ``anonymous``); racoon2 does the same with
``peers_ipaddr`` (``IP_RW`` for any peer).  ``inherit`` is resolved here: the parent's
statements are copied, the child's override them by directive.  Phase 1 proposals, each a
cipher+hash+method+group combination in racoon, become racoon2's lists (racoon2 proposes
every combination of them), in the order the proposals name them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from racoon2.convert import names
from racoon2.convert.modecfg import Gateway
from racoon2.convert.output import Out, Outcome, Report, listed, overridden, q
from racoon2.convert.syntax import PORT, QUOTED, WORD, Stmt
from racoon2.errors import RacoonConfError

_SAME_BOOL = {"initial_contact": "initial_contact", "passive": "passive",
              "support_proxy": "support_proxy", "send_cert": "send_cert",
              "send_cr": "send_cert_req", "verify_cert": "verify_pubkey",
              "verify_identifier": "verify_id"}
_NONE = {
    "doi": ("", "ipsec_doi is the only DOI: implied"),
    "situation": ("", "identity_only is the only situation racoon implements: implied"),
    "ike_frag": ("racoon2 has no IKEv1 fragmentation", "keep the IKE messages small (one "
                 "certificate, no long chains) or lower the MTU on the path"),
    "esp_frag": ("racoon2 has no ESP fragment size", "set the MTU of the route instead"),
    "weak_phase1_check": ("", "racoon2 checks every phase 1 notification"),
    "match_empty_cr": ("", "racoon2 picks the remote by address and ID, not by CERTREQ"),
    "rekey": ("", "racoon2 rekeys an IKE SA that still has IPsec SAs"),
    "keepalive": ("", "obsolete in racoon too (NAT keepalives are sent when NAT-T is on)"),
    "generate_policy": ("racoon2 installs policies from racoon2.conf only", "for a road "
                        "warrior responder write a tunnel policy with peers_sa_ipaddr IP_RW "
                        "(doc/config.md §2, policy)"),
    "ph1id": ("", "ties sainfo remoteid to this remote: resolved by the converter"),
}


#: Directives a remote may hold several of; of any other the last counts, as in racoon.
_MANY = frozenset({"proposal", "peers_identifier", "peers_certfile", "ca_type", "script"})


@dataclass
class Remote:
    """A converted remote: its racoon2 name, what racoon matched it by, its ikev1 body."""

    name: str                      # racoon's: "anonymous", "ADDR", "ADDR[PORT]", "name"
    stmt: Stmt
    address: str | None            # the peer's address, None for any
    ph1id: int
    dh: str | None                 # the first phase 1 group (racoon2's PFS group)
    nat: bool
    body: list[Out] = field(default_factory=list)
    usable: bool = True
    xauth: bool = False            # an XAuth gateway: gets the Gateway's xauth and provide


@dataclass
class Paths:
    """racoon's ``path`` settings and the converter's choices for files racoon2 needs."""

    certificate: str = ""
    script: str = ""
    psk_dir: str = "/usr/local/etc/racoon2/psk"
    my_addresses: tuple[str, ...] = ()
    gateway: Gateway = field(default_factory=Gateway)

    def cert(self, file: str) -> str:
        """A certificate file as racoon found it (relative to ``path certificate``)."""
        return file if file.startswith("/") or not self.certificate else \
            f"{self.certificate.rstrip('/')}/{file}"

    def hook(self, file: str) -> str:
        """A script as racoon found it (relative to ``path script``)."""
        return file if file.startswith("/") or not self.script else \
            f"{self.script.rstrip('/')}/{file}"


_BYTES = {"B": 1, "byte": 1, "bytes": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30,
          "TB": 1 << 40}
_INT_MAX = 2**31 - 1


def lifetime(s: Stmt) -> tuple[str, str]:
    """``lifetime time|byte N UNIT`` as racoon2 writes it, and a note when it had to change:
    racoon2's sizes are C ints (doc/config.md §1), racoon's went to TB."""
    number, unit = int(s.args[1].text, 0), s.args[2].text
    if s.args[0].text == "time" or number * _BYTES[unit] <= _INT_MAX and unit != "TB":
        return f"{number} {unit}", ""
    return f"{_INT_MAX} B", (f"racoon2's byte lifetimes stop at {_INT_MAX} B (a C int): "
                             f"{number} {unit} is written as that")


def header(stmt: Stmt) -> tuple[str, str | None, str | None, str | None]:
    """``remote`` header → (key, address, port, parent key); raises RacoonConfError."""
    args = list(stmt.args)
    if not args or args[0].kind not in (WORD, QUOTED):
        raise RacoonConfError("found remote without a name, expected remote (anonymous | "
                              "ADDRESS [[PORT]] | \"NAME\") [inherit PARENT]", stmt.where)
    first = args.pop(0)
    port = args.pop(0).text if args and args[0].kind == PORT else None
    parent = None
    if args and args[0].text == "inherit" and args[0].kind == WORD and len(args) >= 2:
        p = args[1]
        parent = p.text + (f"[{args[2].text}]" if len(args) > 2 and args[2].kind == PORT else "")
        args = args[3:] if len(args) > 2 and args[2].kind == PORT else args[2:]
    if args:
        raise RacoonConfError(f"found {args[0].shown()!r} in the remote header, expected "
                              "inherit PARENT or '{'", stmt.where)
    if first.kind == QUOTED:
        return first.text, None, None, parent
    if first.text == "anonymous":
        return "anonymous", None, port, parent
    key = first.text + (f"[{port}]" if port else "")
    return key, first.text, port, parent


def resolve_inherit(remotes: list[Stmt]) -> list[tuple[Stmt, list[Stmt]]]:
    """Each remote with its effective statements (the parent's, then its own overriding)."""
    by_key: dict[str, list[Stmt]] = {}
    out: list[tuple[Stmt, list[Stmt]]] = []
    for stmt in remotes:
        key, _, _, parent = header(stmt)
        own = list(stmt.block or ())
        merged = own
        if parent is not None:
            if parent not in by_key:
                raise RacoonConfError(f"found inherit {parent!r}, expected the name of a remote "
                                      "defined above", stmt.where)
            mine = {s.key for s in own}
            merged = [s for s in by_key[parent] if s.key not in mine] + own
        by_key[key] = merged
        out.append((stmt, merged))
    return out


def convert_remote(stmt: Stmt, body: list[Stmt], paths: Paths, report: Report,
                   common: list[Out]) -> Remote:
    """One racoon remote (effective statements ``body``) → a :class:`Remote`."""
    key, address, port, parent = header(stmt)
    get = {s.key: s for s in body}
    if "remote_address" in get:
        address = get["remote_address"].args[0].text
    remote = Remote(key, stmt, address, 0, None, False)
    became = f"remote {key!r}" + (f" (inherits {parent!r}: its statements copied, this "
                                    "block's override them)" if parent else "")
    report.add(stmt, Outcome.MAPPED, became + (", peers_ipaddr IP_RW (any peer)"
                                               if address is None else ""))
    own = set(map(id, stmt.block or ()))
    b = remote.body
    b.append(Out(["peers_ipaddr", (address or "IP_RW") + (f" port {port}" if port else "")]))
    last = {s.key: s for s in body}
    # IDs last: asn1dn takes its subject from the certificate, written later in racoon.conf.
    for s in sorted(body, key=lambda s: s.key in ("my_identifier", "peers_identifier")):
        fresh = id(s) in own   # an inherited statement has its entry from the parent
        if s.key not in _MANY and last[s.key] is not s:
            if fresh:
                report.add(s, Outcome.USED, "not emitted", overridden(last[s.key]))
            continue
        _directive(s, remote, paths, report if fresh else Report(), b)
    b.extend(common)
    if remote.xauth:
        b.extend(paths.gateway.block())
    if not any(o.words[0] == "kmp_enc_alg" for o in b):
        remote.usable = False
    return remote


def _directive(s: Stmt, remote: Remote, paths: Paths, report: Report, b: list[Out]) -> None:
    k = s.key
    a = [t.text for t in s.args if t.text != ","]
    where = f"remote {remote.name!r}: ikev1"
    if k == "ph1id":
        remote.ph1id = int(a[0], 0)
    if any(t.kind == QUOTED and ("${" in t.text or "$[" in t.text) for t in s.args):
        report.add(s, Outcome.NONE, "not emitted", "racoon2 expands ${NAME} and $[ENV] inside "
                   "quoted strings (doc/config.md §1) and has no escape, so this value cannot "
                   "be written as racoon read it: put the real value in")
    elif k in _SAME_BOOL:
        b.append(Out([_SAME_BOOL[k], a[0]]))
        report.add(s, Outcome.MAPPED, f"{where} {_SAME_BOOL[k]} {a[0]}")
    elif k == "generate_policy" and a[0] == "off":
        report.add(s, Outcome.USED, "dropped", "off: the default, and racoon2 too installs "
                   "only the policies its configuration holds")
    elif k in _NONE:
        what, note = _NONE[k]
        report.add(s, Outcome.NONE if what else Outcome.USED, what or "dropped", note)
    elif k == "remote_address":
        report.add(s, Outcome.MAPPED, f"{where} peers_ipaddr {a[0]}")
    elif k == "exchange_mode":
        b.append(Out(["exchange_mode", a[0]]))
        changed = len(a) > 1
        report.add(s, Outcome.CHANGED if changed else Outcome.MAPPED,
                   f"{where} exchange_mode {a[0]}",
                   f"racoon2 takes one mode: as a responder it does not also accept "
                   f"{', '.join(a[1:])}" if changed else "")
    elif k in ("my_identifier", "peers_identifier"):
        _identifier(s, remote, paths, report, b)
    elif k == "xauth_login":
        report.add(s, Outcome.NONE, "not emitted", "racoon2's XAuth is the gateway's only: "
                   "it logs in to no XAuth gateway (doc/iked.md, IKEv1 building blocks)")
    elif k == "mode_cfg":
        report.add(s, Outcome.NONE if a[0] == "on" else Outcome.USED, "not emitted",
                   "racoon2's IKEv1 mode-config is the gateway's only (provide { }): it asks "
                   "no gateway for an address" if a[0] == "on" else "off: the default")
    elif k == "certificate_type":
        if a[0] == "x509":
            b.append(Out(["my_public_key", "x509pem", q(paths.cert(a[1])), q(paths.cert(a[2]))]))
            report.add(s, Outcome.MAPPED, f"{where} my_public_key x509pem", "the key file "
                       "must be mode 0600 (racoon2 treats private keys as secrets)")
        else:
            report.add(s, Outcome.NONE, "racoon2 has no plain RSA keys", "issue an X.509 "
                       "certificate for the key (racoon2 takes x509pem) or use pre_shared_key")
    elif k in ("ca_type", "peers_certfile"):
        _peer_cert(s, a, paths, report, b, where)
    elif k == "script":
        _script(s, a, paths, report, b, where)
    elif k == "lifetime":
        d = "kmp_sa_lifetime_time" if a[0] == "time" else "kmp_sa_lifetime_byte"
        if any(o.words[0] == d for o in b):
            # Written after a proposal with its own lifetime: racoon's remote lifetime is
            # the default of the proposals that have none.
            report.add(s, Outcome.USED, "not emitted", "the proposal's lifetime counts")
            return
        value, capped = lifetime(s)
        b.append(Out([d, value]))
        report.add(s, Outcome.CHANGED if capped else Outcome.MAPPED, f"{where} {d} {value}",
                   capped)
    elif k == "proposal_check":
        b.append(Out(["proposal_check", a[0]]))
        report.add(s, Outcome.MAPPED, f"{where} proposal_check {a[0]}")
    elif k == "nat_traversal":
        remote.nat = a[0] != "off"
        b.append(Out(["nat_traversal", "off" if a[0] == "off" else "on"]))
        report.add(s, Outcome.CHANGED if a[0] == "force" else Outcome.MAPPED,
                   f"{where} nat_traversal {'off' if a[0] == 'off' else 'on'}",
                   "racoon2 encapsulates in UDP only when a NAT is detected; force has no "
                   "equivalent" if a[0] == "force" else "")
    elif k in ("dpd_delay", "dpd_retry"):
        b.append(Out([k, f"{a[0]} sec"]))
        if k == "dpd_delay":
            b.append(Out(["dpd", "off" if a[0] == "0" else "on"]))
        report.add(s, Outcome.MAPPED, f"{where} {k} {a[0]} sec")
    elif k in ("dpd_maxfail", "nonce_size", "dpd"):
        b.append(Out([k, a[0]]))
        report.add(s, Outcome.MAPPED, f"{where} {k} {a[0]}")
    elif k == "proposal":
        _proposal(s, remote, paths, report, b, where)


def _superseded(report: Report, became: str, life: Stmt) -> None:
    """The remote's own lifetime, written before a proposal that has one: racoon's remote
    lifetime is only the default of the proposals without their own (racoon.conf(5),
    proposal's lifetime), so the entry that said it was mapped says it is not emitted."""
    for e in report.entries:
        if e.became == became and e.outcome in (Outcome.MAPPED, Outcome.CHANGED):
            e.outcome, e.became = Outcome.USED, "not emitted"
            e.note = f"the proposal's lifetime at {life.where} counts"


def _identifier(s: Stmt, remote: Remote, paths: Paths, report: Report, b: list[Out]) -> None:
    d = "my_id" if s.key == "my_identifier" else "peers_id"
    where = f"remote {remote.name!r}: ikev1 {d}"
    kind, value = s.args[0].text, [t.text for t in s.args[1:]]
    if any(o.words[0] == d for o in b):
        report.add(s, Outcome.CHANGED, "not emitted", f"racoon2 takes one {d}: the first "
                   "counts; racoon accepted any of them")
        return
    if kind == "address":
        if d == "my_id":
            addr = value[0] if value else (paths.my_addresses[0] if len(paths.my_addresses)
                                           == 1 else None)
        else:
            addr = value[0] if value else remote.address
        if addr is None and d == "my_id":
            # racoon sent the address the exchange runs from; so does iked's IKEv1 without
            # a my_id (RFC 2407 §4.6.2.1 ID_IPV4_ADDR), unless a certificate gives its DN.
            report.add(s, Outcome.MAPPED, "not emitted: iked sends the address it speaks "
                       "from", "with a certificate iked sends its subject DN instead: write "
                       "my_id ipaddr ADDRESS if the peer expects an address")
            return
        if addr is None:
            report.add(s, Outcome.NONE, "not emitted", f"write {d} ipaddr ADDRESS: racoon2 "
                       "needs the address written (racoon took the packet's)")
            return
        b.append(Out([d, "ipaddr", addr]))
    elif kind in ("fqdn", "user_fqdn"):
        b.append(Out([d, "fqdn" if kind == "fqdn" else "email", q(value[0])]))
    elif kind == "keyid":
        tag = value[0] if value[0] in ("file", "tag") else "file"
        b.append(Out([d, "keyid", tag, q(value[-1])]))
    else:  # asn1dn
        certs = [o for o in b if o.words[0] == ("my_public_key" if d == "my_id"
                                                 else "peers_public_key")]
        if value or not certs:
            report.add(s, Outcome.NONE, "not emitted", "racoon2's x509_subject takes the "
                       "subject from a certificate file: write "
                       f"{d} x509_subject \"CERT.pem\" with the certificate holding that DN")
            return
        b.append(Out([d, "x509_subject", certs[0].words[2]]))
    report.add(s, Outcome.MAPPED, f"{where} {' '.join(b[-1].words[1:])}")


def _peer_cert(s: Stmt, a: list[str], paths: Paths, report: Report, b: list[Out],
               where: str) -> None:
    if a[0] in ("dnssec", "plain_rsa"):
        report.add(s, Outcome.NONE, f"racoon2 has no {a[0]} peer keys", "give the peer's "
                   "X.509 certificate or its CA (peers_public_key x509pem FILE)")
        return
    file = paths.cert(a[-1])
    if any(o.words[0] == "peers_public_key" for o in b):
        report.add(s, Outcome.CHANGED, "not emitted", "racoon2 takes one peers_public_key "
                   f"file: append {file} to the first one (a PEM file may hold several "
                   "certificates)")
        return
    b.append(Out(["peers_public_key", "x509pem", q(file)]))
    report.add(s, Outcome.MAPPED, f"{where} peers_public_key x509pem {q(file)}",
               "the peer's certificate chain is checked against it (doc/iked.md)"
               if s.key == "ca_type" else "")


def _script(s: Stmt, a: list[str], paths: Paths, report: Report, b: list[Out],
            where: str) -> None:
    if a[1] == "phase1_dead":
        report.add(s, Outcome.NONE, "racoon2 has no phase1_dead hook", "phase1_down runs "
                   "when the IKE SA goes, also after a DPD failure")
        return
    block = next((o for o in b if o.words == ["script"]), None)
    if block is None:
        block = Out(["script"], [])
        b.append(block)
    assert block.block is not None
    block.block.append(Out([a[1], q(paths.hook(a[0]))]))
    report.add(s, Outcome.CHANGED, f"{where} script {{ {a[1]} … }}", "racoon2 gives the "
               "script other environment variables (doc/iked.md, hooks)")


def _proposal(s: Stmt, remote: Remote, paths: Paths, report: Report, b: list[Out],
              where: str) -> None:
    props = {p.key: p for p in s.block or ()}
    method = props.get("authentication_method")
    m = method.args[0].text if method else "pre_shared_key"
    for p in s.block or ():
        if props[p.key] is not p:
            report.add(p, Outcome.USED, "not emitted", overridden(props[p.key]))
        elif p.key != "authentication_method":
            report.add(p, Outcome.USED, f"{where} {p.key} (see the proposal)")
    def drop(outcome: Outcome, note: str) -> None:
        if method:
            report.add(method, outcome, "proposal not emitted", note)
        report.add(s, outcome, "not emitted", note)

    gateway = paths.gateway if m in names.XAUTH_SERVER else None
    if gateway is not None and gateway.xauth is None:
        drop(Outcome.NONE, gateway.why)
        return
    auth = names.AUTH.get(m) or names.XAUTH_SERVER.get(m)
    if auth == "rsasig" and not any(o.words[0] == "my_public_key" for o in b):
        auth = None
    if auth is None:
        drop(Outcome.NONE, names.NO_AUTH.get(m, "rsasig needs an X.509 certificate "
                                               "(certificate_type x509) in racoon2"))
        return
    enc = props.get("encryption_algorithm")
    cipher = names.cipher(names.IKE_ENC, enc.args[0].text,
                          int(enc.args[1].text) if enc and len(enc.args) > 1 else None) \
        if enc else "3des_cbc"
    h = props.get("hash_algorithm")
    hashed = names.IKE_HASH.get(h.args[0].text) if h else "sha1"
    g = props.get("dh_group")
    group = names.DH.get(g.args[0].text) if g else None
    if cipher is None or hashed is None or (g is not None and group is None):
        drop(Outcome.NONE, "racoon2 has no such cipher, hash or group; pick one of "
             "doc/config.md 'Algorithms'")
        return
    for d, v in (("kmp_enc_alg", cipher), ("kmp_hash_alg", hashed), ("kmp_dh_group", group),
                 ("kmp_auth_method", auth)):
        if v is not None:
            _add_to_list(b, d, v)
    if gateway is not None:
        remote.xauth = True
        assert method is not None
        report.add(method, Outcome.CHANGED, f"{where} kmp_auth_method {auth}, "
                   f"{gateway.shown()}", _xauth_note(m, auth, gateway))
    elif method:
        report.add(method, Outcome.MAPPED, f"{where} kmp_auth_method {auth}")
    remote.dh = remote.dh or group
    if auth == "psk" and not any(o.words[0] == "pre_shared_key" for o in b):
        file = re.sub(r"[^A-Za-z0-9._-]", "_", remote.name)
        b.append(Out(["pre_shared_key", q(f"{paths.psk_dir}/{file}.psk")]))
    life = props.get("lifetime")
    if life is not None:
        d = "kmp_sa_lifetime_time" if life.args[0].text == "time" else "kmp_sa_lifetime_byte"
        for o in b:
            if o.words[0] == d:
                _superseded(report, f"{where} {d} {o.words[1]}", life)
        b[:] = [o for o in b if o.words[0] != d] + [Out([d, lifetime(life)[0]])]
    several = _list_len(b) > 1
    report.add(s, Outcome.CHANGED if several else Outcome.MAPPED,
               f"{where} kmp_enc_alg {cipher}, kmp_hash_alg {hashed}"
               + (f", kmp_dh_group {group}" if group else "") + f", kmp_auth_method {auth}",
               "racoon2 proposes every combination of its lists, racoon only the proposals "
               "written" if several else "")


def _xauth_note(method: str, auth: str, gateway: Gateway) -> str:
    note = (f"racoon2's IKEv1 kmp_auth_method takes psk and rsasig only: {auth}, and the "
            "remote's xauth { } asks every peer of this remote for a user name and password "
            "after phase 1 (racoon: the peers of this proposal)")
    if method.startswith("hybrid"):
        note += ("; racoon2 has no hybrid authentication: with rsasig the clients sign too, "
                 "so each needs a certificate (give their CA as peers_public_key x509pem)")
    return f"{note}; {gateway.source}"


def _add_to_list(b: list[Out], d: str, v: str) -> None:
    for o in b:
        if o.words[0] == d:
            items = [i.words[0] for i in o.block] if o.block else [o.words[1]]
            if v not in items:
                new = listed(d, [*items, v])
                o.words, o.block = new.words, new.block
            return
    b.append(listed(d, [v]))


def _list_len(b: list[Out]) -> int:
    return max((len(o.block) for o in b if o.block and o.words[0].startswith("kmp_")),
               default=1)
