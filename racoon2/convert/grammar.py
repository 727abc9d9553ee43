"""The racoon.conf grammar (racoon.conf(5) of ipsec-tools 0.8): which directive each block
takes and the shape of its arguments, checked before anything is converted.

Each block is one table, directive → argument patterns (alternatives).  A pattern is a
space-separated list of items: ``a|b`` (one of these words), ``N`` (a number, decimal or
``0x``), ``T`` (a time unit), ``Z`` (a byte unit), ``S`` (a quoted string), ``W`` (a word),
``A`` (an address, optionally ``/prefix``), ``P`` (a ``[port]``); a trailing ``?`` makes an
item optional.  A pattern that starts with ``,`` applies to every comma-separated item
(``encryption_algorithm 3des, blowfish 448``).  ``{name}`` is a block of that table.  The
headers of ``remote`` and ``sainfo`` have a grammar of their own, checked by the mapper's
readers (:mod:`racoon2.convert.headers`).
"""

from __future__ import annotations

import re
from typing import Final

from racoon2.convert.syntax import PORT, QUOTED, WORD, Stmt, Tok
from racoon2.errors import RacoonConfError

_B = "on|off"
_LIFETIME = ("time N T", "byte N Z")
_ID = ("address A?", "user_fqdn S", "fqdn S", "keyid file? S", "keyid tag S", "asn1dn S?",
       "keyid S")

#: Block name → directive → argument patterns, or a sub-table ``{name}``.
TABLES: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "top": {
        "path": ("include S", "pre_shared_key S", "certificate S", "backupsa S", "script S",
                 "pidfile S", "logfile S"),
        "include": ("S",),
        "log": ("notify|debug|debug2|info|warning|error|print",),
        "privsep": ("{privsep}",),
        "listen": ("{listen}",),
        "timer": ("{timer}",),
        "padding": ("{padding}",),
        "remote": ("{remote}",),
        "sainfo": ("{sainfo}",),
        "mode_cfg": ("{mode_cfg}",),
        "ldapcfg": ("{ldapcfg}",),
        "radiuscfg": ("{radiuscfg}",),
        "gss_id_enc": ("utf-16le|latin1",),
        "pfkey_buffer": ("N",),
        "complex_bundle": (_B,),
    },
    "privsep": {"user": ("S", "N"), "group": ("S", "N"), "chroot": ("S",)},
    "listen": {
        "isakmp": ("A P?",), "isakmp_natt": ("A P?",), "strict_address": ("",),
        "adminsock": ("disabled", "S", "S S S N", "S S S", "S S"),
    },
    "timer": {"counter": ("N",), "interval": ("N T",), "persend": ("N",), "phase1": ("N T",),
              "phase2": ("N T",), "natt_keepalive": ("N T",)},
    "padding": {"randomize": (_B,), "randomize_length": (_B,), "maximum_length": ("N",),
                "exclusive_tail": (_B,), "strict_check": (_B,)},
    "remote": {
        "remote_address": ("A",),
        "exchange_mode": (",main|aggressive|base",),
        "doi": ("ipsec_doi",),
        "situation": ("identity_only|secrecy|integrity",),
        "my_identifier": _ID,
        "xauth_login": ("S",),
        "peers_identifier": _ID,
        "verify_identifier": (_B,),
        "certificate_type": ("x509 S S", "plain_rsa S"),
        "ca_type": ("x509 S",),
        "mode_cfg": (_B,),
        "weak_phase1_check": (_B,),
        "peers_certfile": ("dnssec", "x509 S", "plain_rsa S", "S"),
        "script": ("S phase1_up|phase1_down|phase1_dead",),
        "send_cert": (_B,),
        "send_cr": (_B,),
        "match_empty_cr": (_B,),
        "verify_cert": (_B,),
        "lifetime": _LIFETIME,
        "ike_frag": ("on|off|force",),
        "esp_frag": ("N",),
        "initial_contact": (_B,),
        "passive": (_B,),
        "proposal_check": ("obey|strict|claim|exact",),
        "support_proxy": (_B,),
        "generate_policy": ("on|off|require|unique",),
        "nat_traversal": ("on|off|force",),
        "dpd": (_B,),
        "keepalive": ("",),
        "dpd_delay": ("N",),
        "dpd_retry": ("N",),
        "dpd_maxfail": ("N",),
        "rekey": ("on|off|force",),
        "nonce_size": ("N",),
        "ph1id": ("N",),
        "proposal": ("{proposal}",),
    },
    "proposal": {
        "encryption_algorithm": ("W N?",),
        "hash_algorithm": ("W",),
        "authentication_method": ("W",),
        "dh_group": ("W",),
        "lifetime": _LIFETIME,
        "gss_id": ("S",),
        "gssapi_id": ("S",),
    },
    "sainfo": {
        "pfs_group": ("W",),
        "lifetime": _LIFETIME,
        "remoteid": ("N",),
        "encryption_algorithm": (",W N?",),
        "authentication_algorithm": (",W",),
        "compression_algorithm": (",W",),
    },
    "mode_cfg": {
        "auth_source": ("system|radius|pam|ldap",),
        "auth_groups": (",S",),
        "group_source": ("system|ldap",),
        "conf_source": ("local|radius|ldap",),
        "accounting": ("none|system|radius|pam|ldap",),
        "pool_size": ("N",),
        "network4": ("A",),
        "netmask4": ("A",),
        "dns4": (",A",),
        "wins4": (",A",),
        "nbns4": (",A",),
        "split_network": ("include|local_lan ,A",),
        "default_domain": ("S",),
        "split_dns": (",S",),
        "banner": ("S",),
        "auth_throttle": ("N",),
        "pfs_group": ("W",),
        "save_passwd": (_B,),
    },
    "ldapcfg": {"version": ("N",), "host": ("S", "A"), "port": ("N",), "base": ("S",),
                "subtree": (_B,), "bind_dn": ("S",), "bind_pw": ("S",), "attr_user": ("S",),
                "attr_addr": ("S",), "attr_mask": ("S",), "attr_group": ("S",),
                "attr_member": ("S",)},
    "radiuscfg": {"auth": ("A N? S", "S N? S"), "acct": ("A N? S", "S N? S"),
                  "timeout": ("N",), "retries": ("N",)},
}

_TIME_UNITS: Final = frozenset("sec secs second seconds min mins minute minutes hour hours"
                               .split())
_BYTE_UNITS: Final = frozenset("B byte bytes KB MB GB TB".split())
_NUMBER: Final = re.compile(r"\d+|0x[0-9a-fA-F]+")
_ADDRESS: Final = re.compile(r"[0-9a-fA-F:.]+(?:%[A-Za-z0-9]+)?(?:/\d{1,3})?")

_DESCRIBE: Final = {"N": "a number", "T": "a time unit (sec, min, hour)",
                    "Z": "a byte unit (B, KB, MB, GB)", "S": 'a quoted string',
                    "W": "a word", "A": "an address", "P": "a [port]"}


def check(stmts: list[Stmt], table: str = "top") -> None:
    """Check every statement (and its blocks) against racoon.conf(5); raises RacoonConfError
    with the ``file:line`` of the first statement that does not fit."""
    directives = TABLES[table]
    for stmt in stmts:
        if table == "top" and stmt.key == "include" and stmt.block == ():
            continue  # the include's marker: its statements follow it (syntax.py)
        patterns = directives.get(stmt.key)
        if patterns is None:
            raise RacoonConfError(f"found {stmt.key!r} in {_block_name(table)}, expected one "
                                  f"of {', '.join(sorted(directives))}", stmt.where)
        sub = patterns[0][1:-1] if patterns[0].startswith("{") else None
        if sub is not None:
            if stmt.block is None:
                raise RacoonConfError(f"found {stmt.key!r} without a block, expected "
                                      f"{stmt.key} … {{ … }}", stmt.where)
            if stmt.key not in ("remote", "sainfo") and stmt.args:
                raise RacoonConfError(f"found {stmt.args[0].shown()!r} after {stmt.key!r}, "
                                      "expected '{'", stmt.where)
            check(list(stmt.block), sub)
            continue
        if stmt.block is not None:
            raise RacoonConfError(f"found a block after {stmt.key!r}, expected ';'", stmt.where)
        if not any(match(p, list(stmt.args)) for p in patterns):
            found = " ".join(t.shown() for t in stmt.args) or "nothing"
            raise RacoonConfError(f"found {stmt.key} {found}, expected {stmt.key} "
                                  f"{' or '.join(describe(p) for p in patterns)}", stmt.where)


def match(pattern: str, args: list[Tok]) -> bool:
    """Whether ``args`` fit one pattern (see the module's docstring)."""
    if pattern.startswith(","):
        return _match_list(pattern[1:], args)
    if " ," in pattern:
        head, _, item = pattern.partition(" ,")
        return bool(args) and _match_items(head.split(), args[:1]) and \
            _match_list(item, args[1:])
    return _match_items(pattern.split(), args)


def _match_list(item: str, args: list[Tok]) -> bool:
    groups: list[list[Tok]] = [[]]
    for tok in args:
        if tok.text == "," and tok.kind != QUOTED:
            groups.append([])
        else:
            groups[-1].append(tok)
    return all(g and _match_items(item.split(), g) for g in groups)


def _match_items(items: list[str], args: list[Tok]) -> bool:
    if not items:
        return not args
    item, rest = items[0], items[1:]
    optional = item.endswith("?")
    item = item.rstrip("?")
    if args and _fits(item, args[0]) and _match_items(rest, args[1:]):
        return True
    return optional and _match_items(rest, args)


def _fits(item: str, tok: Tok) -> bool:
    if tok.kind not in (WORD, QUOTED, PORT):
        return False
    if item == "P":
        return tok.kind == PORT
    if item == "S":
        return tok.kind == QUOTED
    if tok.kind != WORD:
        return False
    if item == "N":
        return _NUMBER.fullmatch(tok.text) is not None
    if item == "T":
        return tok.text in _TIME_UNITS
    if item == "Z":
        return tok.text in _BYTE_UNITS
    if item == "A":
        return _ADDRESS.fullmatch(tok.text) is not None and any(c in tok.text for c in ".:")
    if item == "W":
        return True
    return tok.text in item.split("|")


def describe(pattern: str) -> str:
    """A pattern in words: ``time N T`` → ``time a number a time unit (sec, min, hour)``."""
    words = []
    for item in pattern.replace(",", "").split():
        opt = item.endswith("?")
        item = item.rstrip("?")
        text = _DESCRIBE.get(item, item.replace("|", " or "))
        words.append(f"[{text}]" if opt else text)
    if pattern.startswith(","):
        return f"a comma-separated list of {' '.join(words)}"
    return " ".join(words) or "nothing"


def _block_name(table: str) -> str:
    return "the top level" if table == "top" else f"a {table} block"
