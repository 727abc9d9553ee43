"""How an iked process starts: the kernel and the way to spmd it opens, and whether it runs as
one :class:`~iked.shell.Iked` or as the coordinator of ``-j N`` (:mod:`iked.coordinator`)."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from iked.process import Settings
from iked.shell import Iked
from racoon2 import daemon
from racoon2.config import Config
from racoon2.errors import Racoon2Error, SpmifError
from racoon2.kernel import api
from racoon2.paths import LAYOUT
from racoon2.spmif.client import Spmd, SpmifClient, connect_configured

log = logging.getLogger("iked")

#: The cyclic collector's thresholds while iked serves.  Python's default (700, 10, 10) suits a
#: program whose heap turns over; a responder's heap is mostly long-lived SA state, freed by
#: reference counting when its SA ends, and the default's full collections rescanned all of it
#: every few thousand SAs: 0.62 s of the CPU of 10,000 setups under strongSwan's load-tester,
#: collecting 500 objects (doc/performance.md, "The cyclic collector, the timer heap, the
#: reports").  A young generation of 50,000 makes that 0.1 s; the cycles there are (asyncio's,
#: exceptions') are still collected.
GC_THRESHOLDS = (50_000, 20, 20)


async def open_kernel(settings: Settings) -> api.KernelBackend:
    """The kernel's IPsec, or with -D 0x8 a stand-in that only keeps the SAs."""
    if settings.no_kernel:
        from racoon2.kernel.memory import MemoryBackend

        log.info("-D 0x8: no kernel IPsec and no spmd; SAs are only logged")
        # Random SPIs: two such iked on one host must not pick the same ones.
        return MemoryBackend(seed=secrets.randbits(32))
    from racoon2.kernel.system import open_backend

    return await open_backend()


async def serve(config: Config, settings: Settings,
                spmd: Callable[[Config], Awaitable[Spmd]],
                setup: Callable[[Iked], None] = lambda iked: None) -> int:
    """Run one :class:`Iked` (``spmd`` opens its way to spmd; ``setup`` sees it before it
    starts) until it stops: the exit status."""
    gc.set_threshold(*GC_THRESHOLDS)
    kernel = await open_kernel(settings)
    try:
        spmif = None if settings.no_kernel else await spmd(config)
        bypass = daemon.application_bypass(config) and not settings.no_kernel
        iked = Iked(config, settings, kernel, spmif, bypass)
        setup(iked)
        try:
            return await iked.run()
        finally:
            if spmif is not None:
                await spmif.close()
    finally:
        await kernel.close()


async def connect_spmd(config: Config) -> SpmifClient:
    """spmd's session, as racoon2.conf names its socket and password."""
    try:
        return await connect_configured(config)
    except SpmifError as e:
        raise Racoon2Error(e.message, hint="or run with -D 0x8 to work without spmd") from None


def run(config_path: str, settings: Settings, *, foreground: bool,
        pid_path: str = LAYOUT.pid_file("iked")) -> int:
    """Run iked until SIGTERM/SIGINT: the exit status (1 when it cannot start)."""
    def main(config: Config) -> Coroutine[Any, Any, int]:
        if settings.workers > 1 and config.addresspools:
            # Each worker would lease from the whole pool: two clients, one address.
            log.warning("addresspool in %s: running as one process (-j 1), the workers "
                        "cannot share a pool yet", config.file)
        elif settings.workers > 1:
            from iked.coordinator import coordinate
            return coordinate(config, settings)
        return serve(config, settings, connect_spmd)
    return daemon.run_daemon("iked", config_path, main, foreground=foreground,
                             pid_path=pid_path)
