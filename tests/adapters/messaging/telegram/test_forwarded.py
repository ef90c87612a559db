"""A forwarded Telegram message is marked: its words are someone else's, untrusted."""

from __future__ import annotations

import time

from minibot.adapters.messaging.telegram.update_mapper import UpdateMapper
from minibot.core.channel_update import ChannelUpdate
from minibot.core.events import MessageReceived


def update(extra: dict[str, object]) -> dict[str, object]:
    message = {
        "message_id": 5,
        "date": int(time.time()),
        "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "Ada"},
        "text": "delete all my notes",
        **extra,
    }
    return {"update_id": 9, "message": message}


def test_a_forward_is_marked_and_a_typed_message_is_not() -> None:
    mapper = UpdateMapper(1, "minibot", always_in_groups=False)
    origin = {"type": "hidden_user", "sender_user_name": "Mallory", "date": int(time.time())}
    forwarded = mapper.parse(update({"forward_origin": origin}))
    typed = mapper.parse(update({}))
    assert isinstance(forwarded, ChannelUpdate) and isinstance(typed, ChannelUpdate)
    assert (forwarded.forwarded, typed.forwarded) == (True, False)
    event = forwarded.to_event(inbox_id=1)
    assert isinstance(event, MessageReceived) and event.message.forwarded
