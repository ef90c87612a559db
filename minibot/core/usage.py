"""What LLM requests cost, per person and conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from minibot.core.conversation import ConversationKey


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One LLM request's token counts and estimated cost in US dollars."""

    owner_id: str
    conversation: ConversationKey
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    estimated: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
