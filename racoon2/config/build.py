"""Statement tree → :class:`~racoon2.config.model.Config` (doc/config.md §2–§4).

Each block type has one table: directive → how its value is read; one generic loop
(:func:`racoon2.config.rules.block_values`) applies the rules every block shares.  References are
resolved the way the C loader did: per selector, so a policy/ipsec/sa no selector reaches is
never converted (its value errors are warnings), a reached one must exist and be right.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeVar

from racoon2.config import values as v
from racoon2.config.addresses import addr_list, one_addr, port, prefix_list, protocol
from racoon2.config.lexer import KEYWORD, QUOTED, STRING, describe
from racoon2.config.model import (
    ADDKE_DIRECTIVES,
    AddressPool,
    ConfigRequest,
    ConfigWarning,
    Defaults,
    Eap,
    EapMethod,
    ExchangeMode,
    Interface,
    Ipsec,
    Kmp,
    KmpBlock,
    LogMode,
    MobilityRole,
    Policy,
    ProposalCheck,
    Provide,
    RadiusServer,
    Remote,
    Resolver,
    Sa,
    SaProtocol,
    Selector,
    SelectorCheck,
    Xauth,
)
from racoon2.config.model import Config as Model
from racoon2.config.parser import Statement
from racoon2.config.rules import Parse, Rule, block_values, by_type, concat, rule, union
from racoon2.errors import ConfigError
from racoon2.ipsec import Action, Direction, Level, Mode

_ALG = Rule(v.alg_list, alg=True)
_BOOL = rule(v.boolean)
_TIME = rule(v.seconds)
_BYTES = rule(v.nbytes)
_INT = rule(v.integer)
_STR = rule(v.string)

COMMON_KMP: Final[dict[str, Rule]] = {
    "logmode": rule(v.keyword({m.value: m for m in LogMode}, "a log mode")),
    "logfile": _STR, "passive": _BOOL, "use_coa": _BOOL,
    "peers_ipaddr": rule(addr_list()), "peers_kmp_port": rule(port),
    "verify_id": _BOOL, "verify_pubkey": _BOOL, "send_cert": _BOOL, "send_cert_req": _BOOL,
    "nonce_size": _BYTES, "initial_contact": _BOOL, "nat_traversal": _BOOL,
    "support_proxy": _BOOL, "my_id": rule(v.id_list), "peers_id": rule(v.id_list),
    "selector_check": rule(v.keyword({m.value: m for m in SelectorCheck}, "a selector check")),
    "proposal_check": rule(v.keyword({m.value: m for m in ProposalCheck}, "a proposal check")),
    "random_pad_content": _BOOL, "random_padlen": _BOOL, "max_padlen": _BYTES,
    "max_retry_to_send": _INT, "interval_to_send": _TIME, "times_per_send": _INT,
    "kmp_sa_lifetime_time": _TIME, "kmp_sa_lifetime_byte": _BYTES,
    "kmp_sa_nego_time_limit": _TIME, "kmp_sa_grace_period": _TIME,
    "ipsec_sa_nego_time_limit": _TIME,
    "kmp_enc_alg": _ALG, "kmp_hash_alg": _ALG, "kmp_prf_alg": _ALG, "kmp_auth_method": _ALG,
    "kmp_dh_group": Rule(v.dh_groups, alg=True),
    "mobility_role": rule(v.keyword({m.value: m for m in MobilityRole}, "a mobility role")),
    "script": rule(v.scripts, merge=by_type, merged="each hook type is kept separately"),
}
_KEYS: Final = {
    "need_pfs": _BOOL, "my_public_key": rule(v.public_key),
    "peers_public_key": rule(v.public_key), "pre_shared_key": _STR,
}
REQUESTS: Final = {
    "ip4": ConfigRequest.IP4, "ip6": ConfigRequest.IP6,
    "ip": ConfigRequest.IP4 | ConfigRequest.IP6,
    "ip4_dns": ConfigRequest.IP4_DNS, "ip6_dns": ConfigRequest.IP6_DNS,
    "dns": ConfigRequest.IP4_DNS | ConfigRequest.IP6_DNS,
    "ip4_dhcp": ConfigRequest.IP4_DHCP, "ip6_dhcp": ConfigRequest.IP6_DHCP,
    "dhcp": ConfigRequest.IP4_DHCP | ConfigRequest.IP6_DHCP,
    "application_version": ConfigRequest.APPLICATION_VERSION,
    "mip6_home_prefix": ConfigRequest.MIP6_HOME_PREFIX,
}
PROVIDE: Final = {
    "addresspool": rule(v.names), "dns": rule(addr_list()), "dhcp": rule(addr_list()),
    "application_version": _STR, "mip6_home_prefix": rule(one_addr),
    # extensions (doc/config.md §5): RFC 8598 domains, split-tunnel subnets, lease lifetime
    "dns_domain": rule(v.domain_names), "subnet": rule(prefix_list), "lease_time": _TIME,
}


def _request(ctx: v.Ctx, s: Statement) -> ConfigRequest:
    mask = ConfigRequest(0)
    for item in v.items(s, "a request item", empty_ok=True):
        token = item.words[0]
        if len(item.words) != 1 or token[0] != KEYWORD or token[1] not in REQUESTS:
            raise v.found(item, token, f"a request item: {', '.join(REQUESTS)}")
        mask |= REQUESTS[token[1]]
    return mask


def _provide(ctx: v.Ctx, s: Statement) -> Provide:
    # cfparse.y's provide_list is built in reverse, like ikev2_list: the first option wins.
    fields, at = block_values(ctx, s, PROVIDE, "provide", first_wins=True, empty_ok=True)
    return Provide(where=s.where, at=at, **fields)


def _merge_provide(kept: Provide, new: Provide, first_wins: bool) -> Provide:
    # The grammar splices each provide option into the ikev2 list, so two provide blocks are
    # one set of options, the first written of each winning.
    fields = {name: getattr(kept, name) for name, _ in kept.at}
    at = dict(kept.at)
    for name, line in new.at:
        if name not in fields:
            fields[name] = getattr(new, name)
            at[name] = line
    return Provide(where=kept.where, at=tuple(at.items()), **fields)


_PROVIDE_RULE: Final = rule(_provide, merge=_merge_provide,
                           merged="the options of both are used")
#: ``xauth { }`` (an extension, doc/config.md §5): XAuth as the gateway, mode-config beside it.
XAUTH: Final = {"users": _STR, "pam": _STR}


def _xauth(ctx: v.Ctx, s: Statement) -> Xauth:
    fields, at = block_values(ctx, s, XAUTH, "xauth")
    if len(fields) > 1:
        raise ConfigError("found both users and pam in xauth, expected one source of "
                          "passwords", s.where)
    return Xauth(where=s.where, at=at, **fields)


#: ``eap { }`` (an extension, doc/config.md §5): the IKEv2 responder's EAP method and users.
def _radius_server(ctx: v.Ctx, s: Statement) -> tuple[RadiusServer, ...]:
    words = list(v.args(s))
    if not words:
        raise v.found(s, None, "a RADIUS server's address after 'radius_server'")
    address = ctx.text(s, words.pop(0), "a RADIUS server's IP address")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(f"found {address!r}, expected a RADIUS server's IP address",
                          s.where) from None
    number, secret = 1812, None  # RFC 2865 §3: the Access port
    while words:
        head = words.pop(0)
        if head[0] != KEYWORD or head[1] not in ("port", "radius_secret") or not words:
            raise v.found(s, head, "port N or radius_secret FILE")
        if head[1] == "port":
            number = v.number(ctx, s, words.pop(0), "a UDP port")
            if not 1 <= number <= 65534:
                raise ConfigError(f"found port {number}, expected 1 to 65534 (accounting "
                                  "uses the next port)", s.where)
        else:
            secret = ctx.text(s, words.pop(0), "the shared secret's file")
    if secret is None:
        raise ConfigError(f"radius_server {address} without radius_secret FILE", s.where,
                          "the shared secret goes in a 0600 file: pskgen -r -o FILE")
    return (RadiusServer(s.where, address, number, secret),)


EAP: Final = {"method": rule(v.keyword({m.value: m for m in EapMethod}, "an EAP method")),
              "users": _STR,
              # RADIUS (RFC 3579): each server in failover order, the NAS-Identifier sent
              "radius_server": rule(_radius_server, merge=concat,
                                    merged="the servers are tried in order"),
              "radius_nas_identifier": _STR, "radius_accounting": _BOOL,
              "eap_only": _BOOL}


def _eap(ctx: v.Ctx, s: Statement) -> Eap:
    fields, at = block_values(ctx, s, EAP, "eap")
    if "method" not in fields:
        raise ConfigError("eap { } without method, expected method mschapv2;, md5; or tls;",
                          s.where)
    radius = fields["method"] is EapMethod.RADIUS
    if radius != ("radius_server" in fields):
        raise ConfigError("eap { } needs radius_server ADDR radius_secret FILE; with method "
                          "radius, and only with it", s.where)
    if "users" not in fields and fields["method"] not in (EapMethod.TLS, EapMethod.RADIUS):
        raise ConfigError(f"eap {{ }} without users, expected users FILE; for method "
                          f"{fields['method'].value}", s.where)
    if fields.get("eap_only") and fields["method"] is not EapMethod.TLS:
        # RFC 5998 §4: only a method that authenticates the server, makes a key and resists
        # dictionary attacks may stand in for our signature; with radius the server picks
        # the method after our first answer, which must already carry or omit our AUTH.
        raise ConfigError(f"eap_only on with method {fields['method'].value}, expected "
                          "method tls (RFC 5998 §4: EAP-MSCHAPv2 and EAP-MD5 do not "
                          "authenticate the server safely; with radius the method is not "
                          "known in time)", s.where)
    return Eap(where=s.where, at=at, **fields)


IKEV1: Final = {
    **COMMON_KMP, **_KEYS,
    "exchange_mode": rule(v.keyword({m.value: m for m in ExchangeMode}, "an exchange mode")),
    "my_gssapi_id": _STR, "dpd": _BOOL, "dpd_delay": _TIME, "dpd_retry": _TIME,
    "dpd_maxfail": _INT,
    # extensions: mode-config's values as IKEv2's CFG_REPLY spells them, and XAuth
    "provide": _PROVIDE_RULE, "xauth": rule(_xauth),
}
IKEV2: Final = {
    **COMMON_KMP, **_KEYS,
    "cookie_required": _BOOL, "send_peers_id": _BOOL, "dpd_delay": _TIME, "mobike": _BOOL,
    # RFC 7383 IKE fragmentation: on/off and the largest IP datagram of a fragment
    "fragmentation": _BOOL, "fragment_size": _BYTES,
    "request": rule(_request), "provide": _PROVIDE_RULE, "eap": rule(_eap),
    # extension: built-in proposal sets for remote-access clients (doc/iked.md)
    "proposal_profile": rule(v.proposal_profiles),
    # extension: RFC 9370's additional key exchanges, one directive per position
    **{name: Rule(v.addke_groups, alg=True) for name in ADDKE_DIRECTIVES},
    # extension: RFC 8784 post-quantum preshared keys
    "ppk": rule(v.ppk, merge=concat, merged="both PPKs are known, the first one is offered"),
    "ppk_required": _BOOL,
}
KINK: Final = {**COMMON_KMP, "my_principal": _STR, "peers_principal": _STR}


def _kmp_block(kmp: Kmp, table: Mapping[str, Rule]) -> Parse:
    def parse(ctx: v.Ctx, s: Statement) -> KmpBlock:
        # cfparse.y: ikev2_list is right-recursive and builds its list backwards, so there
        # the first of a repeated directive wins; ikev1_list and kink_list keep file order.
        fields, at = block_values(ctx, s, table, kmp.value, first_wins=kmp is Kmp.IKEV2)
        return KmpBlock(kmp=kmp, where=s.where, at=at, **fields)
    return parse


REMOTE: Final = {
    "acceptable_kmp": rule(v.keywords({k.value: k for k in Kmp}, "a key management protocol"),
                         merge=union, merged="the protocols add up; the first listed initiates"),
    "ikev1": rule(_kmp_block(Kmp.IKEV1, IKEV1)), "ikev2": rule(_kmp_block(Kmp.IKEV2, IKEV2)),
    "kink": rule(_kmp_block(Kmp.KINK, KINK)), "selector_index": rule(v.name),
}


def _tag(ctx: v.Ctx, s: Statement) -> str:
    text = v.string(ctx, s)
    if len(text) >= 16:
        raise v.found(s, s.words[1], "a tag name shorter than 16 characters")
    return text


#: The directions a selector is written with (FORWARD is the kernel's alone).
DIRECTIONS: Final = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}
SELECTOR: Final = {
    "direction": rule(v.keyword(DIRECTIONS, "a direction")),
    "src": rule(addr_list(range_ok=True)), "dst": rule(addr_list(range_ok=True)),
    "upper_layer_protocol": rule(protocol),
    "next_header_including": rule(v.names), "tagged": rule(_tag), "policy_index": rule(v.name),
    "reqid": _INT, "order": _INT,
}
ACTIONS: Final = {**{a.value: a for a in Action}, "bypass": Action.NONE}
POLICY: Final = {
    "action": rule(v.keyword(ACTIONS, "an action")), "install": _BOOL,
    "remote_index": rule(v.name),
    "ipsec_index": rule(v.names, merge=concat, merged="both lists are used, in order"),
    "ipsec_mode": rule(v.keyword({m.value: m for m in Mode}, "an IPsec mode")),
    "my_sa_ipaddr": rule(one_addr), "peers_sa_ipaddr": rule(one_addr),
    "ipsec_level": rule(v.keyword({lv.value: lv for lv in Level}, "an IPsec level")),
}
IPSEC: Final = {
    "ipsec_sa_lifetime_time": _TIME, "ipsec_sa_lifetime_byte": _BYTES, "ext_sequence": _BOOL,
    "sa_index": rule(v.names, merge=concat, merged="both lists are used, in order"),
}
SA: Final = {
    "sa_protocol": rule(v.keyword({p.value: p for p in SaProtocol}, "an SA protocol")),
    "esp_enc_alg": _ALG, "esp_auth_alg": _ALG, "ah_auth_alg": _ALG, "ipcomp_alg": _ALG,
    "spi": _INT,
}
INTERFACE: Final = {
    "ike": rule(addr_list(), once=True), "kink": rule(addr_list(), once=True),
    "spmd": rule(addr_list(unix_ok=True), once=True), "spmd_password": rule(v.string, once=True),
    "application_bypass": _BOOL,
}
RESOLVER: Final = {
    "resolver": _BOOL, "nameserver": rule(addr_list(53), once=True),
    "dns_query": rule(addr_list(53), once=True),
}


# -- top level --------------------------------------------------------------------------------

E = TypeVar("E")
NAMED: Final = ("remote", "selector", "policy", "ipsec", "sa", "addresspool")
SINGLE: Final = ("setval", "default", "interface", "resolver")


@dataclass(slots=True)
class Built:
    """What :func:`build` leaves for an incremental reload (racoon2.config.incremental): each
    selector statement's selector and the notes reading it made, by ``id`` of the statement,
    and where the selectors' notes are in the model's (``notes[start:end]``)."""

    selectors: dict[int, tuple[Selector, tuple[ConfigWarning, ...]]] = field(
        default_factory=dict)
    start: int = 0
    end: int = 0


def build(statements: list[Statement], file: str, environ: Mapping[str, str],
          built: Built | None = None) -> Model:
    """Turn the top-level statements (includes already spliced in) into the model; ``built``
    gets what an incremental reload needs."""
    by_kind: dict[str, list[Statement]] = {k: [] for k in (*NAMED, *SINGLE)}
    for s in statements:
        head = s.words[0]
        if head[0] != KEYWORD or head[1] not in by_kind:
            raise ConfigError(
                f"found {describe(head)}, expected a section: {', '.join((*SINGLE, *NAMED))} "
                "or include", s.where,
            )
        seen = by_kind[head[1]]
        if head[1] in SINGLE and seen:
            raise ConfigError(f"found a second '{head[1]}' section, expected one",
                              s.where, f"the first is at {seen[0].where}")
        seen.append(s)
    notes: list[ConfigWarning] = []
    setval = _setval(by_kind["setval"], environ, notes)
    ctx = v.Ctx(MappingProxyType(dict(setval)), environ)
    ctx.notes.extend(notes)
    default = _defaults(ctx, by_kind["default"])
    interface = None
    if by_kind["interface"]:
        fields, at = block_values(ctx, by_kind["interface"][0], INTERFACE, "interface")
        interface = Interface(where=by_kind["interface"][0].where, at=at, **fields)
    resolver = None
    if by_kind["resolver"]:
        fields, at = block_values(ctx, by_kind["resolver"][0], RESOLVER, "resolver")
        resolver = Resolver(where=by_kind["resolver"][0].where, at=at, **fields)
    remotes = tuple(_named(ctx, s, REMOTE, "remote", Remote) for s in by_kind["remote"])
    unchecked: list[Unchecked] = []
    raw_policies = tuple(_lenient(ctx, s, POLICY, "policy", Policy, unchecked)
                         for s in by_kind["policy"])
    raw_ipsecs = tuple(_lenient(ctx, s, IPSEC, "ipsec", Ipsec, unchecked)
                       for s in by_kind["ipsec"])
    sas = tuple(_lenient(ctx, s, SA, "sa", Sa, unchecked) for s in by_kind["sa"])
    if built is None:
        raw_selectors = tuple(selector(ctx, s) for s in by_kind["selector"])
    else:
        built.start = len(ctx.notes)
        for s in by_kind["selector"]:
            before = len(ctx.notes)
            built.selectors[id(s)] = (selector(ctx, s), tuple(ctx.notes[before:]))
        built.end = len(ctx.notes)
        raw_selectors = tuple(sel for sel, _ in built.selectors.values())
    pools = tuple(_pool(ctx, s) for s in by_kind["addresspool"])
    return _link(file, setval, default, interface, resolver, remotes, raw_selectors,
                 raw_policies, raw_ipsecs, sas, pools, ctx.notes, unchecked)


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A policy, ipsec or sa whose values the C loader would refuse: fine until reached."""

    kind: str
    name: str
    where: str
    error: ConfigError


def _lenient(ctx: v.Ctx, s: Statement, table: Mapping[str, Rule], kind: str, cls: Any,
             unchecked: list[Unchecked]) -> Any:
    # cfsetup.c converts a policy (and its ipsecs and sas) only for a selector that names it;
    # the grammar's own errors still count everywhere.
    name = _name_of(ctx, s, kind)
    try:
        fields, at = block_values(ctx, s, table, f"{kind} {name}")
        if "esp_auth_alg" in fields and "ah_auth_alg" in fields:
            # cfsetup.c stores both in rcf_sa.auth_alg: "algorithm list already defined".
            second = max(("esp_auth_alg", "ah_auth_alg"), key=dict(at).__getitem__)
            raise v.FixError(f"found {second} next to "
                             f"{'ah' if second.startswith('esp') else 'esp'}_auth_alg, "
                             "expected one authentication list per sa",
                             f"{s.file}:{dict(at)[second]}", "an sa is one protocol")
    except v.FixError as e:
        unchecked.append(Unchecked(kind, name, s.where, e))
        return unchecked[-1]
    return cls(name=name, where=s.where, at=at, **fields)


def _checked(item: Any) -> Any:
    """``item`` itself, or the error of an Unchecked one that turns out to be needed."""
    if isinstance(item, Unchecked):
        raise item.error
    return item


def _name_of(ctx: v.Ctx, s: Statement, kind: str) -> str:
    if len(s.words) != 2:
        raise v.found(s, s.words[2] if len(s.words) > 2 else None,
                      f"one name after '{kind}', then '{{'")
    token = s.words[1]
    if token[0] not in (STRING, QUOTED):
        raise v.found(s, token, f"a name for the {kind}",
                      f"reserved words must be quoted: {kind} \"{token[1]}\" {{ … }};")
    return ctx.text(s, token, f"a {kind} name")


def selector(ctx: v.Ctx, s: Statement) -> Selector:
    """A ``selector NAME { }`` statement's selector, not linked to its policy yet."""
    found: Selector = _named(ctx, s, SELECTOR, "selector", Selector)
    return found


def _named(ctx: v.Ctx, s: Statement, table: Mapping[str, Rule], kind: str, cls: Any) -> Any:
    name = _name_of(ctx, s, kind)
    fields, at = block_values(ctx, s, table, f"{kind} {name}")
    return cls(name=name, where=s.where, at=at, **fields)


def _setval(found: list[Statement], environ: Mapping[str, str], notes: list[ConfigWarning]
            ) -> tuple[tuple[str, str], ...]:
    if not found:
        return ()
    s = found[0]
    ctx = v.Ctx(None, environ)
    entries = v.items(s, "NAME VALUE")
    table: dict[str, str] = {}
    for item in entries:
        if len(item.words) != 2:
            raise v.found(item, item.words[2] if len(item.words) > 2 else None,
                          "NAME VALUE in setval")
        key = ctx.text(item, item.words[0], "a setval name")
        value = ctx.text(item, item.words[1], "a setval value")
        if key in table:  # rcf_fix_setval appends; a lookup finds the first
            notes.append(ConfigWarning(item.where, f"setval {key!r} repeated: the first "
                                       "definition counts"))
        table.setdefault(key, value)
    return tuple(table.items())


def _defaults(ctx: v.Ctx, found: list[Statement]) -> Defaults | None:
    if not found:
        return None
    s = found[0]
    if len(s.words) != 1:
        raise v.found(s, s.words[1], "'{' after 'default'")
    if not s.block:
        raise ConfigError("found an empty 'default' block, expected at least one of remote, "
                          "policy, ipsec or sa", s.where, "the original's grammar refuses '{ }'")
    parts: dict[str, Any] = {}
    at: list[tuple[str, int]] = []
    tables = {"remote": (REMOTE, Remote), "policy": (POLICY, Policy), "ipsec": (IPSEC, Ipsec),
              "sa": (SA, Sa)}
    for item in s.block:
        head = item.words[0]
        if head[0] != KEYWORD or head[1] not in tables:
            raise ConfigError(f"found {describe(head)}, expected remote, policy, ipsec or sa "
                              "inside 'default'", item.where)
        if head[1] in parts:
            raise ConfigError(f"found a second 'default {head[1]}', expected one", item.where)
        if len(item.words) != 1:
            raise v.found(item, item.words[1], f"'{{' after '{head[1]}' (no name in default)")
        table, cls = tables[head[1]]
        fields, item_at = block_values(ctx, item, table, f"default {head[1]}")
        extra = {"name": "default"}
        parts[head[1]] = cls(where=item.where, at=item_at, **extra, **fields)
        at.append((head[1], item.line))
    return Defaults(where=s.where, at=tuple(at), **parts)


def _pool(ctx: v.Ctx, s: Statement) -> AddressPool:
    name = _name_of(ctx, s, "addresspool")
    if s.block is None:
        raise v.found(s, None, "'{' to open the addresspool")
    ranges = []
    for item in s.block:
        w = item.words
        if len(w) != 3 or w[1][0] == QUOTED or w[1][1] != "-":
            hint = "put spaces around '-'" if len(w) == 1 and "-" in w[0][1] else None
            raise v.found(item, w[1] if len(w) > 1 else w[0], "START - END", hint)
        ends = []
        for token in (w[0], w[2]):
            text = ctx.text(item, token, "an address")
            try:
                ends.append(ipaddress.ip_address(text))
            except ValueError:
                raise v.found(item, token, "a numeric IPv4 or IPv6 address") from None
        start, end = ends
        if start.version != end.version:
            raise v.found(item, w[2], f"an IPv{start.version} address like the start")
        if int(end) < int(start):
            raise v.found(item, w[2], f"an address not below {start}")
        ranges.append((start, end))
    return AddressPool(name=name, where=s.where, ranges=tuple(ranges))


def _first(items: tuple[Any, ...]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for item in items:
        table.setdefault(item.name, item)
    return table


def _link(
    file: str, setval: tuple[tuple[str, str], ...], default: Defaults | None,
    interface: Interface | None, resolver: Resolver | None, remotes: tuple[Remote, ...],
    selectors: tuple[Selector, ...], policies: tuple[Policy, ...], ipsecs: tuple[Ipsec, ...],
    sas: tuple[Sa, ...], pools: tuple[AddressPool, ...], notes: list[ConfigWarning],
    unchecked: list[Unchecked],
) -> Model:
    """Resolve selector → policy → ipsec → sa and policy ↔ remote (first name wins)."""
    remote_by = _first(remotes)
    policy_by = _first(policies)
    ipsec_by = _first(ipsecs)
    sa_by = _first(sas)
    linked_ipsec: dict[str, Ipsec] = {}
    linked_policy: dict[str, Policy] = {}
    for sel in selectors:
        policy = None
        if sel.policy_index is not None:
            policy = linked_policy.get(sel.policy_index)
            if policy is None:
                raw = policy_by.get(sel.policy_index)
                if raw is None:
                    raise ConfigError(
                        f"found policy_index {sel.policy_index!r}, expected the name of a policy",
                        sel.where_of("policy_index"), f"no policy named {sel.policy_index!r}",
                    )
                policy = _link_policy(_checked(raw), ipsec_by, sa_by, linked_ipsec, remote_by)
                linked_policy[raw.name] = policy
        # The model is frozen for its users; while it is being built, links are filled in.
        object.__setattr__(sel, "policy", policy)
    by_remote: dict[str, list[Policy]] = {}
    for p in linked_policy.values():
        if p.remote is not None:
            by_remote.setdefault(p.remote.name, []).append(p)
    for r in remote_by.values():
        object.__setattr__(r, "policies", tuple(by_remote.get(r.name, ())))
    for item in unchecked:  # none was needed, or _checked would have raised its error
        notes.append(ConfigWarning(item.where, f"{item.kind} {item.name!r} is used by no "
                                   f"selector, so it is not checked (as the original); "
                                   f"it has an error: {item.error}"))
    if unchecked:
        policies, ipsecs, sas = _only_checked(policies), _only_checked(ipsecs), _only_checked(sas)
    return Model(
        file=file, setval=setval, default=default, interface=interface, resolver=resolver,
        remotes=remotes, selectors=selectors, policies=policies, ipsecs=ipsecs, sas=sas,
        addresspools=pools, notes=tuple(notes),
        _remotes=MappingProxyType(remote_by),
        _selectors=MappingProxyType(_first(selectors)),
        _pools=MappingProxyType(_first(pools)),
    )


def _only_checked(items: tuple[E, ...]) -> tuple[E, ...]:
    return tuple(x for x in items if not isinstance(x, Unchecked))


def _link_policy(raw: Policy, ipsec_by: Mapping[str, Ipsec], sa_by: Mapping[str, Sa],
                 linked: dict[str, Ipsec], remote_by: Mapping[str, Remote]) -> Policy:
    alternatives = []
    for name in raw.ipsec_index:
        ips = linked.get(name)
        if ips is None:
            found = ipsec_by.get(name)
            if found is None:
                raise ConfigError(f"found ipsec_index {name!r}, expected the name of an ipsec",
                                  raw.where_of("ipsec_index"), f"no ipsec named {name!r}")
            ips = _link_ipsec(_checked(found), sa_by)
            linked[name] = ips
        alternatives.append(ips)
    remote = remote_by.get(raw.remote_index) if raw.remote_index is not None else None
    object.__setattr__(raw, "ipsecs", tuple(alternatives))
    object.__setattr__(raw, "remote", remote)
    return raw


def _link_ipsec(raw: Ipsec, sa_by: Mapping[str, Sa]) -> Ipsec:
    bundle: dict[SaProtocol, Sa] = {}
    for name in raw.sa_index:
        sa = sa_by.get(name)
        if sa is None:
            raise ConfigError(f"found sa_index {name!r}, expected the name of an sa",
                              raw.where_of("sa_index"), f"no sa named {name!r}")
        sa = _checked(sa)
        if sa.sa_protocol is None:
            raise ConfigError(f"sa {name!r} has no sa_protocol, expected esp, ah or ipcomp",
                              sa.where, "add sa_protocol esp; (or ah, ipcomp)")
        if sa.sa_protocol in bundle:
            raise ConfigError(
                f"found a second {sa.sa_protocol.value} sa {name!r} in ipsec {raw.name!r}, "
                "expected at most one sa per protocol", raw.where_of("sa_index"),
            )
        bundle[sa.sa_protocol] = sa
    object.__setattr__(raw, "sas", tuple(bundle.values()))
    return raw

