"""A held tool call: what the speaker is asked to approve, and what they decided."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from minibot.core.conversation import ConversationKey, ToolCall


class ApprovalState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Approval:
    """Tool calls held in a turn whose context holds other people's words.

    Only the speaker (`owner_id`) may decide; the calls then run with that owner id.
    `decided_turn` is the turn that carried the decision (a press, or the expiry), so
    the same press handled again after a crash resumes instead of being refused.
    """

    id: str
    conversation: ConversationKey
    owner_id: str
    speaker_name: str
    calls: tuple[ToolCall, ...]
    message_id: str | None
    asked_at: datetime
    expires_at: datetime
    state: ApprovalState = ApprovalState.PENDING
    decided_turn: str | None = None


def approval_id(turn_id: str) -> str:
    """The id of the approval a turn asks for: a turn asks at most once, and a turn run
    again after a crash asks under the same id. Short, as it travels in button data
    (Telegram allows 64 bytes)."""
    return hashlib.sha256(turn_id.encode()).hexdigest()[:16]
