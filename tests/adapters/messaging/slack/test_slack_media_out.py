"""Slack media out: spoken answers and generated images go out as Slack files through the
external upload (files.getUploadURLExternal, the bytes, files.completeUploadExternal) on
the fake Web API; a failed upload sends the text; a delivered file is not sent again."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from minibot.adapters.messaging.slack.slack_sender import SlackSender
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.health import HealthBoard
from minibot.core.media import OutgoingKind, OutgoingMedia
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.slack.test_slack_daemon import DM, OWNER, until
from tests.adapters.messaging.slack.test_slack_media import Running, daemon_on
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox
from tests.fakes.openai_server import FakeOpenAIServer, Script, ogg_opus_bytes, png_bytes
from tests.fakes.slack_server import BOT_TOKEN, FakeSlackServer

pytestmark = pytest.mark.timeout(60)

MEDIA = """
[media]
tts_model = "tts-test"
image_model = "image-test"
"""


async def say(running: Running, text: str) -> None:
    body = running.events.message(text, user=OWNER, channel=DM)
    status, _ = await running.events.event(body)
    assert status == 200


async def voice_on(running: Running) -> None:
    await say(running, "/voice on")
    await until(lambda: any("Voice is on" in t for t in running.replies()))


async def test_a_spoken_answer_is_shared_as_an_ogg_file(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    async with daemon_on(tmp_path, fake_llm, MEDIA) as running:
        await voice_on(running)
        await say(running, "say hi")

        await until(lambda: bool(running.fake.shared_files(DM)))
        (voice,) = running.fake.shared_files(DM)
        assert voice.filename == "voice.ogg"
        assert voice.data is not None and voice.data.startswith(b"OggS")
        assert voice.data == ogg_opus_bytes(), "the speech service's bytes, as they came"
        assert fake_llm.media_calls("speech")[-1].body["input"] == "echo: say hi"
        # A short answer is the voice note alone.
        assert "echo: say hi" not in running.replies()


async def test_generate_image_is_shared_once_with_its_prompt(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    async with daemon_on(tmp_path, fake_llm, MEDIA) as running:
        fake_llm.script(
            Script.tool_call("generate_image", json.dumps({"prompt": "a red fox in snow"})),
            Script.reply("Here is your fox."),
        )
        await say(running, "draw me a fox")

        await until(lambda: "Here is your fox." in running.replies())
        (image,) = running.fake.shared_files(DM)
        assert image.data == png_bytes()
        assert image.initial_comment == "a red fox in snow"
        assert running.fake.count("files.completeUploadExternal") == 1


async def test_a_failed_upload_sends_the_answer_as_text(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    async with daemon_on(tmp_path, fake_llm, MEDIA) as running:
        await voice_on(running)
        # Every attempt the delivery makes (max_send_attempts = 3) fails.
        running.fake.fail_uploads(times=3)
        await say(running, "are you there")

        await until(lambda: "echo: are you there" in running.replies())
        assert running.fake.shared_files(DM) == [], "nothing half-uploaded was shared"
        assert running.fake.count("files.getUploadURLExternal") == 3
        assert running.fake.count("files.completeUploadExternal") == 0


async def test_a_file_recorded_as_delivered_is_not_uploaded_again() -> None:
    # A turn handled again after a crash delivers its reply again: the ledger has the file.
    fake = FakeSlackServer()
    await fake.start()
    ledger = InMemoryDeliveryLedger()
    try:
        async with aiohttp.ClientSession() as session:
            client = AsyncWebClient(
                token=BOT_TOKEN, base_url=fake.base_url, session=session, retry_handlers=[]
            )
            throttle = ChatThrottle(3, HealthBoard(), platform="slack")
            sender = SlackSender(
                client, 3000, throttle, ledger, edit_interval_seconds=1.0, session=session
            )
            delivery = ReplyDelivery(
                channel="slack",
                sender=sender,
                throttle=throttle,
                ledger=ledger,
                inbox=InMemoryInbox(),
            )
            photo = OutgoingMedia(OutgoingKind.PHOTO, png_bytes(), "image/png", caption="a fox")
            reply = OutgoingMessage.answering(
                TurnRef("slack:D1#in7/generate_image#0"),
                ConversationKey("slack", DM),
                "",
                media=(photo,),
            )
            await delivery.deliver(reply)
            await delivery.deliver(reply)
    finally:
        await fake.stop()
    assert len(fake.shared_files(DM)) == 1, "one file, not two"
    assert fake.count("files.getUploadURLExternal") == 1
    assert await ledger.sent("slack:D1#in7/generate_image#0")
