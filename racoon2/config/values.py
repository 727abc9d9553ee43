"""Value syntax of racoon2.conf directives (doc/config.md §1, "Values").

Each public function reads the words after a directive (or its braced list) and returns one
typed value of :mod:`racoon2.config.model`, or raises :class:`ConfigError` saying what was found
at which line and what was expected there.  Addresses and protocols: :mod:`.addresses`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

from racoon2.config.expand import expand
from racoon2.config.lexer import ALGORITHMS, BOOLEANS, KEYWORD, PUNCT, QUOTED, Token, describe
from racoon2.config.model import (
    INFINITE,
    PROPOSAL_PROFILES,
    SCRIPT_SYNONYMS,
    AlgSpec,
    Bytes,
    ConfigWarning,
    Identity,
    IdQualifier,
    IdType,
    KeyType,
    Ppk,
    PublicKey,
    Script,
    ScriptType,
    Seconds,
)
from racoon2.config.parser import Statement
from racoon2.errors import ConfigError

E = TypeVar("E")

TIME_UNITS: Final = {
    "sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60, "minute": 60,
    "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400,
}
BYTE_UNITS: Final = {"B": 1, "byte": 1, "bytes": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
INT_MAX: Final = 2**31 - 1
INT_MIN: Final = -(2**31)
#: ``kmp_dh_group`` numbers (doc/config.md, "Algorithms"): the C table knows only these.
DH_NUMBERS: Final = {
    1: "modp768", 2: "modp1024", 3: "ec2n155", 4: "ec2n185", 5: "modp1536", 14: "modp2048",
    15: "modp3072", 16: "modp4096", 17: "modp6144", 18: "modp8192",
    # Extensions (doc/config.md): IANA numbers of the groups racoon2.crypto adds.
    19: "ecp256", 20: "ecp384", 21: "ecp521", 31: "curve25519", 32: "curve448",
    35: "mlkem512", 36: "mlkem768", 37: "mlkem1024",
}
# The grammar's ``number`` rule (cfparse.y): only a lower-case "0x" means hex (strtoll base
# 16), anything else is strtoll base 10, so "010" is ten and "0X10" or "-0x10" is no number.
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|-?[0-9]+")
# More digits than any C long long: refused before int() (CPython refuses > 4300 digits).
_MAX_DIGITS: Final = 20



class FixError(ConfigError):
    """An error the C loader found only when it converted a block (cfsetup.c), not while
    parsing: a block that no selector reaches was never converted, so there it is a warning."""


class Ctx:
    """What value conversion needs besides the words: setval, environment, the file."""

    __slots__ = ("setval", "environ", "notes")

    def __init__(self, setval: Mapping[str, str] | None, environ: Mapping[str, str]) -> None:
        self.setval = setval
        self.environ = environ
        #: Warnings met while reading (ignored values, repeated directives), in file order.
        self.notes: list[ConfigWarning] = []

    def text(self, s: Statement, token: Token, what: str) -> str:
        """The expanded text of a string token (a keyword is refused: it must be quoted)."""
        if token[0] == KEYWORD or token[0] == PUNCT:
            raise found(s, token, what, hint=_quote_hint(token))
        if "$" not in token[1]:
            return token[1]
        try:
            return expand(token[1], self.setval, self.environ, s.at(token), what)
        except ConfigError as e:
            raise FixError(e.message, e.where, e.hint) from None


def found(s: Statement, token: Token | None, expected: str, hint: str | None = None
          ) -> ConfigError:
    """``found X, expected Y`` at the token's line (the statement's when ``token`` is None)."""
    where = s.at(token) if token is not None else s.where
    return ConfigError(f"found {describe(token)}, expected {expected}", where, hint)


def _quote_hint(token: Token) -> str | None:
    if token[0] == KEYWORD:
        return f'\'{token[1]}\' is a reserved word; write "{token[1]}" to use it as a name'
    return None


def args(s: Statement) -> tuple[Token, ...]:
    """The words after the directive name, for a directive that takes no block."""
    if s.block is not None:
        raise ConfigError(
            f"found '{{' after '{s.words[0][1]}', expected a value", s.where,
            f"write {s.words[0][1]} VALUE;",
        )
    return s.words[1:]


def single(s: Statement, what: str) -> Token:
    """The one word after the directive."""
    words = args(s)
    if len(words) != 1:
        raise found(s, words[1] if words else None, f"{what} after '{s.words[0][1]}'")
    return words[0]


def items(s: Statement, what: str, *, empty_ok: bool = False) -> list[Statement]:
    """The item statements of a list directive: ``d ITEM;`` or ``d { ITEM; ITEM; };``.

    The one-line form is returned as a statement whose words are the item's words.
    """
    if s.block is None:
        if len(s.words) < 2:
            raise found(s, None, f"{what} after '{s.words[0][1]}'")
        return [Statement(s.words[1:], None, s.file, s.words[1][2])]
    if len(s.words) != 1:
        raise found(s, s.words[1], f"'{{' right after '{s.words[0][1]}'")
    if not s.block and not empty_ok:
        raise ConfigError(f"found an empty list, expected at least one {what}", s.where)
    for item in s.block:
        if item.block is not None:
            raise found(item, item.words[0], what)
    return list(s.block)


def number(ctx: Ctx, s: Statement, token: Token, what: str = "a number") -> int:
    """A C ``int`` as cfparse.y's ``number`` reads it: decimal, or hex after a lower-case ``0x``."""
    if token[0] == KEYWORD or token[0] == PUNCT:
        raise found(s, token, what)
    text = ctx.text(s, token, what) if token[0] == QUOTED else token[1]
    if not _NUMBER.fullmatch(text):
        raise found(s, token, what)
    if len(text) < 10:  # nine characters (even "0x" and seven hex digits) always fit an int
        return int(text, 16) if text[1:2] == "x" else int(text)
    return c_int(s, token, text, what)


def c_int(s: Statement, token: Token, text: str, what: str) -> int:
    """``text`` (matched by ``_NUMBER``) as a C int; out of range is a FixError (rcf_cvt_int)."""
    hexa = text.startswith("0x")
    digits = text[2:] if hexa else text.lstrip("-")
    significant = digits.lstrip("0") or "0"  # int() counts leading zeros against its limit
    value = None
    if len(significant) <= _MAX_DIGITS:
        value = int(significant, 16 if hexa else 10) * (-1 if text[0] == "-" else 1)
    if value is None or not INT_MIN <= value <= INT_MAX:
        shown = text if len(text) <= 24 else f"{text[:12]}…({len(digits)} digits)"
        raise FixError(f"found {shown}, expected {what} that fits a C int "
                       f"({INT_MIN} to {INT_MAX})", s.at(token))
    return value


def integer(ctx: Ctx, s: Statement) -> int:
    """``directive N;``"""
    return number(ctx, s, single(s, "a number"))


def boolean(ctx: Ctx, s: Statement) -> bool:
    """``directive on|off;`` (also enable/disable, yes/no)."""
    token = single(s, "on or off")
    if token[0] == KEYWORD and token[1] in BOOLEANS:
        return BOOLEANS[token[1]]
    raise found(s, token, "on or off (enable/disable, yes/no)")


def _measure(ctx: Ctx, s: Statement, words: Sequence[Token], units: Mapping[str, int],
             what: str) -> int:
    if not words or len(words) > 2:
        raise found(s, words[2] if len(words) > 2 else None, what)
    value = number(ctx, s, words[0], what)
    if len(words) == 2:
        unit = words[1]
        if unit[0] != KEYWORD or unit[1] not in units:
            raise found(s, unit, f"a unit ({', '.join(units)})")
        value *= units[unit[1]]
    if not INT_MIN <= value <= INT_MAX:
        raise FixError(f"found {describe(words[0])} {words[1][1]}, expected {what} up to "
                       f"{INT_MAX}", s.at(words[0]), "use a smaller unit or value")
    return value


def seconds(ctx: Ctx, s: Statement) -> Seconds:
    """``N [sec|min|hour|day]`` or ``infinite``."""
    words = args(s)
    if len(words) == 1 and words[0][0] == KEYWORD and words[0][1] == "infinite":
        return INFINITE
    return _measure(ctx, s, words, TIME_UNITS, "a time (N [sec|min|hour|day] or infinite)")


def nbytes(ctx: Ctx, s: Statement) -> Bytes:
    """``N [B|KB|MB|GB]`` or ``infinite``."""
    words = args(s)
    if len(words) == 1 and words[0][0] == KEYWORD and words[0][1] == "infinite":
        return INFINITE
    return _measure(ctx, s, words, BYTE_UNITS, "a size (N [B|KB|MB|GB] or infinite)")


def string(ctx: Ctx, s: Statement) -> str:
    """``directive WORD;`` or ``directive "text";`` with ``${}``/``$[]`` expansion."""
    return ctx.text(s, single(s, "a string"), "a string")


def name(ctx: Ctx, s: Statement) -> str:
    """The name of another block (an index)."""
    return ctx.text(s, single(s, "a name"), "a name")


def names(ctx: Ctx, s: Statement) -> tuple[str, ...]:
    """One name or a braced list of names."""
    out = []
    for item in items(s, "a name"):
        if len(item.words) != 1:
            raise found(item, item.words[1], "';' after the name")
        out.append(ctx.text(item, item.words[0], "a name"))
    return tuple(out)


def keyword(table: Mapping[str, E], what: str) -> Callable[[Ctx, Statement], E]:
    """A parser for ``directive KEYWORD;`` with ``table`` mapping keyword → value."""
    expected = f"{what}: {' or '.join(table)}"

    def parse(ctx: Ctx, s: Statement) -> E:
        token = single(s, expected)
        if token[0] == KEYWORD and token[1] in table:
            return table[token[1]]
        raise found(s, token, expected)

    return parse


def keywords(table: Mapping[str, E], what: str) -> Callable[[Ctx, Statement], tuple[E, ...]]:
    """A parser for one keyword of ``table`` or a braced list of them."""
    expected = f"{what}: {' or '.join(table)}"

    def parse(ctx: Ctx, s: Statement) -> tuple[E, ...]:
        out = []
        for item in items(s, expected):
            token = item.words[0]
            if len(item.words) != 1 or token[0] != KEYWORD or token[1] not in table:
                raise found(item, item.words[1] if len(item.words) > 1 else token, expected)
            out.append(table[token[1]])
        return tuple(out)

    return parse


# -- algorithms, identities, keys, scripts ---------------------------------------------------


def alg_list(ctx: Ctx, s: Statement) -> tuple[AlgSpec, ...]:
    """``ALG[, KEYLEN[, KEY]]`` or ``ALG,,KEY``, one or a braced list (doc/config.md)."""
    return tuple(_alg(ctx, item) for item in items(s, "an algorithm"))


def _alg(ctx: Ctx, item: Statement) -> AlgSpec:
    words = item.words
    head = words[0]
    if head[0] != KEYWORD or head[1] not in ALGORITHMS:
        raise found(item, head, "an algorithm name such as aes128_cbc or hmac_sha2_256")
    parts: list[list[Token]] = [[]]
    for token in words[1:]:
        if token[0] == PUNCT and token[1] == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    if parts[0]:
        raise found(item, parts[0][0], f"',' or ';' after '{head[1]}'")
    parts = parts[1:]
    if len(parts) > 2:
        raise found(item, None, "at most ALG, KEYLEN, KEY")
    keylen: int | None = None
    key: str | None = None
    if parts:
        if parts[0]:
            sub = Statement(tuple(parts[0]), None, item.file, parts[0][0][2])
            keylen = _measure(ctx, sub, parts[0], BYTE_UNITS, "a key length in bits")
        elif len(parts) == 2:
            keylen = -1
        else:
            raise found(item, None, f"a key length after '{head[1]},'")
    if len(parts) == 2:
        if len(parts[1]) != 1:
            raise found(item, parts[1][1] if parts[1] else None, "one key after the key length")
        key = ctx.text(item, parts[1][0], "a key")
    return AlgSpec(head[1], item.where, keylen, key)


def addke_groups(ctx: Ctx, s: Statement) -> tuple[AlgSpec, ...]:
    """``kmp_addke1``..``kmp_addke7``: key exchange names, ``none`` among them making the
    position optional (RFC 9370 §2.2.1)."""
    out = []
    for item in items(s, "a key exchange or none"):
        token = item.words[0]
        if token[0] == KEYWORD and token[1] == "none":
            if len(item.words) != 1:
                raise found(item, item.words[1], "';' after 'none'")
            out.append(AlgSpec("none", item.where))
        else:
            out.append(_alg(ctx, item))
    return tuple(out)


def dh_groups(ctx: Ctx, s: Statement) -> tuple[AlgSpec, ...]:
    """``kmp_dh_group``: names as an algorithm list, or numbers only (never mixed)."""
    its = items(s, "a DH group")
    firsts = [item.words[0] for item in its]
    if all(t[0] != KEYWORD for t in firsts):
        out = []
        for item, token in zip(its, firsts, strict=True):
            if len(item.words) != 1:
                raise found(item, item.words[1], "';' after the group number")
            n = number(ctx, item, token, "a DH group number")
            if n not in DH_NUMBERS:
                raise found(item, token, f"a DH group number: {', '.join(map(str, DH_NUMBERS))}")
            out.append(AlgSpec(DH_NUMBERS[n], item.where))
        return tuple(out)
    for item, token in zip(its, firsts, strict=True):
        if token[0] != KEYWORD:
            raise found(item, token, "a group name like the others (names and numbers "
                        "cannot be mixed in one list)")
    return alg_list(ctx, s)


ID_TYPES: Final = {t.value: t for t in IdType}
ID_QUALIFIERS: Final = {q.value: q for q in IdQualifier}
KEY_TYPES: Final = {k.value: k for k in KeyType}


def id_list(ctx: Ctx, s: Statement) -> tuple[Identity, ...]:
    """``TYPE [file|tag] VALUE``, one or a braced list."""
    out = []
    for item in items(s, "an identity"):
        words = item.words
        head = words[0]
        if head[0] != KEYWORD or head[1] not in ID_TYPES:
            raise found(item, head, f"an identity type: {', '.join(ID_TYPES)}")
        rest = list(words[1:])
        qual = None
        if rest and rest[0][0] == KEYWORD and rest[0][1] in ID_QUALIFIERS:
            qual = ID_QUALIFIERS[rest.pop(0)[1]]
        if len(rest) != 1:
            raise found(item, rest[1] if rest else None, f"one value after '{head[1]}'")
        value = ctx.text(item, rest[0], "an identity value")
        kind = ID_TYPES[head[1]]
        if kind is IdType.IPADDR:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise found(item, rest[0], "a numeric IPv4 or IPv6 address") from None
        out.append(Identity(kind, value, item.where, qual))
    return tuple(out)


def public_key(ctx: Ctx, s: Statement) -> PublicKey:
    """``TYPE FILE [FILE]`` for ``my_public_key`` / ``peers_public_key``."""
    words = args(s)
    if not words or words[0][0] != KEYWORD or words[0][1] not in KEY_TYPES:
        raise found(s, words[0] if words else None, "a key type: x509pem, pkcs12 or ascii")
    if len(words) not in (2, 3):
        raise found(s, words[3] if len(words) > 3 else None, "TYPE FILE [FILE]")
    files = [ctx.text(s, w, "a file name") for w in words[1:]]
    return PublicKey(KEY_TYPES[words[0][1]], files[0], s.where,
                     files[1] if len(files) == 2 else None)


def ppk(ctx: Ctx, s: Statement) -> tuple[Ppk, ...]:
    """``ppk "PPK_ID" "FILE";``: one RFC 8784 PPK (repeated for several, merged in order)."""
    words = args(s)
    if len(words) != 2:
        raise found(s, words[2] if len(words) > 2 else None, 'a PPK_ID and its key file: '
                    'ppk "PPK_ID" "FILE"')
    ident, path = (ctx.text(s, w, "a PPK_ID and its key file") for w in words)
    if not ident:
        raise found(s, words[0], "a PPK_ID that is not empty")
    return (Ppk(ident, path, s.where),)


SCRIPT_TYPES: Final[Mapping[str, ScriptType]] = {
    **{t.value: t for t in ScriptType}, **SCRIPT_SYNONYMS,
}


def scripts(ctx: Ctx, s: Statement) -> tuple[Script, ...]:
    """``script TYPE PATH;`` or ``script { TYPE PATH; … };`` (may be empty)."""
    out: dict[ScriptType, Script] = {}
    for item in items(s, "a hook: TYPE PATH", empty_ok=True):
        head = item.words[0]
        if head[0] != KEYWORD or head[1] not in SCRIPT_TYPES:
            raise found(item, head, f"a hook type: {', '.join(SCRIPT_TYPES)}")
        if len(item.words) != 2:
            raise found(item, item.words[2] if len(item.words) > 2 else None,
                        f"a script path after '{head[1]}'")
        # rcf_fix_script: one slot per type, so within a list the last path of a type counts.
        kind = SCRIPT_TYPES[head[1]]
        out[kind] = Script(kind, ctx.text(item, item.words[1], "a script path"), item.where)
    return tuple(out.values())


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def domain_names(ctx: Ctx, s: Statement) -> tuple[str, ...]:
    """``dns_domain NAME;`` or a braced list: DNS names in ASCII (an IDN as its A-labels,
    RFC 8598 §4), a trailing dot allowed."""
    out = []
    for item in items(s, "a domain name"):
        text = ctx.text(item, item.words[0], "a domain name") if len(item.words) == 1 else ""
        labels = text.rstrip(".").split(".")
        if not text or len(text.rstrip(".")) > 253 or not all(_LABEL.match(x) for x in labels):
            raise found(item, item.words[-1], "a domain name such as corp.example (IDNs as "
                        "xn-- A-labels)")
        out.append(text.rstrip("."))
    return tuple(out)


def proposal_profiles(ctx: Ctx, s: Statement) -> tuple[str, ...]:
    """``proposal_profile NAME;`` or a braced list of iked's built-in profiles."""
    got = names(ctx, s)
    for item, name in zip(items(s, "a profile"), got, strict=True):
        if name not in PROPOSAL_PROFILES:
            raise found(item, item.words[0], f"a proposal profile: "
                        f"{' or '.join(PROPOSAL_PROFILES)}")
    return got
