"""Ordered work per key, concurrent across keys, with a cap and backpressure."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from minibot.shared.correlation import correlated, correlation_id
from minibot.shared.receipts import Receipt, current_receipt
from minibot.shared.trace_context import traced, traceparent

log = logging.getLogger(__name__)

# "Job" is the scheduled thing (core/jobs.py); what a lane runs is a work item.
Work = Callable[[], Awaitable[None]]


class KeyedLanes:
    """Runs submitted work items so that the items of one key run one at a time in submit
    order, while items of different keys run concurrently, at most `max_concurrent` at once.

    `submit` returns once the item is queued; it waits while `max_pending` items are queued
    or running (backpressure). An item that raises is logged; its lane goes on. Each item
    runs under the correlation id and traceparent current when it was submitted, and holds
    the receipt current then (see `shared/receipts.py`) until it has run, raised or not; a
    cancelled item keeps it, so its message is not acknowledged.
    """

    def __init__(self, name: str, *, max_concurrent: int, max_pending: int) -> None:
        self._name = name
        self._lanes: dict[Hashable, deque[tuple[Work, str | None, str | None, Receipt | None]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._running = asyncio.Semaphore(max_concurrent)
        self._room = asyncio.Semaphore(max_pending)
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending = 0
        self._closed = False

    @property
    def pending(self) -> int:
        return self._pending

    async def submit(self, key: Hashable, work: Work) -> None:
        if self._closed:
            raise RuntimeError(f"{self._name} is closed")
        await self._room.acquire()
        self._pending += 1
        self._idle.clear()
        receipt = current_receipt.get()
        if receipt is not None:
            receipt.hold()
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append((work, correlation_id.get(), traceparent.get(), receipt))
            return
        self._lanes[key] = deque([(work, correlation_id.get(), traceparent.get(), receipt)])
        worker = asyncio.create_task(self._run_lane(key), name=f"{self._name}:{key}")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def _run_lane(self, key: Hashable) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                work, cid, parent, receipt = lane[0]
                ended = False
                try:
                    async with self._running:
                        # The work runs under its own message's receipt (the lane's task
                        # was started under the first one's): what it hands on is owed
                        # to the message it belongs to.
                        token = current_receipt.set(receipt)
                        try:
                            with correlated(cid), traced(parent):
                                await work()
                        finally:
                            current_receipt.reset(token)
                    ended = True
                except asyncio.CancelledError:
                    raise
                except Exception:
                    ended = True
                    with correlated(cid):
                        log.exception("work failed", extra={"lane": str(key)})
                finally:
                    if ended and receipt is not None:
                        receipt.release()
                    lane.popleft()
                    self._pending -= 1
                    self._room.release()
        finally:
            del self._lanes[key]
            if self._pending == 0:
                self._idle.set()

    async def join(self) -> None:
        """Wait until every queued work item has run."""
        await self._idle.wait()

    async def close(self, timeout_seconds: float) -> None:
        """Refuse new work, let queued items finish for up to `timeout_seconds`, then
        cancel what is left."""
        self._closed = True
        try:
            # Not when idle: a wait of 0 s times out even on a finished join, and the
            # daemon closes drained lanes with no time to spare.
            if self._pending:
                await asyncio.wait_for(self.join(), timeout_seconds)
        except TimeoutError:
            log.warning(
                "gave up waiting for pending work",
                extra={"lanes": self._name, "pending": self._pending},
            )
        finally:
            # Also when the caller gives up on us (its own deadline): no work outlives close.
            workers = list(self._workers)
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


class LanedService:
    """The lifecycle of a daemon service whose work runs in KeyedLanes: stopping closes
    the lanes, and the daemon's drain waits on them."""

    name: str
    _lanes: KeyedLanes

    async def start(self) -> None:
        pass

    async def stop(self, timeout_seconds: float = 0.0) -> None:
        # The daemon drains the lanes (within its shutdown budget) before it stops them:
        # what is still queued then is cancelled at once, and its inbox item brings it
        # back after a restart.
        await self._lanes.close(timeout_seconds)

    @property
    def busy(self) -> bool:
        return self._lanes.pending > 0

    async def join(self) -> None:
        await self._lanes.join()
