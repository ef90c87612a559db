"""What one conversation chose for itself (model, busy policy) and its history's summary."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BusyPolicy(enum.StrEnum):
    """What a message arriving while its conversation's turn runs does."""

    QUEUE = "queue"  # waits for the running turn, then is answered on its own
    STEER = "steer"  # joins the running turn before its next model call
    INTERRUPT = "interrupt"  # cancels the running turn and is answered instead


@dataclass(frozen=True, slots=True)
class HistorySummary:
    """The model's summary of a conversation's older messages: it covers every stored
    message whose id is at most `through_id`."""

    text: str
    through_id: int
    tokens: int


@dataclass(frozen=True, slots=True)
class ConversationSettings:
    """None: the deployment's default applies."""

    model_alias: str | None = None
    busy_policy: BusyPolicy | None = None
    summary: HistorySummary | None = None


NO_SETTINGS = ConversationSettings()
