"""The turn protocol: which reply answers which inbox item, and each chunk's key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minibot.core.conversation import ConversationKey

if TYPE_CHECKING:
    # Only named here: messages itself names a reply's `TurnRef`.
    from minibot.core.messages import IncomingMessage


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """One chunk of one reply: what the delivery ledger records, so none is sent twice."""

    turn_id: str
    chunk: int


@dataclass(frozen=True, slots=True)
class ChunkClaim:
    """What claiming a chunk before sending it found: `won` (this sender sends it now),
    `message_id` (another sent it already, as that message) or neither (another sender
    holds it: ask again in `wait_seconds`, by when it is sent or its lease has lapsed)."""

    won: bool
    message_id: str | None = None
    wait_seconds: float = 0.0


CLAIM_WON = ChunkClaim(won=True)


@dataclass(frozen=True, slots=True)
class TurnRef:
    """Ties a reply to what it answers. `turn_id` is the same whenever the same inbox
    item is handled again (after a crash), so delivery resumes at its first unrecorded
    chunk; `inbox_id` is the durable item to mark done once the whole reply is out."""

    turn_id: str
    inbox_id: int | None = None

    @classmethod
    def of_inbox(cls, conversation: ConversationKey, inbox_id: int | None) -> TurnRef:
        """The turn of an inbox item; a fresh one when nothing durable holds it."""
        if inbox_id is not None:
            return cls(f"{conversation}#in{inbox_id}", inbox_id)
        return cls(f"{conversation}#{uuid.uuid4().hex[:12]}")

    @classmethod
    def of_message(cls, message: IncomingMessage) -> TurnRef:
        """A message with no inbox item but a message id (unique in its conversation)
        gets its turn from that id, so its channel can tell which reply answers it."""
        if message.inbox_id is None and message.message_id is not None:
            return cls(f"{message.conversation}#m{message.message_id}")
        return cls.of_inbox(message.conversation, message.inbox_id)

    def chunk(self, number: int) -> DeliveryKey:
        return DeliveryKey(self.turn_id, number)

    def media(self, number: int) -> DeliveryKey:
        """The key of the reply's `number`th media (a voice note, a photo): below zero,
        apart from the text's chunks, so each is recorded and sent once like them."""
        return DeliveryKey(self.turn_id, -1 - number)
