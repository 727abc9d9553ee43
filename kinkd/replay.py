"""kinkd's replay cache for Kerberos authenticators (RFC 4430 §7, RFC 4120 §3.2.3).

MIT krb5 dropped the replay-cache API the original used (``krb5_rc_*``, which is why the C
kinkd no longer links), so kinkd keeps its own: an AP-REQ is a replay when the same client sent
an authenticator with the same time and checksum within the clock-skew window.  Entries are
kept for twice the skew and, unlike the original's, survive a restart in a small file written
atomically (mode 0600), so a captured CREATE cannot be replayed right after kinkd restarts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_SKEW = 300.0  # seconds, Kerberos' usual clock skew


@dataclass(frozen=True, slots=True)
class Authenticator:
    """What identifies one authenticator: client, its time (ctime, cusec), a digest."""

    client: str
    ctime: int
    cusec: int
    digest: bytes

    @classmethod
    def of(cls, client: str, ctime: int, cusec: int, ap_req: bytes) -> Authenticator:
        """Identify an authenticator by its client, time and the AP-REQ's hash."""
        return cls(client, ctime, cusec, hashlib.sha256(ap_req).digest()[:16])

    def key(self) -> str:
        """A stable string form (also the file's)."""
        return f"{self.client}|{self.ctime}|{self.cusec}|{self.digest.hex()}"


class ReplayCache:
    """Seen authenticators with the time they stop mattering."""

    def __init__(self, path: str | None = None, skew: float = DEFAULT_SKEW) -> None:
        self.path = path
        self.skew = skew
        self._seen: dict[str, float] = {}
        if path is not None:
            self._load(path)

    def check_and_store(self, auth: Authenticator, now: float) -> bool:
        """True (and remembered) when fresh; False for a replay or a time outside the skew."""
        self.expire(now)
        if abs(auth.ctime - now) > self.skew:
            return False
        key = auth.key()
        if key in self._seen:
            return False
        self._seen[key] = now + 2 * self.skew
        return True

    def expire(self, now: float) -> None:
        """Forget what is too old to be replayed."""
        for key in [k for k, until in self._seen.items() if until <= now]:
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)

    def __iter__(self) -> Iterator[str]:
        return iter(self._seen)

    def save(self) -> None:
        """Write the cache atomically (mode 0600) when it has a file."""
        if self.path is None:
            return
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".kinkd.rc.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self._seen, f)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise

    def _load(self, path: str) -> None:
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return  # no cache yet, or a damaged one: start empty (the skew check still holds)
        if isinstance(data, dict):
            self._seen = {str(k): float(v) for k, v in data.items()
                          if isinstance(v, int | float)}
