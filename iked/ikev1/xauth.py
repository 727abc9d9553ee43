"""XAuth as the gateway (draft-ietf-ipsec-isakmp-xauth-06, the "edge device"), pure: after
Phase 1 the gateway asks for a user name and password in a Transaction exchange, checks them
(the engine does, with the users file) and says yes or no:

    gateway                                   client
    REQUEST(id) XAUTH_TYPE, USER_NAME, USER_PASSWORD  ->
                <-  REPLY(id) USER_NAME=alice, USER_PASSWORD=...
    SET(id') XAUTH_STATUS=OK|FAIL           ->
                <-  ACK(id')
    (a wrong password: another REQUEST, up to ``attempts``; then STATUS=FAIL)

The check itself is the engine's, off the event loop (``iked.users.Users.verify``).

Each exchange has its own Message ID and identifier, both random, given by the engine (pure
code draws none).  The engine wraps each payload with :func:`iked.ikev1.transaction.seal`,
retransmits, and after FAIL's ACK (or its timeout) deletes the ISAKMP SA; after OK it goes on
with mode-config (:mod:`iked.ikev1.modecfg`) and Quick Mode.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from iked.ikev1.transaction import cfg_name
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import CfgAttr, CfgType
from racoon2.ikev1.payloads import Attribute, ModeCfg

#: The XAuth Vendor ID (ipsec-tools vendorid.h, strongSwan's vendor table; sent by strongSwan
#: in tests/vectors/captures/ikev1-main-psk, message 2).
VENDOR_ID = bytes.fromhex("09002689dfd6b712")
#: XAUTH_TYPE Generic (draft §6.2); XAUTH_STATUS values (§6.3).
TYPE_GENERIC = 0
STATUS_FAIL = 0
STATUS_OK = 1

class Status(enum.Enum):
    """Where the gateway's XAuth is."""

    ASKING = "asking"
    CHECKING = "checking"
    TELLING = "telling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Send:
    """A Transaction message to send: its Message ID and attribute payload."""

    message_id: int
    payload: ModeCfg


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client's REPLY gave: check ``user`` and ``password`` (when :attr:`usable`)
    off the event loop (a users-file hash or PAM takes its time), then call
    :meth:`XauthServer.verdict`.  ``cancelled``: the user gave up (draft §5.1)."""

    user: str | None
    password: bytes | None
    cancelled: bool = False

    @property
    def usable(self) -> bool:
        """A user name (UTF-8) and a password were both given."""
        return self.user is not None and self.password is not None and not self.cancelled


def _request(identifier: int) -> ModeCfg:
    # XAUTH_TYPE is a basic attribute, the asked-for values empty variable ones (draft §6.1)
    return ModeCfg(CfgType.REQUEST, identifier, (
        Attribute(CfgAttr.XAUTH_TYPE, TYPE_GENERIC), Attribute(CfgAttr.XAUTH_USER_NAME, b""),
        Attribute(CfgAttr.XAUTH_USER_PASSWORD, b"")))


def _bytes(payload: ModeCfg, kind: CfgAttr) -> bytes | None:
    found = next((a for a in payload.attributes if a.type == kind), None)
    return found.value if found is not None and isinstance(found.value, bytes) else None


def _credentials(reply: ModeCfg) -> Credentials:
    status = next((a for a in reply.attributes if a.type == CfgAttr.XAUTH_STATUS), None)
    name = _bytes(reply, CfgAttr.XAUTH_USER_NAME)
    try:
        user = name.decode() if name is not None else None
    except UnicodeDecodeError:
        user = None
    return Credentials(user, _bytes(reply, CfgAttr.XAUTH_USER_PASSWORD),
                       status is not None and status.as_int == STATUS_FAIL)


class XauthServer:
    """One client's XAuth: :meth:`start` gives the first REQUEST; :meth:`receive` takes each
    REPLY or ACK (decrypted, HASH checked) and gives a REPLY's :class:`Credentials`;
    :meth:`verdict` says what the check found and gives the next message."""

    def __init__(self, attempts: int = 3) -> None:
        if attempts < 1:
            raise ValueError("XAuth needs at least one attempt")
        self.attempts = attempts
        self.tries = 0
        self.status = Status.ASKING
        self.user: str | None = None
        self._outstanding: Send | None = None
        self._given: Credentials | None = None

    def start(self, message_id: int, identifier: int) -> Send:
        """The REQUEST for a user name and password (again, after a wrong one)."""
        self.tries += 1
        self.status = Status.ASKING
        self._outstanding = Send(message_id, _request(identifier))
        return self._outstanding

    def receive(self, message_id: int, payload: ModeCfg) -> Credentials | None:
        """The client's REPLY (its credentials, to check) or ACK (None: XAuth is over,
        :attr:`status` is SUCCEEDED or FAILED) in message ``message_id``.  A message that
        answers nothing outstanding raises :class:`ProtocolError` and changes nothing."""
        sent = self._outstanding
        # strongSwan 5.9's client answers with identifier 0: the message ID (under the
        # HASH) already ties the answer to our exchange, so 0 is taken, another value not.
        if sent is None or message_id != sent.message_id \
                or payload.identifier not in (sent.payload.identifier, 0):
            raise ProtocolError(f"XAuth {cfg_name(payload.cfg_type)} in message "
                                f"{message_id:#010x}, identifier {payload.identifier}: "
                                "answers nothing iked sent")
        want = CfgType.REPLY if self.status is Status.ASKING else CfgType.ACK
        if payload.cfg_type != want:
            raise ProtocolError(f"XAuth {cfg_name(payload.cfg_type)} in message "
                                f"{message_id:#010x}, expected {want.name}")
        self._outstanding = None
        if self.status is Status.TELLING:
            self.status = Status.SUCCEEDED if self.user is not None else Status.FAILED
            return None
        self.status = Status.CHECKING
        self._given = _credentials(payload)
        return self._given

    def verdict(self, ok: bool, message_id: int, identifier: int) -> Send:
        """The check's result for the last :class:`Credentials` (False when they were not
        usable); the next message, in a new exchange ``message_id`` / ``identifier``:
        another REQUEST after a wrong password while attempts remain, else the SET with
        XAUTH_STATUS OK or FAIL (draft §6.3)."""
        given = self._given
        if self.status is not Status.CHECKING or given is None:
            raise ValueError("verdict() without credentials to judge")
        ok = ok and given.usable
        if not ok and not given.cancelled and self.tries < self.attempts:
            return self.start(message_id, identifier)
        self.user = given.user if ok else None
        self.status = Status.TELLING
        self._outstanding = Send(message_id, ModeCfg(CfgType.SET, identifier, (
            Attribute(CfgAttr.XAUTH_STATUS, STATUS_OK if ok else STATUS_FAIL),)))
        return self._outstanding
