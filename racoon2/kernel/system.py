"""The kernel backend of the running system, for the daemons' shells."""

from __future__ import annotations

import socket

from racoon2.kernel.api import KernelBackend


async def open_backend() -> KernelBackend:
    """The kernel backend for this system: netlink XFRM on Linux, PF_KEYv2 elsewhere."""
    if hasattr(socket, "AF_NETLINK"):
        from racoon2.kernel.xfrm.backend import XfrmBackend

        return await XfrmBackend.open()
    from racoon2.kernel.pfkey.backend import PfkeyBackend

    return await PfkeyBackend.open()
