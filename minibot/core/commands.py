"""Commands: orders on the bus that must be carried out once, by exactly one handler."""

from __future__ import annotations

from dataclasses import dataclass

from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage


@dataclass(frozen=True, slots=True)
class Command:
    """Base of every bus command (imperative names: what must happen)."""


@dataclass(frozen=True, slots=True)
class SendReply(Command):
    reply: OutgoingMessage


@dataclass(frozen=True, slots=True)
class ShowDraft(Command):
    """Show a partial reply while the model is still writing (streaming)."""

    conversation: ConversationKey
    turn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ShowTyping(Command):
    conversation: ConversationKey
