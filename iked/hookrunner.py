"""Runs hook scripts for the shell: one after another, in event order, without stopping IKE.

The original blocked the whole daemon in waitpid while a script ran; here a slow script delays
only the hooks queued after it, and is killed after :data:`HOOK_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import logging

from iked.hooks import Hook

log = logging.getLogger("iked.hooks")
HOOK_TIMEOUT = 60.0


class HookRunner:
    """Runs hooks one at a time in submission order; a slow or failing script is logged."""

    def __init__(self, timeout: float = HOOK_TIMEOUT) -> None:
        self._queue: asyncio.Queue[Hook] = asyncio.Queue()
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    def submit(self, hook: Hook) -> None:
        """Queue ``hook``; starts the worker on first use."""
        if self._task is None:
            self._task = asyncio.create_task(self._work())
        self._queue.put_nowait(hook)

    async def drain(self) -> None:
        """Wait until every queued hook has finished."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the worker (queued hooks that did not start are dropped)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _work(self) -> None:
        while True:
            hook = await self._queue.get()
            try:
                await self.run(hook)
            finally:
                self._queue.task_done()

    async def run(self, hook: Hook) -> int | None:
        """Run one hook now; its exit status, None when it could not run or timed out."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *hook.argv, env=dict(hook.env), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        except OSError as e:
            log.error("hook %s %s: cannot run: %s", hook.path, hook.event.value, e.strerror)
            return None
        try:
            async with asyncio.timeout(self._timeout):
                status = await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("hook %s %s: killed after %.0f s", hook.path, hook.event.value,
                      self._timeout)
            return None
        log.debug("hook %s %s: exit status %d", hook.path, hook.event.value, status)
        return status
