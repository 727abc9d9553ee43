"""EAP-MD5-Challenge (RFC 3748 §5.4, the CHAP computation of RFC 1994 §4.1), the server side.
**For tests only**: it gives no MSK and does not authenticate the server, and a captured
exchange allows an offline guess of the password.  iked's AUTH then uses SK_pi/SK_pr
(RFC 7296 §2.16); doc/iked.md says not to deploy it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import ClassVar

from racoon2.eap.packet import Type
from racoon2.eap.server import Failed, Reply, Secrets, Succeeded
from racoon2.errors import ParseError


@dataclass
class Md5:
    """One EAP-MD5 authentication of ``user`` as the server."""

    user: str
    secrets: Secrets
    challenge: bytes          # 16 random octets from the caller
    _identifier: int = 0

    type: ClassVar[int] = Type.MD5
    mutual: ClassVar[bool] = False

    def start(self, identifier: int) -> bytes:
        """Value-Size, the challenge (RFC 1994 §4.1)."""
        self._identifier = identifier
        return bytes([len(self.challenge)]) + self.challenge

    def receive(self, identifier: int, data: bytes) -> Reply:
        """The peer's Value: MD5(Identifier | secret | challenge)."""
        if len(data) < 17 or data[0] != 16:
            raise ParseError("EAP-MD5 Response", 0, "expected Value-Size 16")
        password = self.secrets.password(self.user)
        if password is None:
            return Failed(self.user, "no such user, or its secret is not plain: (EAP-MD5 "
                          "needs the password itself)")
        want = hashlib.md5(bytes([self._identifier]) + password + self.challenge).digest()
        if not hmac.compare_digest(want, data[1:17]):
            return Failed(self.user, "wrong password (the EAP-MD5 response differs)")
        return Succeeded(self.user, None)
