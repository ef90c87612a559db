"""Conversation keys: a thread is a conversation of its own, and the text form reads back."""

from __future__ import annotations

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef


def test_a_key_without_a_thread_keeps_its_old_text_form() -> None:
    key = ConversationKey("telegram", "-100123")
    assert str(key) == "telegram:-100123"
    assert ConversationKey.parse("telegram:-100123") == key
    assert key.thread == ""


def test_a_thread_is_a_conversation_apart_from_its_chat() -> None:
    chat = ConversationKey("slack", "C0000001")
    thread = ConversationKey("slack", "C0000001", "1700000000.000100")
    assert thread != chat
    assert str(thread) == "slack:C0000001/1700000000.000100"
    assert thread.chat_id == chat.chat_id


@pytest.mark.parametrize(
    "key",
    [
        ConversationKey("slack", "C0000001", "1700000000.000100"),
        ConversationKey("telegram", "-100123", "7"),
        ConversationKey("console", "console"),
    ],
)
def test_the_text_form_reads_back_and_turn_ids_stay_apart(key: ConversationKey) -> None:
    assert ConversationKey.parse(str(key)) == key
    turn = TurnRef.of_inbox(key, 7).turn_id
    assert "#" not in str(key)
    assert turn.partition("#")[0] == str(key)


@pytest.mark.parametrize("text", ["", "slack", "slack:", ":C1", "slack:C1/"])
def test_a_malformed_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a conversation key"):
        ConversationKey.parse(text)
