"""The KDC-contacting calls of :mod:`kinkd.krb5` for asyncio code, off the event loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kinkd.krb5.api import Context, Credentials


class AsyncKdc:
    """The KDC-contacting calls for asyncio code, run in a worker thread with a timeout.

    libkrb5 blocks while it waits for a KDC (seconds per KDC, with retries), which would stall
    kinkd's event loop.  This class gives those calls their own :class:`Context` and a single
    worker thread (one thread, because a context may not be used by two threads at once).
    Principals, keytabs and ccaches are named by strings and resolved in that context; use a
    ``MEMORY:`` ccache name to share the tickets with the loop's context, since MEMORY caches
    are process-wide.  A timeout raises :class:`TimeoutError` to the caller but cannot stop
    the C call: it keeps the worker busy until libkrb5 gives up, and later calls wait for it.
    """

    def __init__(
        self, config: str | os.PathLike[str] | None = None, *, timeout: float = 10.0
    ) -> None:
        self.timeout = timeout
        self._context = Context(config)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="krb5-kdc")

    async def _run(self, call: Callable[[Context], Credentials]) -> Credentials:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(
            loop.run_in_executor(self._executor, call, self._context), self.timeout
        )

    async def get_init_creds_keytab(
        self, client: str, keytab: str | None, ccache: str | None = None, *,
        lifetime: int | None = None,
    ) -> Credentials:
        """:meth:`Context.get_init_creds_keytab` off the event loop; ``ccache`` is a name,
        ``keytab`` too (None: the default keytab)."""

        def call(ctx: Context) -> Credentials:
            with ctx.parse_name(client) as p, ctx.keytab(keytab) as kt:
                if ccache is None:
                    return ctx.get_init_creds_keytab(p, kt, lifetime=lifetime)
                with ctx.ccache(ccache) as cc:
                    return ctx.get_init_creds_keytab(p, kt, cc, lifetime=lifetime)

        return await self._run(call)

    async def get_credentials(
        self, ccache: str, client: str, server: str, *,
        user_to_user: Credentials | bytes | None = None,
    ) -> Credentials:
        """:meth:`Context.get_credentials` off the event loop; ``ccache`` is a name."""

        def call(ctx: Context) -> Credentials:
            # ``call`` holds ``user_to_user``, so its ticket stays allocated until the worker
            # is done with it, even after a timeout.
            with ctx.ccache(ccache) as cc:
                return ctx.get_credentials(cc, client, server, user_to_user=user_to_user)

        return await self._run(call)

    def close(self) -> None:
        """Wait for the worker to finish, then free the context and its credentials."""
        self._executor.shutdown(wait=True)
        self._context.close()
