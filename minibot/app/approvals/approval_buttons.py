"""Approve / Deny on held tool calls, and their expiry: the speaker's decision, then the answer."""

from __future__ import annotations

import dataclasses
import logging

from minibot.app import replies
from minibot.app.approvals import approval_text
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.approvals.approval_text import BUTTON_PREFIX
from minibot.app.commands import ButtonRequest, CommandReply, CommandRouter
from minibot.app.conversation_service import ConversationService
from minibot.core.approval import Approval, ApprovalState

log = logging.getLogger(__name__)

_DECIDED = {
    ApprovalState.APPROVED: "This request was already approved.",
    ApprovalState.DENIED: "This request was already denied.",
    ApprovalState.EXPIRED: "This request expired unanswered; nothing was run.",
}


class ApprovalButtons:
    """Handles `approval:<approve|deny>:<id>`. Only the speaker who was asked decides
    (a press by anyone else is refused and changes nothing); a press after the
    deadline counts as no answer. The decision is stored before the calls run, under
    the press's turn id, so the same press handled again after a crash resumes."""

    def __init__(self, desk: ApprovalDesk, conversation: ConversationService) -> None:
        self._desk = desk
        self._conversation = conversation

    def register(self, router: CommandRouter) -> None:
        router.register_buttons(BUTTON_PREFIX, self.press)

    async def press(self, request: ButtonRequest) -> CommandReply:
        _, verb, key = [*request.action.split(":", 2), "", ""][:3]
        approval = await self._desk.get(key) if verb in ("approve", "deny") else None
        if approval is None:
            return CommandReply(replies.STALE_BUTTON)
        if request.owner_id != approval.owner_id:
            log.warning("approval press by someone else refused", extra={"approval_id": key})
            who = approval.speaker_name or "the person who asked"
            return CommandReply(f"Only {who} can answer this request; nothing was run.")
        if approval.state is ApprovalState.PENDING:
            state = ApprovalState.APPROVED if verb == "approve" else ApprovalState.DENIED
            if self._desk.expired(approval):
                state = ApprovalState.EXPIRED
            approval = await self._desk.decide(key, state, request.turn_id) or approval
        if approval.decided_turn != request.turn_id:
            return CommandReply(_DECIDED.get(approval.state, replies.STALE_BUTTON))
        if approval_text.for_workflow(approval):
            self._desk.settle(approval)
            return CommandReply(approval_text.workflow_decision(approval))
        return await self._resume(approval, request.turn_id)

    async def expire(self, approval_id: str, turn_id: str) -> CommandReply | None:
        """No answer in time: the model hears so and answers. None when already decided."""
        approval = await self._desk.get(approval_id)
        if approval is None or approval.state is not ApprovalState.PENDING:
            return None
        # The answer first, then the mark: a crash between expires it again at the next
        # start, and the stored answer is replayed (its turn id is the same).
        expired = dataclasses.replace(approval, state=ApprovalState.EXPIRED, decided_turn=turn_id)
        if approval_text.for_workflow(approval):
            await self._desk.decide(approval_id, ApprovalState.EXPIRED, turn_id)
            self._desk.settle(expired)
            return CommandReply(approval_text.workflow_decision(expired))
        reply = await self._resume(expired, turn_id)
        await self._desk.decide(approval_id, ApprovalState.EXPIRED, turn_id)
        return reply

    async def _resume(self, approval: Approval, turn_id: str) -> CommandReply:
        outcome = await self._conversation.resume(approval, turn_id=turn_id)
        await outcome.settled()
        return CommandReply(outcome.text, outcome.buttons)
