"""The kernel SAD/SPD interface (:mod:`racoon2.kernel.api`) and its backends."""

from __future__ import annotations

import socket

from racoon2.errors import KernelError
from racoon2.kernel.api import KernelBackend


async def open_backend() -> KernelBackend:
    """The kernel backend for this system: netlink XFRM on Linux."""
    if not hasattr(socket, "AF_NETLINK"):
        raise KernelError("open", "kernel interface", "no netlink XFRM on this system")
    from racoon2.kernel.xfrm.backend import XfrmBackend

    return await XfrmBackend.open()
