"""kinkd's control socket commands (doc/ikedctl.md, "kinkdctl"): the documents of status, sa
list, sa show and stats, initiate, terminate and rekey, reload and log-level, served against one
running :class:`Kinkd`."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from kinkd import policy as pol
from kinkd.drops import DropReason
from kinkd.settings import SettingsError, policy_settings
from racoon2 import cli
from racoon2.config.model import Kmp
from racoon2.control.protocol import Request
from racoon2.control.server import level_name, set_level
from racoon2.control.targets import initiate_target
from racoon2.errors import ControlError, Racoon2Error
from racoon2.kernel import api

if TYPE_CHECKING:
    from kinkd.sas import SaPair
    from kinkd.shell import Kinkd

log = logging.getLogger("kinkd")


def _counters(info: api.SaInfo | None) -> dict[str, int] | None:
    return None if info is None else {"bytes": info.current.bytes,
                                      "packets": info.current.packets}


class KinkdControl:
    """The requests of kinkd's control socket."""

    def __init__(self, kinkd: Kinkd) -> None:
        self.kinkd = kinkd
        self.started = time.time()

    async def handle(self, request: Request) -> object:
        """Serve one request: its answer's result."""
        k = self.kinkd
        match request.command:
            case "status":
                return {"daemon": "kinkd", "version": cli.VERSION, "pid": os.getpid(),
                        "config": k.config.file, "uptime": int(time.time() - self.started),
                        "log_level": level_name(logging.getLogger().level),
                        "principal": k.me.principal, "epoch": k.epoch,
                        "sockets": sorted(str(ep) for ep in k.transports),
                        "spmd": k.spmif is not None, "sa_pairs": len(k.pairs)}
            case "sa list":
                kernel = await self._kernel()
                return {"sa_pairs": [self._pair(p, kernel) for p in k.pairs]}
            case "sa show":
                pair = k.pairs.by_spi(request.args[0])
                if pair is None:
                    raise ControlError(f"no SA pair with SPI {request.args[0]!r}",
                                       hint="an SPI of either direction as 0x…; see sa list")
                return {"sa_pair": self._pair(pair, await self._kernel())}
            case "initiate":
                return self._initiate(request.args[0])
            case "terminate" | "rekey":
                return self._operate(request.args[0], request.command == "rekey")
            case "stats":
                return {"sa_pairs": len(k.pairs), "peers": len(k.peers),
                        "replay_cache": len(k.replay),
                        "dropped": {r.name.lower(): k.counters[r] for r in DropReason}}
            case "reload":
                ok, message = await k.reload()
                if not ok:
                    raise ControlError(message)
                return {"reloaded": k.config.file, "message": message}
            case "log-level":
                return set_level(request.args[0], log)
        raise ControlError(f"unknown command {request.command!r}")

    def _initiate(self, target: str) -> dict[str, object]:
        k = self.kinkd
        selector, addr = initiate_target(k.config, target, (Kmp.KINK,))
        sel = k.config.selector(selector)
        assert sel is not None and sel.policy is not None  # initiate_target found it so
        try:
            policy = policy_settings(k.config, sel.policy)
            pol.initiator_settings(k.config, policy)
        except SettingsError as e:
            raise ControlError(f"selector {selector}: {e}") from None
        k.initiator.initiate(policy, None, pol.acquire_target(policy, addr), "kinkdctl")
        return {"initiated": selector, "policy": policy.policy}

    def _operate(self, ident: str, rekey: bool) -> dict[str, object]:
        k = self.kinkd
        pairs = k.pairs.named(ident)
        if not pairs:
            raise ControlError(f"no SA pair, policy, remote or peer {ident!r}",
                               hint="see sa list")
        for p in pairs if rekey else ():
            try:
                # the remote whose acceptable_kmp names kink first initiates (doc/config.md)
                pol.initiator_settings(k.config, p.policy)
            except SettingsError as e:
                raise ControlError(f"cannot rekey {p.describe()}: {e}") from None
        done = []
        for p in pairs:
            k.spawn(k.initiator.rekey(p, "rekeyed by kinkdctl") if rekey else
                    k.initiator.delete(p, "terminated by kinkdctl"))
            done.append({"name": f"{p.policy.policy} with {p.principal}",
                         "spi_in": f"{p.child.inbound_spi:08x}",
                         "spi_out": f"{p.child.outbound_spi:08x}"})
        return {"rekeying" if rekey else "terminated": done}

    async def _kernel(self) -> dict[api.SaKey, api.SaInfo] | None:
        """The kernel's SAs by key, for the counters; None when it cannot list them."""
        try:
            return {i.key: i for i in await self.kinkd.kernel.dump_sas()}
        except Racoon2Error as e:
            log.warning("control socket: cannot list the kernel's SAs: %s", e)
            return None

    @staticmethod
    def _pair(p: SaPair, kernel: dict[api.SaKey, api.SaInfo] | None) -> dict[str, object]:
        """One pair's document (doc/ikedctl.md, kinkdctl ``sa list``)."""
        created = int(p.created - time.monotonic() + time.time())
        inbound = _counters(kernel.get(p.inbound)) if kernel is not None else None
        outbound = _counters(kernel.get(p.outbound)) if kernel is not None else None
        return {"policy": p.policy.policy, "peer": p.principal, "remote": str(p.remote),
                "local": str(p.local), "spi_in": f"{p.child.inbound_spi:08x}",
                "spi_out": f"{p.child.outbound_spi:08x}", "initiator": p.initiator,
                "outbound_installed": p.outbound_installed, "rekeyed": p.rekeyed,
                "established": created,
                "kernel": "unknown" if kernel is None else
                "installed" if inbound is not None and outbound is not None else "absent",
                "in": inbound, "out": outbound}
