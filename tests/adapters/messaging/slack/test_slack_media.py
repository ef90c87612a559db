"""Slack files in: the daemon in process on the fake Slack Web API (files.info and the
files' private URLs) and the fake OpenAI server: a voice clip is transcribed and answered,
a photo reaches the model as an image part, a PDF's text arrives marked untrusted, and a
file too large is refused before anything is downloaded."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minibot.adapters.config.loader import load_settings
from minibot.adapters.container import Container
from minibot.adapters.messaging.slack.event_parser import SlackEventParser
from minibot.core.media import MediaKind
from tests.adapters.messaging.slack.test_slack_daemon import (
    DM,
    OWNER,
    _ready,
    slack_config,
    until,
)
from tests.adapters.messaging.telegram.conftest import free_port
from tests.fakes.documents import pdf_with_text
from tests.fakes.openai_server import FakeOpenAIServer, ogg_opus_bytes
from tests.fakes.slack_server import BOT_USER_ID, FakeSlackServer, SignedEventSender
from tests.process import write_config

pytestmark = pytest.mark.timeout(60)

MEDIA = """
[media]
transcription_model = "whisper-test"
max_audio_seconds = 60
max_file_bytes = 200000
"""


@dataclass
class Running:
    events: SignedEventSender
    fake: FakeSlackServer
    llm: FakeOpenAIServer

    async def send_file(self, text: str, file: dict[str, Any]) -> None:
        body = self.events.message(text, user=OWNER, channel=DM, subtype="file_share", files=[file])
        status, _ = await self.events.event(body)
        assert status == 200

    def replies(self) -> list[str]:
        return [m.visible_text for m in self.fake.messages_in(DM)]


@pytest.fixture
async def running(tmp_path: Path, fake_llm: FakeOpenAIServer) -> AsyncIterator[Running]:
    async with daemon_on(tmp_path, fake_llm, MEDIA) as started:
        yield started


@contextlib.asynccontextmanager
async def daemon_on(
    tmp_path: Path, fake_llm: FakeOpenAIServer, extra: str
) -> AsyncIterator[Running]:
    fake = FakeSlackServer()
    await fake.start()
    port = free_port()
    config = write_config(tmp_path, fake_llm.base_url, slack_config(fake, port) + extra)
    daemon = Container(load_settings(config)).build()
    task = asyncio.create_task(daemon.run())
    try:
        await until(lambda: _ready(daemon) or task.done())
        assert not task.done(), "the daemon stopped at start"
        yield Running(SignedEventSender(f"http://127.0.0.1:{port}/slack/events"), fake, fake_llm)
    finally:
        daemon.request_stop()
        with contextlib.suppress(Exception):
            assert await asyncio.wait_for(task, 20) == 0
        await fake.stop()


def last_user_content(llm: FakeOpenAIServer) -> Any:
    users = [m for m in llm.requests[-1].body["messages"] if m["role"] == "user"]
    return users[-1]["content"]


async def test_a_voice_clip_is_downloaded_with_the_token_transcribed_and_answered(
    running: Running,
) -> None:
    audio = ogg_opus_bytes()
    clip = running.fake.add_file(
        "F0VOICE1",
        audio,
        name="audio_message.webm",
        mimetype="audio/webm",
        subtype="slack_audio",
        duration_ms=4200,
    )
    running.llm.transcripts.append("what is the capital of France")

    await running.send_file("", clip)

    await until(lambda: "echo: what is the capital of France" in running.replies())
    (call,) = running.llm.media_calls("transcriptions")
    assert call.body["file_bytes"] == audio, "the file Slack served was transcribed"
    assert call.body["model"] == "whisper-test"
    assert running.fake.downloads == ["F0VOICE1"]
    assert running.fake.count("files.info") == 1


async def test_a_photo_reaches_the_model_as_an_image_part(running: Running) -> None:
    photo = b"\xff\xd8\xff\xe0 a small jpeg" + bytes(range(256))
    image = running.fake.add_file("F0PHOTO1", photo, name="cat.jpg", mimetype="image/jpeg")

    await running.send_file("what is in this photo?", image)

    await until(lambda: "echo: what is in this photo?" in running.replies())
    content = last_user_content(running.llm)
    assert content[0] == {"type": "text", "text": "what is in this photo?"}
    url = content[1]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(photo).decode()


async def test_a_pdfs_text_reaches_the_model_marked_untrusted(running: Running) -> None:
    pdf = pdf_with_text("The launch code is pineapple")
    document = running.fake.add_file("F0PDF001", pdf, name="brief.pdf", mimetype="application/pdf")

    await running.send_file("summarise", document)

    await until(lambda: any("pineapple" in t for t in running.replies()))
    content = last_user_content(running.llm)
    assert content.startswith("summarise\n\n<untrusted-content source='brief.pdf'>")
    assert "The launch code is pineapple" in content
    assert content.endswith("</untrusted-content>")


async def test_a_file_past_the_limit_is_refused_before_download(running: Running) -> None:
    big = running.fake.add_file(
        "F0BIG001", b"x" * 10, name="huge.pdf", mimetype="application/pdf", size=5_000_000
    )

    await running.send_file("", big)

    await until(lambda: any("I take files of up to" in t for t in running.replies()))
    assert running.fake.downloads == [] and running.fake.count("files.info") == 0
    assert running.llm.requests == []


async def test_a_clip_past_the_daily_budget_is_not_transcribed_and_the_person_is_told(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    # 30 s at $0.06 a minute is $0.03: past a $0.01 day. The container wires the budget.
    budget = (
        MEDIA
        + """
[llm.prices."whisper-test"]
per_minute = 0.06

[budgets]
daily_usd_per_owner = 0.01
"""
    )
    async with daemon_on(tmp_path, fake_llm, budget) as running:
        clip = running.fake.add_file(
            "F0VOICE2", ogg_opus_bytes(), name="a.webm", mimetype="audio/webm",
            subtype="slack_audio", duration_ms=30_000,
        )  # fmt: skip
        await running.send_file("", clip)
        await until(lambda: any("Budget reached" in t for t in running.replies()))
        (told,) = running.replies()
        assert "daily limit is $0.01" in told and "$0.0300" in told and "resets" in told
        assert running.llm.media_calls("transcriptions") == [], "no transcription was asked"
        assert running.fake.downloads == [] and running.llm.requests == []


def test_a_message_event_maps_its_files_like_telegram() -> None:
    parser = SlackEventParser(BOT_USER_ID, always_in_channels=False)
    files = [
        {"id": "F1", "name": "clip.webm", "mimetype": "audio/webm", "subtype": "slack_audio",
         "size": 900, "duration_ms": 61001},
        {"id": "F2", "name": "x.png", "mimetype": "image/png", "size": 5},
    ]  # fmt: skip
    body = SignedEventSender("http://unused").message(
        "hi", user=OWNER, channel=DM, subtype="file_share", files=files
    )
    update = parser.parse(body)
    media = getattr(update, "media", None)
    assert media is not None
    assert (media.kind, media.file_id, media.size_bytes, media.duration_seconds) == (
        MediaKind.VOICE,
        "F1",
        900,
        62,
    )
    plain = parser.parse(SignedEventSender("http://unused").message("hi", user=OWNER, channel=DM))
    assert getattr(plain, "media", "missing") is None
