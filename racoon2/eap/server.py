"""The EAP server's method layer (RFC 3748 §2, §4), pure: EAP-Identity, then one method.

:class:`Server` is what IKEv2 talks to: :meth:`Server.start` gives the first Request,
:meth:`Server.receive` takes each Response and gives the next packet and, at the end, the
outcome (:class:`Succeeded` with the method's MSK, or :class:`Failed` with a reason an
admin can act on).  A method (:class:`Method`) sees only its own Type-Data; it gets the
user's secret from :class:`Secrets` (the users file).  A RADIUS backend (RFC 3579) would
stand in for :class:`Server` as a whole: it too takes Responses and gives Requests,
Success or Failure and the MSK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from racoon2.eap.packet import Code, Packet, Type


class Secrets(Protocol):
    """A user's secret in the forms the methods need (None: no such user, or not in that
    form)."""

    def nt_hash(self, user: str) -> bytes | None:
        """The NT password hash (MS-CHAPv2)."""
        ...

    def password(self, user: str) -> bytes | None:
        """The password itself (EAP-MD5)."""
        ...


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The method authenticated ``user``; ``msk`` is None for a method without one."""

    user: str
    msk: bytes | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The authentication failed: ``reason`` for the log (never told to the client)."""

    user: str | None
    reason: str


#: What a method makes of a Response: the next Request's Type-Data, or the end.
Reply = bytes | Succeeded | Failed


class Method(Protocol):
    """One EAP method's server side for one user."""

    @property
    def type(self) -> int:
        """Its EAP Type."""
        ...

    @property
    def mutual(self) -> bool:
        """Whether it authenticates the server too (RFC 5998 §4)."""
        ...

    def start(self, identifier: int) -> bytes:
        """The Type-Data of the first Request, sent with ``identifier``."""
        ...

    def receive(self, identifier: int, data: bytes) -> Reply:
        """The peer's Type-Data of the Response to Request ``identifier``."""
        ...


def identity_text(data: bytes) -> str:
    """An EAP Identity (RFC 3748 §5.1) as text: UTF-8 when it is printable, else ``0x`` and
    hex (strongSwan sends an IP address ID in binary)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return text if text.isprintable() else "0x" + data.hex()


#: Makes the method for the user the peer named in its Identity.
MethodFor = Callable[[str], Method]


@dataclass(frozen=True, slots=True)
class Step:
    """What to send next, and when it is the last packet, the outcome."""

    packet: Packet
    outcome: Succeeded | Failed | None = None


class Server:
    """One EAP conversation as the authenticator with a local method."""

    def __init__(self, method_for: MethodFor, method_type: int, identifier: int) -> None:
        self._method_for = method_for
        self._type = method_type
        self._id = identifier & 0xFF
        self._method: Method | None = None
        self.user: str | None = None
        self.done = False

    def start(self) -> Packet:
        """The Request/Identity (RFC 3748 §5.1)."""
        return Packet(Code.REQUEST, self._id, Type.IDENTITY)

    def _request(self, data: bytes) -> Step:
        assert self._method is not None
        return Step(Packet(Code.REQUEST, self._id, self._method.type, data))

    def _end(self, outcome: Succeeded | Failed) -> Step:
        # §4.2: Success and Failure carry the Identifier of the Response they answer.
        self.done = True
        code = Code.SUCCESS if isinstance(outcome, Succeeded) else Code.FAILURE
        return Step(Packet(code, self._id), outcome)

    def receive(self, packet: Packet) -> Step:
        """The peer's Response; raises ParseError for a malformed method message."""
        if self.done:
            return self._end(Failed(self.user, "EAP message after the conversation ended"))
        if packet.code != Code.RESPONSE or packet.identifier != self._id:
            return self._end(Failed(self.user, f"EAP code {packet.code} identifier "
                                    f"{packet.identifier} where the Response to request "
                                    f"{self._id} was due"))
        if packet.type == Type.NAK:
            offered = ", ".join(str(t) for t in packet.data) or "none"
            return self._end(Failed(self.user, f"the client refuses EAP method {self._type}; "
                                    f"it would take EAP types {offered}"))
        if self._method is None:
            if packet.type != Type.IDENTITY:
                return self._end(Failed(None, f"EAP type {packet.type} where the Identity "
                                        "was due"))
            self.user = identity_text(packet.data)
            self._method = self._method_for(self.user)
            self._id = (self._id + 1) & 0xFF
            return self._request(self._method.start(self._id))
        if packet.type != self._method.type:
            return self._end(Failed(self.user, f"EAP type {packet.type} in the method "
                                    f"{self._method.type} conversation"))
        reply = self._method.receive(self._id, packet.data)
        if isinstance(reply, Succeeded | Failed):
            return self._end(reply)
        self._id = (self._id + 1) & 0xFF
        return self._request(reply)
