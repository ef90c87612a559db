"""Port: a channel's reading of its platform's raw updates."""

from __future__ import annotations

from typing import Any, Protocol

from minibot.core.channel_update import ChannelUpdate, Parsed, Unreadable


class UpdateParser(Protocol):
    """`parse` turns one raw update into a `ChannelUpdate`, an `Ignored` or an
    `Unreadable`; it may raise on input it never expected (the intake then sets the
    update aside). `parse_stored` reads a `ChannelUpdate.payload` kept by the inbox
    again (None when it no longer reads as a message or press). `unreadable` is the
    update as a dead letter (its bytes as received, and its sender when they show).
    `shown_ids` is how the platform's people name a sender's ids, for the refusal
    (e.g. "user id 42 (chat id 42)")."""

    def parse(self, raw: Any) -> Parsed: ...

    def parse_stored(self, payload: str) -> ChannelUpdate | None: ...

    def unreadable(self, raw: Any, reason: str) -> Unreadable: ...

    def shown_ids(self, user_id: str, chat_id: str) -> str: ...
