"""spmif replies: the SMTP-like reply type and every reply text spmd sends.

A reply is one or more lines ``DDD-text`` … ``DDD text`` (a dash means more lines follow).  The
texts below are the ones the C spmd (``spmd/shell.c``) writes, byte for byte, so that existing
clients which match on them keep working; the three C bugs around final lines are fixed here
(FQDN ADD/DELETE and POLICY DUMP always end with a space-separated last line).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from racoon2.errors import SpmifError

GREETING = 220
OK = 250
OK_EMPTY = 251
SYNTAX_ERROR = 500
NOT_CACHED = 501
NOT_IMPLEMENTED = 502
FAILED = 550
ITEM_FAILED = 551

# STAT counter names in the order spmd reports them (query counters, then cache counters).
STAT_NAMES: tuple[str, ...] = (
    "DNS QUERY",
    "DNS RESPONSE",
    "DNS QUERY PROXY",
    "DNS RESPONSE PROXY",
    "DNS EXPIRED QUERY",
    "DNS DUP QUERY",
    "CACHE IP ADDRESS",
    "CACHE FQDN",
    "CACHE TOTAL FQDN",
)


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete reply: a three-digit code and its text lines (at least one)."""

    code: int
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 100 <= self.code <= 999:
            raise SpmifError(f"reply code {self.code} is not three digits", self.code)
        if not self.lines:
            raise SpmifError("a reply needs at least one line", self.code)
        for line in self.lines:
            if "\r" in line or "\n" in line:
                raise SpmifError(f"reply text {line!r} contains a line break", self.code)

    @property
    def text(self) -> str:
        """The first line's text (what single-line replies carry)."""
        return self.lines[0]

    @property
    def ok(self) -> bool:
        """True for a 2xx reply, the C client library's success rule."""
        return 200 <= self.code < 300

    def encode(self) -> bytes:
        """The reply on the wire: every line but the last with ``-``, all ending in CR LF."""
        last = len(self.lines) - 1
        return b"".join(
            f"{self.code}{' ' if i == last else '-'}{line}\r\n".encode()
            for i, line in enumerate(self.lines)
        )

    def __str__(self) -> str:
        return f"{self.code} " + " / ".join(self.lines)


def reply(code: int, *lines: str) -> Reply:
    """Build a reply from a code and its lines."""
    return Reply(code, tuple(lines))


def _multi(code: int, items: Iterable[str]) -> Reply:
    return Reply(code, tuple(items))


# --- connection level ---------------------------------------------------------------------------


def greeting(challenge: str) -> Reply:
    """``220 <challenge>``, sent as soon as a client connects."""
    return reply(GREETING, challenge)


def login_ok() -> Reply:
    """``250 OK``: the LOGIN response matched."""
    return reply(OK, "OK")


def login_failed() -> Reply:
    """``550 FAILED(Internal Error)``: any LOGIN failure, whatever its cause."""
    return reply(FAILED, "FAILED(Internal Error)")


def bye() -> Reply:
    """``250 BYE``: the answer to QUIT/EXIT; the server then closes the connection."""
    return reply(OK, "BYE")


def need_login(ns: bool = False) -> Reply:
    """``550 need login`` (the NS handler capitalises it: ``550 Need Login``)."""
    return reply(FAILED, "Need Login" if ns else "need login")


def syntax_error() -> Reply:
    """``500 Syntax Error``: wrong argument count or malformed argument."""
    return reply(SYNTAX_ERROR, "Syntax Error")


def line_too_long() -> Reply:
    """``500 Line Too Long``: sent before closing a connection whose line overflowed."""
    return reply(SYNTAX_ERROR, "Line Too Long")


def not_implemented() -> Reply:
    """``502 Command not implemented``: unknown command word or empty line."""
    return reply(NOT_IMPLEMENTED, "Command not implemented")


def operation_failed(detail: str | None = None) -> Reply:
    """``550 Operation Failed`` or ``550 Operation Failed, <detail>``."""
    return reply(FAILED, f"Operation Failed, {detail}" if detail else "Operation Failed")


def operation_failed_for(selector_index: str) -> Reply:
    """``550 Operation Failed(sl_index=<idx>)``: the kernel refused an operation."""
    return reply(FAILED, f"Operation Failed(sl_index={selector_index})")


def selector_not_found() -> Reply:
    """``550 Operation Failed, selector not found``."""
    return operation_failed("selector not found")


def internal_error() -> Reply:
    """``550 Operation Failed, internal error``: what spmd answers when its handler crashed."""
    return operation_failed("internal error")


# --- STAT ---------------------------------------------------------------------------------------


def stat(counters: Sequence[int]) -> Reply:
    """The nine ``NAME = n`` lines of STAT, values in :data:`STAT_NAMES` order."""
    if len(counters) != len(STAT_NAMES):
        raise SpmifError(f"STAT needs {len(STAT_NAMES)} counters, got {len(counters)}")
    return _multi(OK, (f"{name} = {n}" for name, n in zip(STAT_NAMES, counters, strict=True)))


# --- POLICY / MIGRATE / SLID --------------------------------------------------------------------


def policy_added(selector_index: str, reverse_index: str) -> Reply:
    """``250 Policy Added <idx> and <reverse idx>``."""
    return reply(OK, f"Policy Added {selector_index} and {reverse_index}")


def reverse_selector_not_found() -> Reply:
    """``550 Operation Failed, reverse selector not found``."""
    return operation_failed("reverse selector not found")


def reverse_selector_same_direction() -> Reply:
    """``550 Operation Failed, found reverse selector is same direction``."""
    return operation_failed("found reverse selector is same direction")


def policy_deleted() -> Reply:
    """``250 Policy Deleted``."""
    return reply(OK, "Policy Deleted")


def policy_dump(entries: Sequence[tuple[str, int]]) -> Reply:
    """``<selector_index> <spid>`` per installed policy; ``251 NO Policy Exists`` when none."""
    if not entries:
        return reply(OK_EMPTY, "NO Policy Exists")
    return _multi(OK, (f"{slid} {spid}" for slid, spid in entries))


def migrated(selector_index: str) -> Reply:
    """``250 Migrate <idx>``."""
    return reply(OK, f"Migrate {selector_index}")


def slid(selector_index: str) -> Reply:
    """``250 <selector_index>``: the answer to SLID."""
    return reply(OK, selector_index)


def no_such_spid(spid: int) -> Reply:
    """``551 No Such SPID(<spid>)``."""
    return reply(ITEM_FAILED, f"No Such SPID({spid})")


# --- NS -----------------------------------------------------------------------------------------


def ns_check_nsswitch() -> Reply:
    """``550 Operation Failed, check /etc/nsswitch.conf``: hosts line lacks ``dns``."""
    return operation_failed("check /etc/nsswitch.conf")


def ns_list(servers: Sequence[str]) -> Reply:
    """One line per upstream name server, current first; ``251`` when the resolver is off."""
    if not servers:
        return reply(OK_EMPTY, "No Name Server(resolver off?)")
    return _multi(OK, servers)


def ns_added(addr: str) -> Reply:
    """``250 <addr> Added``."""
    return reply(OK, f"{addr} Added")


def ns_already_exists(addr: str) -> Reply:
    """``551 <addr> Already Exists``."""
    return reply(ITEM_FAILED, f"{addr} Already Exists")


def ns_resolver_off() -> Reply:
    """``550 Operation Failed(resolver off?)``."""
    return reply(FAILED, "Operation Failed(resolver off?)")


def ns_deleted(addr: str) -> Reply:
    """``250 <addr> Deleted``."""
    return reply(OK, f"{addr} Deleted")


def ns_does_not_exist() -> Reply:
    """``551 Does Not Exist``."""
    return reply(ITEM_FAILED, "Does Not Exist")


def ns_delete_refused() -> Reply:
    """``550 Internal Error or At least need one dns server in the system``."""
    return reply(FAILED, "Internal Error or At least need one dns server in the system")


def ns_changed(addr: str) -> Reply:
    """``250 <addr> changed.``."""
    return reply(OK, f"{addr} changed.")


def ns_not_in_list(addr: str) -> Reply:
    """``550 Can not find <addr> in the our list.``."""
    return reply(FAILED, f"Can not find {addr} in the our list.")


# --- FQDN ---------------------------------------------------------------------------------------


def fqdn_list(names: Sequence[str]) -> Reply:
    """Registered FQDNs (each ending in ``.``); ``251 No FQDN Registered`` when none."""
    if not names:
        return reply(OK_EMPTY, "No FQDN Registered")
    return _multi(OK, names)


def fqdn_query(names: Sequence[str]) -> Reply:
    """The cached names of an address; ``501 Not Cached`` when there are none."""
    if not names:
        return not_cached()
    return _multi(OK, names)


def not_cached() -> Reply:
    """``501 Not Cached``."""
    return reply(NOT_CACHED, "Not Cached")


def fqdn_registered() -> Reply:
    """``250 FQDN Registered`` (the C spmd sent ``250-`` and no last line)."""
    return reply(OK, "FQDN Registered")


def fqdn_already_registered() -> Reply:
    """``550 FQDN Already Registered``."""
    return reply(FAILED, "FQDN Already Registered")


def fqdn_deregistered() -> Reply:
    """``250 FQDN Deregistered`` (the C spmd sent ``250-`` and no last line)."""
    return reply(OK, "FQDN Deregistered")


def fqdn_no_such() -> Reply:
    """``550 No such a FQDN exists``."""
    return reply(FAILED, "No such a FQDN exists")
