"""iked's control socket commands (doc/ikedctl.md): what each request does to the running
iked and the document it answers with (:mod:`iked.sa_view` makes the SA documents)."""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import TYPE_CHECKING

from iked import sa_view
from iked.ctl_merge import numbering
from iked.ikev2.snapshot import Clock
from racoon2 import cli
from racoon2.control.protocol import Request
from racoon2.control.server import level_name, set_level
from racoon2.control.targets import initiate_target, peer_selector
from racoon2.errors import ControlError, Racoon2Error

if TYPE_CHECKING:
    from iked.shell import Iked

log = logging.getLogger("iked")
__all__ = ["IkedControl", "initiate_target", "peer_selector"]


class IkedControl:
    """The requests of iked's control socket, served against one running :class:`Iked`."""

    def __init__(self, iked: Iked) -> None:
        self.iked = iked
        role = iked.settings.role
        self.numbers = sa_view.Numbers(*numbering(role.index, role.workers)) if role else \
            sa_view.Numbers()
        #: The cores' events by kind (IkeSaUp, ChildSaDown, ...), for stats.
        self.events: collections.Counter[str] = collections.Counter()
        self.started = time.time()

    async def handle(self, request: Request) -> object:
        """Serve one request: its answer's result."""
        args = request.args
        match request.command:
            case "status":
                return self._status()
            case "sa list":
                return {"sas": sa_view.sa_list(self.iked.core, self.numbers,
                                               await self._kernel(), self._clock())}
            case "sa show":
                target = sa_view.find(self.iked.core, self.numbers, args[0])
                return {"sa": sa_view.view(target.sa, self.numbers, await self._kernel(),
                                           self._clock())}
            case "initiate":
                return await self._initiate(args[0])
            case "terminate" | "rekey":
                return await self._operate(args[0], request.command == "rekey")
            case "stats":
                return sa_view.stats(self.iked.core, self.events)
            case "reload":
                ok, message = await self.iked.reload()
                if not ok:
                    raise ControlError(message)
                return {"reloaded": self.iked.config.file, "message": message}
            case "log-level":
                return set_level(args[0], log)
        raise ControlError(f"unknown command {request.command!r}")  # COMMANDS and this agree

    def _clock(self) -> Clock:
        return Clock(time.monotonic(), time.time())

    async def _kernel(self) -> sa_view.Kernel:
        try:
            return {i.key: i for i in await self.iked.kernel.dump_sas()}
        except Racoon2Error as e:
            log.warning("control socket: cannot list the kernel's SAs: %s", e)
            return None

    def _status(self) -> dict[str, object]:
        iked = self.iked
        stats = sa_view.stats(iked.core, self.events)
        return {
            "daemon": "iked", "version": cli.VERSION, "pid": os.getpid(),
            "config": iked.config.file, "uptime": int(time.time() - self.started),
            "log_level": level_name(logging.getLogger().level),
            "sockets": sorted(str(ep) for ep in iked.transports),
            "spmd": iked.spmif is not None, "kernel": type(iked.kernel).__name__,
            **{k: stats[k] for k in ("ike_sas", "isakmp_sas", "child_sas")},
        }

    async def _initiate(self, target: str) -> dict[str, object]:
        selector, addr = initiate_target(self.iked.config, target)
        self.iked.core.initiate(selector, time.monotonic(), addr)
        self.iked.wake()
        return {"initiated": selector}

    async def _operate(self, ident: str, rekey: bool) -> dict[str, object]:
        core = self.iked.core
        try:
            targets = [sa_view.find(core, self.numbers, ident)]
        except ControlError:
            if rekey:
                raise
            targets = [sa_view.Target(sa) for sa in sa_view.by_remote(core, ident)]
            if not targets:
                raise ControlError(f"no SA or remote {ident!r}", hint="see sa list") from None
        now = time.monotonic()
        done = []
        for t in targets:
            core.operate(t.sa, t.child, rekey, now)
            done.append({"id": self.numbers.of(t.sa), "name": t.sa.name,
                         "child": f"{t.child.spi_in:08x}" if t.child else None})
        self.iked.wake()
        return {"rekeying" if rekey else "terminated": done}
