"""The addresses a responder's CFG_REPLY leased us, on this host's interfaces (shell I/O).

As strongSwan does with a virtual IP, a leased address goes on the interface the route to the
peer leaves by, as a host address (/32, /128), so that traffic to the peer can take it as its
source; it comes off when the IKE SA that leased it goes (an IKE SA rekey hands it on).  An
address that was already there is not ours and is left alone.
"""

from __future__ import annotations

import logging

from racoon2.net import Address

log = logging.getLogger("iked")


class LeasedAddresses:
    """The leased addresses iked put on interfaces, per IKE SA."""

    def __init__(self) -> None:
        self._by_sa: dict[str, list[tuple[int, Address]]] = {}

    def add(self, sa: str, remote: Address, addresses: tuple[Address, ...]) -> None:
        """Put ``addresses`` on the interface towards ``remote``; they belong to ``sa``."""
        from pyroute2 import IPRoute  # netlink I/O: imported by the daemons that need it only
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            try:
                index = ipr.route("get", dst=str(remote))[0].get_attr("RTA_OIF")
            except (NetlinkError, IndexError) as e:
                log.error("IKE SA %s: no route to %s to put the leased %s on: %s", sa, remote,
                          ", ".join(map(str, addresses)), e)
                return
            for addr in addresses:
                try:
                    ipr.addr("add", index=index, address=str(addr), prefixlen=addr.max_prefixlen)
                except NetlinkError as e:
                    if e.code != 17:  # EEXIST: the host has it already; not ours to remove
                        log.error("IKE SA %s: cannot add the leased %s: %s", sa, addr, e)
                    continue
                self._by_sa.setdefault(sa, []).append((index, addr))
                log.info("IKE SA %s: leased address %s added to interface %d", sa, addr, index)

    def moved(self, old: str, new: str) -> None:
        """An IKE SA rekey: the addresses of ``old`` now belong to ``new``."""
        if old in self._by_sa:
            self._by_sa[new] = self._by_sa.pop(old)

    def remove(self, sa: str) -> None:
        """Take the addresses of ``sa`` off their interfaces."""
        owned = self._by_sa.pop(sa, [])
        if not owned:
            return
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            for index, addr in owned:
                try:
                    ipr.addr("del", index=index, address=str(addr),
                             prefixlen=addr.max_prefixlen)
                    log.info("IKE SA %s: leased address %s removed", sa, addr)
                except NetlinkError as e:
                    log.warning("IKE SA %s: cannot remove the leased %s: %s", sa, addr, e)

    def remove_all(self) -> None:
        """Shutdown: take every leased address off."""
        for sa in list(self._by_sa):
            self.remove(sa)
