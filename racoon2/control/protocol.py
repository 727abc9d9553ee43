"""The control socket's line protocol, for iked and kinkd alike (pure; doc/ikedctl.md).

One request per line, one answer per line.  A request is either words (``sa show 3``) or a
JSON object (``{"command": "sa show", "args": ["3"]}``); command words may be abbreviated to
any unambiguous prefix, in any case, as spmdctl's are.  Every answer is one JSON object:
``{"ok": true, "command": "sa show", "result": …}`` or ``{"ok": false, "error": "…"}``.

A line longer than :data:`MAX_REQUEST` octets is answered with an error once its end
arrives; what it held is discarded, and the next line is read as usual.  Nothing a client
sends may stop the daemon: every problem is a :class:`ControlError`, answered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from racoon2.errors import ControlError

#: The longest request line, octets without its LF: a command with its few arguments fits
#: many times over; more is a client gone wrong (or hostile), not a request.
MAX_REQUEST = 4096
#: The most words a request may have, and the longest word (a selector or remote name).
MAX_WORDS = 16
MAX_WORD = 255


@dataclass(frozen=True, slots=True)
class Command:
    """One command a daemon serves: its words, how many arguments it takes, its usage."""

    name: str
    min_args: int = 0
    max_args: int = 0
    usage: str = ""
    help: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        """The command's words, ``("sa", "show")``."""
        return tuple(self.name.split())


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request: the command's canonical name and its arguments."""

    command: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line that passed :data:`MAX_REQUEST` (its octets are not kept)."""

    length: int


class LineBuffer:
    """Octets from a client, cut into lines (LF, an optional CR before it dropped)."""

    def __init__(self, limit: int = MAX_REQUEST) -> None:
        self.limit = limit
        self._pending = bytearray()
        self._skipped = 0  # octets of an oversized line so far (0: none being skipped)

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        """The lines ``data`` completes, in order; an oversized one as :class:`Oversized`."""
        out: list[bytes | Oversized] = []
        while data:
            end = data.find(b"\n")
            piece, data = (data, b"") if end < 0 else (data[:end], data[end + 1:])
            if self._skipped:
                self._skipped += len(piece)
            elif len(self._pending) + len(piece) > self.limit:
                self._skipped = len(self._pending) + len(piece)
                self._pending.clear()
            else:
                self._pending += piece
            if end < 0:
                break
            if self._skipped:
                out.append(Oversized(self._skipped))
                self._skipped = 0
            else:
                line = bytes(self._pending)
                self._pending.clear()
                out.append(line[:-1] if line.endswith(b"\r") else line)
        return out


def _words(line: bytes) -> list[str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ControlError("the request is not UTF-8 text") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        return _json_words(stripped)
    if any(not c.isprintable() and c not in " \t" for c in text):
        raise ControlError("the request holds control characters")
    return text.split()


def _json_words(text: str) -> list[str]:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ControlError("the request is not valid JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("command"), str):
        raise ControlError('a JSON request is an object with a "command" string')
    args = doc.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ControlError('"args" must be a list of strings')
    unknown = set(doc) - {"command", "args"}
    if unknown:
        raise ControlError(f"unknown request field(s): {', '.join(sorted(unknown))}")
    words = [*doc["command"].split(), *args]
    if any(not w or any(not c.isprintable() for c in w) or w != w.strip() for w in words):
        raise ControlError("arguments must be non-empty printable words")
    return words


def resolve(words: Sequence[str], commands: Sequence[Command]) -> Request:
    """The request ``words`` make: the one command whose words they abbreviate (an exact
    match wins), with the remaining words as its arguments; ControlError otherwise."""
    if not words:
        raise ControlError("empty request", hint=f"commands: {names(commands)}")
    if len(words) > MAX_WORDS or any(len(w) > MAX_WORD for w in words):
        raise ControlError(f"too many or too long words (at most {MAX_WORDS} of {MAX_WORD})")
    low = [w.lower() for w in words]

    def matches(c: Command, exact: bool) -> bool:
        n = len(c.words)
        given = low[:n]
        return len(given) == n and all(
            (cw == w) if exact else cw.startswith(w) for cw, w in zip(c.words, given, strict=True))

    found = [c for c in commands if matches(c, True)] or \
        [c for c in commands if matches(c, False)]
    # "sa" is the start of two commands: the longest match decides, a tie is ambiguous.
    most = max((len(c.words) for c in found), default=0)
    found = [c for c in found if len(c.words) == most]
    if len(found) != 1:
        what = "ambiguous" if found else "unknown"
        raise ControlError(f"{what} command {' '.join(words)!r}",
                           hint=f"commands: {names(commands)}")
    cmd = found[0]
    args = tuple(words[len(cmd.words):])
    if not cmd.min_args <= len(args) <= cmd.max_args:
        raise ControlError(f"usage: {cmd.name}{' ' + cmd.usage if cmd.usage else ''}")
    return Request(cmd.name, args)


def names(commands: Sequence[Command]) -> str:
    """``status, sa list, …`` for error hints."""
    return ", ".join(c.name for c in commands)


def parse(line: bytes | Oversized, commands: Sequence[Command]) -> Request:
    """One request line (LF removed) as a :class:`Request`; ControlError when it is
    malformed, oversized, or no command of ``commands``."""
    if isinstance(line, Oversized):
        raise ControlError(f"request of {line.length} octets is longer than {MAX_REQUEST}")
    return resolve(_words(line), commands)


def answer(command: str, result: object) -> bytes:
    """The answer line of a served request."""
    return json.dumps({"ok": True, "command": command, "result": result},
                      sort_keys=True).encode() + b"\n"


def error(message: str) -> bytes:
    """The answer line of a refused request."""
    return json.dumps({"ok": False, "error": message}).encode() + b"\n"


def encode_request(words: Sequence[str]) -> bytes:
    """A client's request line for ``words`` (JSON: any word survives intact)."""
    if not words:
        raise ControlError("no command")
    return json.dumps({"command": words[0], "args": list(words[1:])}).encode() + b"\n"


def decode_answer(line: bytes) -> tuple[str, object]:
    """A client's view of an answer line: (the command's canonical name, the result);
    ControlError with the daemon's error."""
    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ControlError(f"not an answer of the control socket: {line[:80]!r}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        raise ControlError("not an answer of the control socket")
    if not doc["ok"]:
        raise ControlError(str(doc.get("error", "refused")))
    return str(doc.get("command", "")), doc.get("result")
