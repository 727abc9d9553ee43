"""racoon as an XAuth gateway: the passwords' source and ``mode_cfg { }`` → racoon2's ikev1
``xauth { }``, ``provide { }`` and an ``addresspool`` (doc/config.md §5, doc/iked.md "IKEv1
building blocks").

racoon's mode_cfg is global: it answered any peer's mode-config request from it, handing out
``network4 + N`` for the N-th free slot of ``pool_size`` (ipsec-tools isakmp_cfg.c
``isakmp_cfg_net``/``isakmp_cfg_getport``).  racoon2 keeps these values per remote, so they go
into every remote that is an XAuth gateway (an ``xauth_*_server``/``hybrid_*_server``
proposal), the peers that ask for mode-config (draft-dukes-ike-mode-cfg-02 follows XAuth).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from racoon2.convert.output import Out, Outcome, Report, listed, overridden, q
from racoon2.convert.syntax import Stmt

#: racoon2's name for the pool written from network4/pool_size.
POOL = "mode_cfg_pool"
#: racoon's pool_size when mode_cfg does not give one (isakmp_cfg.h ISAKMP_CFG_MAX_CNX).
DEFAULT_POOL_SIZE = 255
#: The PAM services: racoon's own (xauth_login_pam: pam_start("racoon", …)), and for
#: auth_source system (racoon checked the local accounts' passwords, getpwnam/getspnam and
#: crypt) the one every Linux box has whose auth stack is those accounts (pam_unix, via
#: common-auth on Debian), which is also python-pam's default service.
PAM_RACOON = "racoon"
PAM_SYSTEM = "login"

_UNITY = ("a Cisco Unity attribute, which racoon2's mode-config does not send (it sends the "
          "address, dns and application_version): set it on the clients")
_NONE = {
    "netmask4": "racoon2 sends netmask 255.255.255.255 (the leased address is a host "
                "address; doc/iked.md): the clients reach the networks behind the gateway "
                "through the tunnel policies",
    "wins4": "racoon2 sends no WINS/NBNS servers (INTERNAL_IP4_NBNS): set them on the clients",
    "nbns4": "racoon2 sends no WINS/NBNS servers (INTERNAL_IP4_NBNS): set them on the clients",
    "default_domain": _UNITY, "split_dns": _UNITY, "split_network": _UNITY, "banner": _UNITY,
    "save_passwd": _UNITY,
    "pfs_group": "UNITY_PFS is not sent; racoon2 does PFS when the remote has need_pfs on "
                 "(from sainfo pfs_group)",
    "auth_throttle": "racoon2's XAuth asks up to 3 times per IKE SA, then says FAIL and "
                     "deletes it; there is no delay to set",
    "auth_groups": "racoon2 checks no XAuth groups: require the group in the PAM service "
                   "(auth required pam_succeed_if.so user ingroup GROUP)",
    "group_source": "racoon2 checks no XAuth groups (see auth_groups)",
}
_ACCOUNTING = ("racoon2 keeps no accounting (utmp, PAM sessions, RADIUS): a script "
               "{ phase1_up …; phase1_down …; } hook can log the logins")


@dataclass
class Gateway:
    """What every XAuth gateway remote gets: its ``xauth { }`` (None when racoon2 cannot check
    the passwords where racoon did: ``why`` says what to do), its ``provide { }`` options and
    the addresspool section they name."""

    xauth: Out | None = None
    why: str = ""
    source: str = ""               # where the passwords are checked, for the report
    provide: list[Out] = field(default_factory=list)
    pool: Out | None = None

    def shown(self) -> str:
        """The xauth block as one line of the report."""
        assert self.xauth is not None and self.xauth.block is not None
        return f"xauth {{ {' '.join(self.xauth.block[0].words)}; }}"

    def block(self) -> list[Out]:
        """The statements for a gateway remote's ikev1 block."""
        assert self.xauth is not None
        return [self.xauth] + ([Out(["provide"], self.provide)] if self.provide else [])


#: Statements racoon adds up instead of replacing: each ``dns4`` appends to one list of servers
#: (cfparse.y's addrdns keeps counting ``dns4_index`` across statements).
_ADDED_UP = frozenset({"dns4"})


def _last(blocks: list[Stmt]) -> dict[str, Stmt]:
    return {s.key: s for b in blocks for s in b.block or ()}


def _all(blocks: list[Stmt], key: str) -> list[Stmt]:
    return [s for b in blocks for s in b.block or () if s.key == key]


def read_gateway(blocks: list[Stmt], users: str | None) -> Gateway:
    """The ``mode_cfg`` blocks (racoon merges them: the last of each statement counts, every
    ``dns4`` adds its servers) and the converter's ``--xauth-users`` choice → :class:`Gateway`."""
    last = _last(blocks)
    g = Gateway()
    source = last["auth_source"].args[0].text if "auth_source" in last else "system"
    if users is not None:
        g.xauth = Out(["xauth"], [Out(["users", q(users)])])
        g.source = (f"create {users}, mode 0600, one 'NAME SECRET' line per user (doc/iked.md, "
                    f"'XAuth users file'): racoon's passwords (auth_source {source}) are not "
                    "carried over")
    elif source in ("system", "pam"):
        service = PAM_SYSTEM if source == "system" else PAM_RACOON
        g.xauth = Out(["xauth"], [Out(["pam", q(service)])])
        g.source = (f"passwords: PAM service {service} (auth_source {source}; see mode_cfg's "
                    "entries); iked needs python-pam")
    else:
        module = "pam_radius_auth" if source == "radius" else "pam_ldap"
        g.why = (f"racoon2 has no {source.upper()} client: put {module} in a PAM service and "
                 "write xauth { pam SERVICE; } into the remote's ikev1 block, or convert with "
                 "--xauth-users FILE")
    pool = _pool(last)
    if pool is not None:
        g.pool = Out(["addresspool", POOL], [Out([pool[0], "-", pool[1]])])
        g.provide.append(Out(["addresspool", POOL]))
    dns = [a for s in _all(blocks, "dns4") for a in _addresses(s)]
    if dns:
        g.provide.append(listed("dns", dns))
    return g


def _pool(last: dict[str, Stmt]) -> tuple[str, str] | None:
    """racoon's pool, ``network4`` … ``network4 + pool_size - 1`` (capped at the last IPv4
    address), or None without a usable network4."""
    net = _addresses(last.get("network4"))
    size = int(last["pool_size"].args[0].text, 0) if "pool_size" in last else DEFAULT_POOL_SIZE
    if not net or size < 1:
        return None
    start = ipaddress.IPv4Address(net[0])
    end = ipaddress.IPv4Address(min(int(start) + size - 1, 2**32 - 1))
    return str(start), str(end)


def _addresses(s: Stmt | None) -> list[str]:
    """The IPv4 addresses of ``s`` (racoon's inet_pton took only those for *4 directives)."""
    out = []
    for t in s.args if s is not None else ():
        try:
            out.append(str(ipaddress.IPv4Address(t.text)))
        except ValueError:
            continue
    return out


def report_gateway(blocks: list[Stmt], g: Gateway, gateways: list[str], users: str | None,
                   report: Report) -> None:
    """The report entries of the ``mode_cfg`` blocks, ``gateways`` being the names of the
    remotes written with ``g``'s xauth and provide."""
    last = _last(blocks)
    into = f"in remote {', '.join(map(repr, gateways))}" if gateways else ""
    for b in blocks:
        if gateways:
            report.add(b, Outcome.CHANGED, "provide { … } " + into, "racoon answered any "
                       "peer's mode-config request; racoon2 answers in the remotes that have "
                       "provide { } (here the XAuth gateways): add it to another remote's "
                       "ikev1 block for its peers")
        else:
            report.add(b, Outcome.NONE, "not emitted", "no remote written here is an XAuth "
                       "gateway: put xauth { } and provide { } into the ikev1 block of the "
                       "remote whose peers ask for mode-config (doc/config.md §5)")
        for s in b.block or ():
            if s.key not in _ADDED_UP and last[s.key] is not s:
                report.add(s, Outcome.USED, "not emitted", overridden(last[s.key]))
            elif not gateways:
                report.add(s, Outcome.NONE, "not emitted", g.why if s.key == "auth_source"
                           and g.xauth is None else "part of mode_cfg (see above)")
            else:
                _statement(s, g, into, users, report)


def _statement(s: Stmt, g: Gateway, into: str, users: str | None, report: Report) -> None:
    k, a = s.key, [t.text for t in s.args if t.text != ","]
    if k == "auth_source":
        _auth_source(s, a[0], g, into, users, report)
    elif k in ("network4", "pool_size"):
        if g.pool is None:
            report.add(s, Outcome.NONE, "no addresspool written", "racoon2 needs the pool's "
                       "addresses: network4 must be an IPv4 address (racoon handed out "
                       "network4 + 0 … pool_size - 1): write addresspool NAME { START - END; } "
                       "and provide { addresspool NAME; }")
            return
        assert g.pool.block is not None
        became = f"addresspool {POOL} {{ {' '.join(g.pool.block[0].words)}; }}"
        report.add(s, Outcome.MAPPED, f"{became}, provide {{ addresspool {POOL}; }} {into}",
                   "racoon handed out network4 + 0 … pool_size - 1, as this range does"
                   if k == "network4" else "")
    elif k == "dns4":
        dns = _addresses(s)
        report.add(s, Outcome.MAPPED if len(dns) == len(a) else Outcome.CHANGED,
                   f"provide {{ dns {', '.join(dns)}; }} {into}" if dns else "not emitted",
                   "" if len(dns) == len(a) else "only IPv4 addresses are dns4 servers")
    elif k == "conf_source":
        if a[0] == "local":
            report.add(s, Outcome.USED, "the addresses come from the addresspool")
        else:
            report.add(s, Outcome.NONE, "not emitted", f"racoon2 takes no addresses from "
                       f"{a[0].upper()}: they come from the addresspool (racoon fell back to "
                       "it too)")
    elif k == "accounting":
        if a[0] == "none":
            report.add(s, Outcome.USED, "racoon2 keeps no accounting either")
        else:
            report.add(s, Outcome.NONE, "not emitted", _ACCOUNTING)
    else:
        report.add(s, Outcome.NONE, "not emitted", _NONE[k])


def _auth_source(s: Stmt, source: str, g: Gateway, into: str, users: str | None,
                 report: Report) -> None:
    if users is not None:
        report.add(s, Outcome.CHANGED, f"{g.shown()} {into}", g.source)
    elif g.xauth is None:
        report.add(s, Outcome.NONE, "not emitted", g.why)
    elif source == "pam":
        report.add(s, Outcome.MAPPED, f"xauth {{ pam \"{PAM_RACOON}\"; }} {into}",
                   f"racoon's PAM service, /etc/pam.d/{PAM_RACOON}; iked needs python-pam")
    else:
        report.add(s, Outcome.CHANGED, f"xauth {{ pam \"{PAM_SYSTEM}\"; }} {into}",
                   f"racoon checked the local accounts' passwords itself; PAM service "
                   f"{PAM_SYSTEM} checks the same accounts (pam_unix) but also refuses "
                   "locked or expired ones and applies its other modules (pam_nologin, …): "
                   "for a stack of your own write /etc/pam.d/racoon2 (auth and account "
                   "pam_unix.so) and pam \"racoon2\"; iked needs python-pam")
