"""Port: approvals of held tool calls, kept across restarts until decided."""

from __future__ import annotations

from typing import Protocol

from minibot.core.approval import Approval, ApprovalState


class ApprovalStore(Protocol):
    """Durable approvals, by id.

    Promises:
    - `save` is durable when it returns. Saving an id again while it is pending replaces
      it (a turn re-run after a crash asks anew); a decided approval is never replaced.
    - `get` returns None for an unknown id.
    - `decide` moves a pending approval to `state`, recording `turn_id`, and returns it
      as stored afterwards: unchanged when it was already decided, None when unknown.
    - `pending` lists the undecided approvals, earliest deadline first.
    """

    async def save(self, approval: Approval) -> None: ...

    async def get(self, approval_id: str) -> Approval | None: ...

    async def decide(
        self, approval_id: str, state: ApprovalState, turn_id: str
    ) -> Approval | None: ...

    async def pending(self) -> list[Approval]: ...
