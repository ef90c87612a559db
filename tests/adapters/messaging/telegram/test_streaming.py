"""Streaming: one message edited as the text grows, throttled, ending formatted."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.telegram.conftest import CHAT, Harness, Start
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)

CONVERSATION = ConversationKey("telegram", str(CHAT))
INTERVAL = 0.3


async def stream(start_channel: Start, final: str, *, steps: int = 25) -> Harness:
    harness = await start_channel(answer=None, stream_edits=True, edit_interval_seconds=INTERVAL)
    words = final.split(" ")
    for n in range(1, steps + 1):
        partial = " ".join(words[: max(1, len(words) * n // steps)])
        await harness.channel.show_draft(CONVERSATION, "turn-s", partial)
        await asyncio.sleep(0.04)  # the pace of a model writing, not a wait for a result
    await harness.channel.deliver(OutgoingMessage(CONVERSATION, final, "turn-s"))
    return harness


async def test_drafts_edit_one_message_throttled_and_end_formatted(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    final = "The **answer** is " + " ".join(f"w{i}" for i in range(60))

    harness = await stream(start_channel, final)

    [draft] = fake.messages_to(CHAT)
    assert harness.ledger.chunks["turn-s"] == {0: str(draft.message_id)}
    edits = fake.edits_in(CHAT)
    assert draft.parse_mode is None
    assert all(e.message_id == draft.message_id for e in edits)
    *intermediate, last = edits
    assert all(e.parse_mode is None for e in intermediate), "drafts are plain text"
    times = [draft.at] + [e.at for e in edits]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL * 0.9, f"edits closer than the interval: {gaps}"
    assert len(edits) < 25 / 2, "edits were coalesced"
    assert last.parse_mode == "HTML" and last.text.startswith("The <b>answer</b> is")
    assert fake.current_text(CHAT, draft.message_id) == final.replace("**", "")


async def test_a_long_final_text_fills_the_draft_then_new_messages(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    final = "\n\n".join(f"Part {n}: " + "lorem ipsum " * 200 for n in range(4))

    await stream(start_channel, final, steps=5)

    first, *rest = fake.messages_to(CHAT)
    assert rest, "the overflow went out as new messages"
    assert fake.current_text(CHAT, first.message_id).startswith("Part 0:")
    assert all(len(m.visible_text) <= 4096 for m in rest)
    assert fake.edits_in(CHAT)[-1].parse_mode == "HTML"


async def test_drafts_are_ignored_when_streaming_is_off(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    await harness.channel.show_draft(CONVERSATION, "turn-q", "partial")
    await harness.channel.deliver(OutgoingMessage(CONVERSATION, "whole", "turn-q"))
    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["whole"]
    assert fake.edits == []
