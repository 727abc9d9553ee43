"""The spmif line protocol as two sans-I/O connection objects, in the manner of h11.

Feed bytes with ``receive_data`` (``b""`` means the peer closed), pull events with ``next_event``
until it returns :data:`NEED_DATA`, and write what ``send`` returns.  Nothing here does I/O, reads a
clock or draws randomness: the challenge seed is passed in.

Server: ``ServerConnection(challenge, password)``; ``greeting()`` first; then each event is a
command (answer it with ``send(reply)``; LOGIN and QUIT are answered by ``builtin_reply``), a
:class:`ProtocolViolation` (send its reply, close if it says so) or :class:`ConnectionClosed`.
Client: ``ClientConnection()``; the first event is the greeting; then ``send(command)`` and read
events until the :class:`Reply` arrives.  One request at a time, as the C library does.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final, Literal

from racoon2.errors import SpmifError
from racoon2.spmif import replies
from racoon2.spmif.commands import Command, Login, Quit, Rejected, format_command, parse_command
from racoon2.spmif.replies import Reply

MAX_LINE: Final = 512  # the C server's read() size: longer requests never worked
MAX_REPLY_LINE: Final = 4096
MAX_REPLY_LINES: Final = 100_000
MAX_VIOLATIONS: Final = 8  # consecutive bad lines before the server gives up on a client
HASH_HEX_LEN: Final = 40


class _Need(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _Need.NEED_DATA
NeedData = Literal[_Need.NEED_DATA]

_HEX40 = re.compile(r"[0-9A-F]{40}")
_BLANKS = re.compile(r"[ \t]+")
# What a request line may hold: printable ASCII and blanks (CR and what follows is cut first).
_REQUEST_BYTES = re.compile(rb"[\x20-\x7e\t]*")


def make_challenge(seed: bytes) -> str:
    """The greeting challenge: upper-case hex SHA-1 of ``seed`` (spmd uses 256 random bytes)."""
    return hashlib.sha1(seed).hexdigest().upper()


def login_response(challenge: str, password: bytes) -> str:
    """The LOGIN argument: upper-case hex SHA-1 of challenge ‖ upper-case hex of the password.

    ``password`` is the raw content of the spmd_password file (no newline stripping).
    """
    material = challenge + password.hex().upper()
    return hashlib.sha1(material.encode("ascii")).hexdigest().upper()


def tokenize(line: str) -> list[str]:
    """Split a request line into words separated by runs of blanks (spaces and tabs)."""
    stripped = line.strip(" \t")
    return _BLANKS.split(stripped) if stripped else []


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """A request the protocol layer answers itself with an error ``reply``.

    ``reason`` is for the log; ``close`` tells the server to close after sending the reply.
    """

    reply: Reply
    reason: str
    close: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side; ``partial`` is True when it left half a line or reply behind."""

    partial: bool


ServerEvent = Command | ProtocolViolation | ConnectionClosed | NeedData
ClientEvent = Reply | ConnectionClosed | NeedData


class ServerConnection:
    """spmd's side of one spmif connection."""

    def __init__(self, challenge: str, password: bytes) -> None:
        if not _HEX40.fullmatch(challenge):
            raise SpmifError(f"challenge {challenge!r} is not 40 upper-case hex digits")
        self._challenge: str | None = challenge
        self._greeting = replies.greeting(challenge)
        self._password = password
        self._buf = bytearray()
        self._eof = False
        self._owed: Command | ProtocolViolation | None = None
        self._violations = 0
        self.authenticated = False
        self.closed = False

    def greeting(self) -> bytes:
        """``220 <challenge>`` CR LF: write it as soon as the client is accepted."""
        return self._greeting.encode()

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the client; ``b""`` records that the client closed."""
        if data:
            self._buf += data
        else:
            self._eof = True

    @property
    def partial(self) -> bool:
        """True while part of a request line is buffered (the client is mid-command)."""
        return bool(self._buf)

    def next_event(self) -> ServerEvent:
        """The next request, error to answer, close, or :data:`NEED_DATA`."""
        if self.closed:
            raise SpmifError("spmif connection already closed")
        if self._owed is not None:
            raise SpmifError("next_event() called before the previous request was answered")
        end = self._buf.find(b"\n", 0, MAX_LINE)
        if end < 0:
            if len(self._buf) >= MAX_LINE:
                self._buf.clear()
                return self._owe(
                    ProtocolViolation(
                        replies.line_too_long(), f"request line over {MAX_LINE} bytes", True
                    )
                )
            if self._eof:
                return ConnectionClosed(partial=bool(self._buf))
            return NEED_DATA
        raw = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return self._owe(self._request(raw))

    def _owe(self, event: Command | ProtocolViolation) -> Command | ProtocolViolation:
        if isinstance(event, ProtocolViolation):
            self._violations += 1
            if self._violations >= MAX_VIOLATIONS and not event.close:
                event = ProtocolViolation(event.reply, event.reason + "; too many errors", True)
        else:
            self._violations = 0
        self._owed = event
        return event

    def _request(self, raw: bytes) -> Command | ProtocolViolation:
        # The C tokenizer stops at the first CR; a bare LF also ends the line here (the C server
        # made it an extra "\n" argument, which only ever helped the broken MIGRATE arity).
        line = raw.split(b"\r", 1)[0]
        if not _REQUEST_BYTES.fullmatch(line):
            return ProtocolViolation(replies.syntax_error(), "control or non-ASCII bytes")
        try:
            return parse_command(tokenize(line.decode("ascii")), self.authenticated)
        except Rejected as err:
            return ProtocolViolation(err.reply, f"rejected {line[:40]!r}")

    def builtin_reply(self, command: Command) -> Reply | None:
        """The reply to LOGIN or QUIT, which the protocol answers itself; None for the rest.

        LOGIN consumes the challenge: only the first attempt on a connection can succeed.
        """
        match command:
            case Login(response):
                challenge, self._challenge = self._challenge, None
                if challenge is None or len(response) < HASH_HEX_LEN:
                    return replies.login_failed()
                expected = login_response(challenge, self._password)
                # Only the first 40 characters count; trailing extra characters are accepted.
                if not hmac.compare_digest(response[:HASH_HEX_LEN], expected):
                    return replies.login_failed()
                self.authenticated = True
                return replies.login_ok()
            case Quit():
                return replies.bye()
        return None

    def send(self, reply: Reply) -> bytes:
        """Encode the answer to the pending request; after QUIT or a closing error, ``closed``."""
        if self._owed is None:
            raise SpmifError("send() with no request to answer")
        owed, self._owed = self._owed, None
        if isinstance(owed, Quit) or (isinstance(owed, ProtocolViolation) and owed.close):
            self.closed = True
        return reply.encode()


class _ClientState(enum.Enum):
    GREETING = 1
    IDLE = 2
    WAITING = 3
    CLOSED = 4


class ClientConnection:
    """A client's side (iked, kinkd, spmdctl) of one spmif connection."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._eof = False
        self._lines: list[str] = []
        self._code: int | None = None
        self._state = _ClientState.GREETING
        self._pending: Command | None = None
        self.challenge: str | None = None

    @property
    def ready(self) -> bool:
        """True when a request may be sent (greeting read, no request outstanding)."""
        return self._state is _ClientState.IDLE

    @property
    def pending(self) -> Command | None:
        """The request whose reply is awaited, if any."""
        return self._pending

    def login_command(self, password: bytes) -> Login:
        """The LOGIN request answering the greeting's challenge with ``password``."""
        if self.challenge is None:
            raise SpmifError("no greeting from spmd yet: cannot answer its challenge")
        return Login(login_response(self.challenge, password))

    def send(self, command: Command) -> bytes:
        """Encode ``command`` as a CR LF line; only one request may be outstanding."""
        if self._state is not _ClientState.IDLE:
            raise SpmifError(f"cannot send {type(command).__name__}: connection is "
                             f"{self._state.name.lower()}")
        try:
            line = format_command(command)
        except SpmifError as err:
            raise SpmifError(f"cannot encode {type(command).__name__}: {err}") from None
        self._pending = command
        self._state = _ClientState.WAITING
        return line.encode("ascii") + b"\r\n"

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from spmd; ``b""`` records that spmd closed."""
        if data:
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> ClientEvent:
        """The greeting, then one :class:`Reply` per request; raises SpmifError on bad replies."""
        while True:
            end = self._buf.find(b"\n", 0, MAX_REPLY_LINE)
            if end < 0:
                if len(self._buf) >= MAX_REPLY_LINE:
                    raise self._fail(f"reply line over {MAX_REPLY_LINE} bytes")
                if self._eof:
                    partial = bool(self._buf or self._lines) or self._pending is not None
                    self._state = _ClientState.CLOSED
                    return ConnectionClosed(partial=partial)
                return NEED_DATA
            raw = bytes(self._buf[:end])
            del self._buf[: end + 1]
            reply = self._line(raw)
            if reply is not None:
                return self._deliver(reply)

    def _fail(self, message: str) -> SpmifError:
        self._state = _ClientState.CLOSED
        return SpmifError(f"malformed reply from spmd: {message}")

    def _line(self, raw: bytes) -> Reply | None:
        if not raw.endswith(b"\r"):
            raise self._fail(f"line {raw[:60]!r} does not end in CR LF")
        try:
            line = raw[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise self._fail(f"non-ASCII line {raw[:60]!r}") from None
        if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
            raise self._fail(f"line {line[:60]!r} does not start with a reply code")
        if self._code is None:
            self._code = int(line[:3])
        self._lines.append(line[4:])
        if len(self._lines) > MAX_REPLY_LINES:
            raise self._fail(f"reply longer than {MAX_REPLY_LINES} lines")
        # A reply is complete at the first line whose 4th character is not '-'.
        if len(line) > 3 and line[3] == "-":
            return None
        reply = Reply(self._code, tuple(self._lines))
        self._code = None
        self._lines = []
        return reply

    def _deliver(self, reply: Reply) -> Reply:
        if self._state is _ClientState.GREETING:
            challenge = reply.text.strip()
            if reply.code != replies.GREETING or not challenge:
                raise self._fail(f"greeting {reply} is not '220 <challenge>'")
            self.challenge = challenge
            self._state = _ClientState.IDLE
            return reply
        if self._state is not _ClientState.WAITING:
            raise self._fail(f"reply {reply} with no request outstanding")
        if isinstance(self._pending, Quit) and reply.ok:
            self._state = _ClientState.CLOSED
        else:
            self._state = _ClientState.IDLE
        self._pending = None
        return reply
