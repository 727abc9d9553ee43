"""IKEv1 fragmentation in iked's engine (Vendor ID "FRAGMENTATION", payload 132), pure: the
engine's use of :mod:`iked.ikev1.fragment`.

iked always announces the Vendor ID (it reassembles whatever the bounds of
:class:`~iked.ikev1.fragment.Reassembly` allow) and cuts a message larger than
:data:`~iked.ikev1.fragment.FRAGMENT_SIZE` into fragments once the peer announced it too, as
strongSwan's ``fragmentation = yes`` does: Main Mode messages 5 and 6 with certificates are
the ones that outgrow a path's MTU, and some NATs drop IP fragments.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from iked.events import Now
from iked.ikev1 import fragment, vendor
from iked.ikev1.sa import IsakmpSa
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import Fragment
from racoon2.net import Endpoint


def _vendor_ids(sa: IsakmpSa) -> Sequence[bytes]:
    return (fragment.VENDOR_ID,)


vendor.SENDERS.append(_vendor_ids)


def outgoing(sa: IsakmpSa, data: bytes) -> tuple[bytes, ...]:
    """``data`` as it goes on the wire to ``sa``'s peer: whole, or its fragments."""
    if len(data) <= fragment.FRAGMENT_SIZE or not fragment.supported(sa.peer_vendor_ids):
        return (data,)
    # The ID names the message: a retransmission, being the same octets, reuses it.
    return fragment.split(data, zlib.crc32(data) & 0xFFFF or 1)


class Fragments:
    """The half-assembled messages of one core's peers."""

    def __init__(self) -> None:  # noqa: D107 (the class docstring says it)
        self.reassembly = fragment.Reassembly()

    def incoming(self, msg: Message, remote: Endpoint, now: Now
                 ) -> tuple[bytes | None, str | None]:
        """A fragment message: (the whole message once complete, None) or (None, why it was
        dropped) or (None, None) while more are to come."""
        parts = [p for p in msg.payloads if isinstance(p, Fragment)]
        if len(parts) != 1 or len(msg.payloads) != 1:
            return None, f"{len(msg.payloads)} payloads beside a Fragment, expected it alone"
        p = parts[0]
        result = self.reassembly.add((remote, msg.cookie_i), p.fragment_id, p.number, p.last,
                                     p.data, now, remote.addr)
        if result.drop is not None:
            return None, f"fragment {p.number} of {p.fragment_id}: {result.drop.value}"
        return result.whole, None
