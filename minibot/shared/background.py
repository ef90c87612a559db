"""Watching a background task for a supervisor without owning its cancellation."""

from __future__ import annotations

import asyncio


async def watch(task: asyncio.Task[None]) -> None:
    """Wait until `task` ends and raise the error it ended with, if any. Cancelling the
    watcher leaves the task running (unlike `await task`): the service that made the task
    decides when it ends."""
    await asyncio.wait({task})
    if not task.cancelled() and (error := task.exception()) is not None:
        raise error
