"""The mapper: a checked racoon.conf tree (and the SPD racoon relied on) → racoon2.conf
sections and the report.  Pure: files are read by the caller (racoon2/convert/cli.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from racoon2.convert import grammar
from racoon2.convert.modecfg import read_gateway, report_gateway
from racoon2.convert.output import Entry, Out, Outcome, Report, name, q, write
from racoon2.convert.policies import SaInfo, bundle, convert_spd, read_sainfo
from racoon2.convert.remotes import Paths, Remote, convert_remote, resolve_inherit
from racoon2.convert.spd import Skipped, SpdEntry
from racoon2.convert.syntax import Reader, Stmt, parse

#: timer { } → the same value in every ikev1 block.
_TIMER = {"counter": "max_retry_to_send", "interval": "interval_to_send",
          "persend": "times_per_send", "phase1": "kmp_sa_nego_time_limit",
          "phase2": "ipsec_sa_nego_time_limit"}
_PADDING = {"randomize": "random_pad_content", "randomize_length": "random_padlen",
            "maximum_length": "max_padlen"}
_PATHS_NONE = {
    "backupsa": "racoon2 keeps no SA backup file: SAs are renegotiated after a restart",
    "pidfile": "iked writes its pid file where doc/iked.md says (-F runs it in the foreground)",
    "logfile": "give iked -l FILE",
}
_TOP_NONE = {
    "log": ("iked's -d (repeat it) and -D flags set the log level", Outcome.NONE),
    "privsep": ("racoon2's daemons run as root without privilege separation; confine them with "
                "the service manager (systemd's sandboxing options)", Outcome.NONE),
    "gss_id_enc": ("no GSS-API IKEv1 in racoon2 (KINK, kinkd, for Kerberos)", Outcome.NONE),
    "pfkey_buffer": ("racoon2 talks netlink XFRM to the kernel: no PF_KEY buffer", Outcome.NONE),
    "complex_bundle": ("racoon2 proposes one protocol per SA bundle entry, in the SPD's order",
                       Outcome.NONE),
    "ldapcfg": ("no LDAP in racoon2: write xauth { pam SERVICE; } with pam_ldap in that PAM "
                "service (its server, base and bind DN from here)", Outcome.NONE),
    "radiuscfg": ("no RADIUS in racoon2: write xauth { pam SERVICE; } with pam_radius_auth in "
                  "that PAM service (its servers and secrets from here)", Outcome.NONE),
}


@dataclass
class Options:
    """The converter's choices for what racoon.conf does not say."""

    spmd_socket: str = "/var/run/racoon2/spmif"
    spmd_password: str = "/usr/local/etc/racoon2/spmd.pwd"
    psk_dir: str = "/usr/local/etc/racoon2/psk"
    xauth_users: str | None = None  # XAuth passwords from this users file, not from PAM


@dataclass
class Result:
    """The converted configuration and its report."""

    text: str
    report: Report
    remotes: list[Remote] = field(default_factory=list)


def convert_text(text: str, file: str, *, reader: Reader | None = None,
                 spd: list[SpdEntry | Skipped] | None = None,
                 options: Options | None = None) -> Result:
    """racoon.conf text (and optionally its SPD) → racoon2.conf text and report; raises
    RacoonConfError (``file:line``) for input racoon would not have read."""
    stmts = parse(text, file, reader)
    grammar.check(stmts)
    return convert(stmts, spd, options or Options(), file)


def convert(stmts: list[Stmt], spd: list[SpdEntry | Skipped] | None, options: Options,
            file: str) -> Result:
    """A checked racoon.conf tree → :class:`Result`."""
    report = Report()
    paths = Paths(psk_dir=options.psk_dir)
    common: list[Out] = []
    listen: list[str] = []
    for s in stmts:
        _top(s, paths, common, listen, report)
    paths.my_addresses = tuple(a.split()[0] for a in listen)
    mode_cfg = [s for s in stmts if s.key == "mode_cfg"]
    paths.gateway = read_gateway(mode_cfg, options.xauth_users)
    remotes = [convert_remote(stmt, body, paths, report, common)
               for stmt, body in resolve_inherit([s for s in stmts if s.key == "remote"])]
    gateways = [r.name for r in remotes if r.usable and r.xauth]
    report_gateway(mode_cfg, paths.gateway, gateways, options.xauth_users, report)
    groups = {r.dh for r in remotes if r.usable}
    infos = [read_sainfo(s, n, report, groups)
             for n, s in enumerate((s for s in stmts if s.key == "sainfo"), 1)]
    policy_sections: list[Out] = []
    notes: list[tuple[str, str, str, str]] = []
    if spd:
        convert_spd(spd, infos, remotes, policy_sections, notes)
        _unused_sainfos(infos, report)
    else:
        _without_spd(infos, remotes, policy_sections, report, stmts)
    for r in remotes:
        if not r.usable:
            _left_out(r, report)
    _unreported(stmts, report)
    sections = [_interface(listen, remotes, options)]
    sections += [Out(["remote", name(r.name)], [Out(["acceptable_kmp", "ikev1"]),
                                                 Out(["ikev1"], r.body)], r.stmt.where)
                 for r in remotes if r.usable]
    if gateways and paths.gateway.pool is not None:
        sections.append(paths.gateway.pool)
    sections += policy_sections
    header = [f"racoon2.conf converted by racoon2-convert from {file}",
              "(the report, racoon2-convert -r, says what became of each line)."]
    text = write(sections, header)
    for where, stmt, outcome, note in notes:
        report.entries.append(_spd_entry(where, stmt, outcome, note))
    return Result(text, report, remotes)


def _top(s: Stmt, paths: Paths, common: list[Out], listen: list[str], report: Report) -> None:
    k = s.key
    if k == "path":
        kind, value = s.args[0].text, s.args[1].text
        if "${" in value or "$[" in value:
            report.add(s, Outcome.NONE, "not used", "racoon2 expands ${NAME} and $[ENV] inside "
                       "quoted strings: paths are written without this directory")
        elif kind == "certificate":
            paths.certificate = value
            report.add(s, Outcome.USED, "certificate files are written with this directory")
        elif kind == "script":
            paths.script = value
            report.add(s, Outcome.USED, "script paths are written with this directory")
        elif kind == "include":
            report.add(s, Outcome.USED, "include paths were read relative to it")
        elif kind == "pre_shared_key":
            report.add(s, Outcome.CHANGED, f"pre_shared_key \"{paths.psk_dir}/REMOTE.psk\" per "
                       "remote", f"racoon's {value} holds 'ID KEY' lines; racoon2 reads one key "
                       "file per remote, its bytes being the key: copy each peer's key into "
                       "its file, mode 0600 (pskgen writes new ones)")
        else:
            report.add(s, Outcome.NONE, "not emitted", _PATHS_NONE[kind])
    elif k == "include":
        report.add(s, Outcome.USED, "its statements are converted in place")
    elif k in _TOP_NONE:
        note, outcome = _TOP_NONE[k]
        report.add(s, outcome, "not emitted", note)
        for inner in s.block or ():
            report.add(inner, outcome, "not emitted", f"part of {k}")
    elif k == "listen":
        for inner in s.block or ():
            _listen(inner, listen, report)
        report.add(s, Outcome.MAPPED, "interface { ike { … }; }")
    elif k in ("timer", "padding"):
        table = _TIMER if k == "timer" else _PADDING
        for inner in s.block or ():
            d = table.get(inner.key)
            value = " ".join(t.text for t in inner.args)
            if d is None:
                report.add(inner, Outcome.NONE, "not emitted", {
                    "natt_keepalive": "iked sends NAT keepalives on its own schedule",
                    "exclusive_tail": "racoon2 pads IKE messages minimally",
                    "strict_check": "racoon2 checks the padding of what it decrypts",
                }[inner.key])
                continue
            common.append(Out([d, value]))
            changed = inner.key == "interval"
            report.add(inner, Outcome.CHANGED if changed else Outcome.MAPPED,
                       f"{d} {value} in every ikev1 block",
                       "racoon2 doubles the interval after each resend (×1, 2, 4 … 64); "
                       "racoon kept it fixed" if changed else "")
        report.add(s, Outcome.MAPPED, "its values go into every ikev1 block")


def _listen(s: Stmt, listen: list[str], report: Report) -> None:
    if s.key in ("isakmp", "isakmp_natt"):
        port = s.args[1].text if len(s.args) > 1 else ("500" if s.key == "isakmp" else "4500")
        listen.append(f"{s.args[0].text} port {port}")
        report.add(s, Outcome.MAPPED, f"interface ike {s.args[0].text} port {port}")
    elif s.key == "strict_address":
        report.add(s, Outcome.USED, "implied: iked binds only the addresses of interface ike")
    else:
        report.add(s, Outcome.CHANGED, "interface spmd (spmdctl's socket)", "racoonctl's admin "
                   "socket has no twin in iked; spmdctl talks to spmd's socket, which takes no "
                   "owner, group or mode: restrict its directory instead")


def _interface(listen: list[str], remotes: list[Remote], options: Options) -> Out:
    ike = listen or ["MY_IP"] + (["MY_IP port 4500"] if any(r.nat for r in remotes) else [])
    return Out(["interface"], [
        Out(["ike"], [Out([a]) for a in ike]),
        Out(["spmd"], [Out(["unix", q(options.spmd_socket)])]),
        Out(["spmd_password", q(options.spmd_password)]),
    ])


def _without_spd(infos: list[SaInfo], remotes: list[Remote], sections: list[Out],
                 report: Report, stmts: list[Stmt]) -> None:
    """No SPD given: the sainfos' ipsec/sa blocks (ESP) for the admin's own policies."""
    for info in infos:
        bundle(info, ("esp",), sections)
        if info.pfs is None:
            continue
        for r in remotes:
            if info.remoteid in (None, r.ph1id) and Out(["need_pfs", "on"]) not in r.body:
                r.body.append(Out(["need_pfs", "on"]))
    if infos:
        report.add(infos[0].stmt, Outcome.CHANGED, "no selector or policy emitted",
                   "racoon took its policies from the kernel SPD (setkey); racoon2 keeps them "
                   "in racoon2.conf: rerun with --spd setkey.conf (or `setkey -DP` output), or "
                   "write selector and policy blocks using ipsec_index "
                   + ", ".join(i.bundles[("esp",)] for i in infos))


def _unused_sainfos(infos: list[SaInfo], report: Report) -> None:
    """With an SPD, a sainfo no entry picks writes no blocks: racoon looks a sainfo up by
    (local ID, remote ID) as initiator and as responder alike, so on this host it served
    none of these policies (a guide's file often holds the peer's sainfo too)."""
    for info in infos:
        if info.bundles:
            continue
        head = (info.stmt.where, info.stmt.text())
        own = {head} | {(s.where, s.text()) for s in info.stmt.block or ()}
        for e in report.entries:
            if (e.where, e.text) in own and e.outcome in (Outcome.MAPPED, Outcome.CHANGED):
                e.outcome, e.became = Outcome.USED, "not emitted"
                e.note = ("no entry of the SPD picks this sainfo: racoon used it for none of "
                          "these policies" if (e.where, e.text) == head else
                          f"its sainfo ({info.stmt.where}) serves no policy")


def _left_out(r: Remote, report: Report) -> None:
    """A remote without a usable proposal is not written: so are none of its lines."""
    prefix = f"remote {r.name!r}:"
    for e in report.entries:
        if e.became.startswith(prefix) and e.outcome in (Outcome.MAPPED, Outcome.CHANGED,
                                                         Outcome.USED):
            e.outcome, e.became = Outcome.NONE, f"not emitted (the remote is left out): {e.became}"
    report.add(r.stmt, Outcome.NONE, f"remote {r.name!r} left out: no phase 1 proposal racoon2 "
               "can use", "see its proposal lines")


def _unreported(stmts: list[Stmt], report: Report) -> None:
    """A safety net: a statement no rule above looked at still gets its line."""
    for s in stmts:
        if not report.seen(s):
            report.add(s, Outcome.NONE, "not converted", "no rule of the converter covers it")
        for inner in s.block or ():
            _unreported([inner], report)


def _spd_entry(where: str, stmt: str, outcome: str, note: str) -> Entry:
    kinds = {"mapped": Outcome.MAPPED, "none": Outcome.NONE, "changed": Outcome.CHANGED,
             "used": Outcome.USED}
    return Entry(where, stmt, kinds[outcome], note)
