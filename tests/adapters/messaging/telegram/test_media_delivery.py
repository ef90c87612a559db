"""Voice notes and photos out: sendVoice and sendPhoto, once each, text when refused;
files in: getFile and the file URL, within the size limit."""

from __future__ import annotations

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import MediaTooLarge
from minibot.core.media import MediaAttachment, MediaKind, OutgoingKind, OutgoingMedia
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.telegram.conftest import CHAT, Start
from tests.fakes.memory import InMemoryDeliveryLedger
from tests.fakes.openai_server import ogg_opus_bytes, png_bytes
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)

CONVERSATION = ConversationKey("telegram", str(CHAT))
VOICE = OutgoingMedia(OutgoingKind.VOICE, ogg_opus_bytes(), "audio/ogg", fallback_text="hi")
PHOTO = OutgoingMedia(OutgoingKind.PHOTO, png_bytes(), "image/png", caption="a fox")


async def test_a_voice_note_and_a_photo_go_out_before_the_text_and_only_once(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    ledger = InMemoryDeliveryLedger()
    harness = await start_channel(answer=None, ledger=ledger)
    reply = OutgoingMessage(CONVERSATION, "the text", "turn-m", media=(VOICE, PHOTO))

    await harness.channel.deliver(reply)
    await harness.channel.deliver(reply)  # handled again: the ledger has all three

    voice, photo = fake.media_to(CHAT)
    assert (voice.method, voice.data, voice.file_name) == ("sendVoice", VOICE.data, "voice.ogg")
    assert (photo.method, photo.data, photo.caption) == ("sendPhoto", PHOTO.data, "a fox")
    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["the text"]
    assert set(await ledger.sent("turn-m")) == {-1, -2, 0}
    sends = [c.method for c in fake.calls if c.method.startswith("send")]
    assert sends == ["sendVoice", "sendPhoto", "sendMessage"], "media first, in order"


async def test_a_voice_note_alone_sends_no_empty_text(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    await harness.channel.deliver(OutgoingMessage(CONVERSATION, "", "turn-v", media=(VOICE,)))
    assert len(fake.media_to(CHAT)) == 1
    assert fake.messages_to(CHAT) == []


async def test_a_refused_voice_note_is_sent_as_its_text(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    # Refused on every attempt (a refusal is tried max_send_attempts times).
    fake.fail("sendVoice", 400, "Bad Request: VOICE_MESSAGES_FORBIDDEN", times=4)
    await harness.channel.deliver(OutgoingMessage(CONVERSATION, "", "turn-r", media=(VOICE,)))
    assert fake.media_to(CHAT) == []
    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["hi"]


async def test_a_sent_file_is_fetched_through_getfile_and_the_file_url(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    file_id = fake.add_file(b"voice bytes", suffix="oga")
    attachment = MediaAttachment(MediaKind.VOICE, file_id)

    assert await harness.channel.fetch(attachment, max_bytes=100) == b"voice bytes"
    assert fake.downloads == [f"media/{file_id}.oga"]

    with pytest.raises(MediaTooLarge, match=r"up to 0\.0 MB"):
        await harness.channel.fetch(attachment, max_bytes=5)
    assert len(fake.downloads) == 1, "getFile told the size: nothing downloaded"
