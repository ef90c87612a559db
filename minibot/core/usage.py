"""What LLM and media requests cost, per person and conversation."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from minibot.core.conversation import ConversationKey


class UsageKind(enum.StrEnum):
    """What a usage row paid for: a chat request (tokens), a transcription or speech
    (`quantity` in seconds of audio), an image (`quantity` in images)."""

    CHAT = "chat"
    TRANSCRIPTION = "transcription"
    SPEECH = "speech"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One request's token counts (or `quantity` of its `kind`) and estimated cost in US
    dollars."""

    owner_id: str
    conversation: ConversationKey
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    estimated: bool
    at: datetime
    kind: UsageKind = UsageKind.CHAT
    quantity: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
