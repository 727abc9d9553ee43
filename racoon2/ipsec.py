"""The IPsec words every layer shares (pure): one enum per idea, whatever layer speaks it.

The configuration, spmif, the kernel interface and the daemons all name an SA's mode, a
policy's direction and action and a template's level with these.  Where a layer writes them
differently it keeps a small table next to its codec instead of an enum of its own: the
configuration's keywords (:mod:`racoon2.config.build`), the kernel's XFRM numbers
(:data:`racoon2.kernel.api.XFRM_DIRECTIONS`, :data:`~racoon2.kernel.api.XFRM_MODES`), the PF_KEY
wire values (:mod:`racoon2.kernel.pfkey.backend`, over its own wire enums).  spmif writes a mode
as its value (``transport``, ``tunnel``).
"""

from __future__ import annotations

import enum


class Mode(enum.Enum):
    """The IPsec mode of an SA, a template or a policy (RFC 4301 §4.1)."""

    TRANSPORT = "transport"
    TUNNEL = "tunnel"


class Direction(enum.Enum):
    """Which traffic a selector or policy matches; FORWARD (routed through this host to a
    tunnel's inner network) is the kernel's and is never written in a configuration."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    FORWARD = "forward"


class Action(enum.Enum):
    """What a configured policy does with its traffic (doc/config.md, policy ``action``)."""

    AUTO_IPSEC = "auto_ipsec"
    STATIC_IPSEC = "static_ipsec"
    DISCARD = "discard"
    NONE = "none"  # also written ``bypass``


class Level(enum.Enum):
    """How a template binds: REQUIRE an SA, USE one if present, or UNIQUE (require, own
    reqid)."""

    UNIQUE = "unique"
    REQUIRE = "require"
    USE = "use"
