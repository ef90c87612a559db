"""The approval desk: holds tool calls for the speaker's decision and expires them in time."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from minibot.core.approval import Approval, ApprovalState, approval_id
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.events import ApprovalExpired
from minibot.core.ports.approval_store import ApprovalStore
from minibot.core.ports.bus import Publish
from minibot.shared.clock import SleepingClock

log = logging.getLogger(__name__)


class ApprovalDesk:
    """Keeps held calls in the ApprovalStore until the speaker decides, and publishes
    `ApprovalExpired` for each one still undecided at its deadline (the dispatcher runs
    it in its conversation's lane, like a press). Deadlines survive a restart: `start`
    loads the pending ones, and those already past expire at once.
    """

    name = "approvals"

    def __init__(
        self,
        store: ApprovalStore,
        clock: SleepingClock,
        publish: Publish,
        *,
        timeout_seconds: float,
        max_sleep_seconds: float = 3600.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._publish = publish
        self.timeout_seconds = timeout_seconds
        self._max_sleep = max_sleep_seconds
        self._deadlines: dict[str, tuple[datetime, ConversationKey]] = {}
        self._wake = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future[Approval]]] = {}

    async def start(self) -> None:
        for approval in await self._store.pending():
            self._arm(approval)

    async def stop(self) -> None:
        return None

    async def hold(
        self,
        *,
        turn_id: str,
        conversation: ConversationKey,
        owner_id: str,
        speaker_name: str,
        calls: tuple[ToolCall, ...],
        message_id: str | None,
    ) -> Approval:
        """Stores the held calls of `turn_id` (durable when this returns)."""
        now = self._clock.now()
        approval = Approval(
            id=approval_id(turn_id),
            conversation=conversation,
            owner_id=owner_id,
            speaker_name=speaker_name,
            calls=calls,
            message_id=message_id,
            asked_at=now,
            expires_at=now + timedelta(seconds=self.timeout_seconds),
        )
        await self._store.save(approval)
        self._arm(approval)
        log.info(
            "tool calls held for approval",
            extra={"approval_id": approval.id, "tools": ",".join(c.name for c in calls)},
        )
        return approval

    async def get(self, approval_id: str) -> Approval | None:
        return await self._store.get(approval_id)

    async def decide(self, approval_id: str, state: ApprovalState, turn_id: str) -> Approval | None:
        decided = await self._store.decide(approval_id, state, turn_id)
        self._deadlines.pop(approval_id, None)
        log.info("approval decided", extra={"approval_id": approval_id, "state": str(state)})
        return decided

    async def wait(self, approval_id: str) -> Approval:
        """The approval once decided (a workflow step waits here, outside any lane)."""
        current = await self._store.get(approval_id)
        if current is not None and current.state is not ApprovalState.PENDING:
            return current
        waiter: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(approval_id, []).append(waiter)
        try:
            return await waiter
        finally:
            waiting = self._waiters.get(approval_id, [])
            if waiter in waiting:
                waiting.remove(waiter)
            if not waiting:
                self._waiters.pop(approval_id, None)

    def settle(self, approval: Approval) -> None:
        """Wakes whoever waits on `approval` (decided)."""
        for waiter in self._waiters.pop(approval.id, []):
            if not waiter.done():
                waiter.set_result(approval)

    def expired(self, approval: Approval) -> bool:
        return self._clock.now() >= approval.expires_at

    async def run(self) -> None:
        """Sleeps until the earliest deadline, then publishes the expiries due."""
        while True:
            self._wake.clear()
            now = self._clock.now()
            due = [(key, where) for key, (at, where) in self._deadlines.items() if at <= now]
            for key, conversation in due:
                # Dropped before publishing: the lane decides it, or a restart re-arms it.
                self._deadlines.pop(key, None)
                await self._publish(ApprovalExpired(conversation, key))
            if due:
                continue
            delay = self._max_sleep
            if self._deadlines:
                earliest = min(at for at, _ in self._deadlines.values())
                delay = min((earliest - now).total_seconds(), self._max_sleep)
            await self._clock.sleep(delay, self._wake)

    def _arm(self, approval: Approval) -> None:
        self._deadlines[approval.id] = (approval.expires_at, approval.conversation)
        self._wake.set()
