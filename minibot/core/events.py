"""The system's vocabulary of events: small, frozen, past-tense facts on the bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from minibot.core.conversation import ConversationKey
from minibot.core.messages import IncomingMessage, Sender


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every bus event."""


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    message: IncomingMessage


@dataclass(frozen=True, slots=True)
class ButtonPressed(Event):
    conversation: ConversationKey
    sender: Sender
    action: str
    # The press's item in the channel's inbox, when it has one: its reply's turn id, and
    # the item is marked done once that reply is delivered.
    inbox_id: int | None = None


@dataclass(frozen=True, slots=True)
class ApprovalExpired(Event):
    """Nobody answered an approval request in time: its held calls count as denied."""

    conversation: ConversationKey
    approval_id: str


@dataclass(frozen=True, slots=True)
class JobDue(Event):
    job_id: str
    occurrence: datetime


@dataclass(frozen=True, slots=True)
class JobStarted(Event):
    job_id: str
    occurrence: datetime


@dataclass(frozen=True, slots=True)
class JobCompleted(Event):
    job_id: str
    occurrence: datetime


@dataclass(frozen=True, slots=True)
class JobFailed(Event):
    job_id: str
    occurrence: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class JobMissed(Event):
    job_id: str
    occurrence: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class JobCreated(Event):
    job_id: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class JobUpdated(Event):
    job_id: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class JobCancelled(Event):
    job_id: str
    owner_id: str


@dataclass(frozen=True, slots=True)
class TurnFinished(Event):
    """A conversation turn ended: answered (`ok`), or the model failed for good."""

    conversation: ConversationKey
    ok: bool
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class ReplyDelivered(Event):
    """Every chunk of a reply is out on its channel."""

    conversation: ConversationKey
    turn_id: str
    chunks: int


@dataclass(frozen=True, slots=True)
class FloodWaited(Event):
    """A platform asked to wait (429) before the next call on `channel`."""

    channel: str
    retry_after_seconds: float


@dataclass(frozen=True, slots=True)
class DuplicateIgnored(Event):
    """An update already in the inbox arrived again and was dropped."""

    channel: str
