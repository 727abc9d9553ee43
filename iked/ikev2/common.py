"""Small pieces every IKEv2 exchange module uses: the SA states, notify payloads and the
names that go into log lines."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Sequence

from racoon2.ikev2.constants import ExchangeType, IdType, NotifyType
from racoon2.ikev2.payloads import Notify, Payload

#: Notify types below this are errors; from it on, status (RFC 7296 §3.10.1).
FIRST_STATUS_NOTIFY = 16384


class State(enum.Enum):
    """Where an IKE SA stands."""

    INIT_SENT = "IKE_SA_INIT sent"
    INIT_DONE = "IKE_SA_INIT answered"
    AUTH_SENT = "IKE_AUTH sent"
    ESTABLISHED = "established"
    DELETING = "deleting"
    DEAD = "dead"


def notify(kind: NotifyType, data: bytes = b"", spi: bytes = b"", protocol: int = 0) -> Notify:
    """A Notify payload."""
    return Notify(protocol, kind, spi, data)


def notify_name(kind: int) -> str:
    """NO_PROPOSAL_CHOSEN, or ``notify 12345`` for types without a name."""
    try:
        return NotifyType(kind).name
    except ValueError:
        return f"notify {kind}"


def exchange_name(kind: int) -> str:
    """IKE_AUTH, or ``exchange 99``."""
    try:
        return ExchangeType(kind).name
    except ValueError:
        return f"exchange {kind}"


def id_text(id_type: int, data: bytes) -> str:
    """An identity as an admin writes it: an address, a name, else hex."""
    if id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR) and len(data) in (4, 16):
        return str(ipaddress.ip_address(data))
    if id_type in (IdType.FQDN, IdType.RFC822_ADDR):
        return data.decode(errors="replace")
    return data.hex()


def error_notifies(payloads: Sequence[Payload]) -> list[int]:
    """The error Notify types among ``payloads``, in order."""
    return [p.type for p in payloads if isinstance(p, Notify) and p.type < FIRST_STATUS_NOTIFY]
