"""Budgets before media calls: a transcription, speech or image request that would cross
the owner's budget is not made (the fake OpenAI server records none), and the person is
told once with what they spent, the limit and when it resets."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from minibot.adapters.config.schema import ModelPrice
from minibot.adapters.llm.pricing import quantity_cost_usd
from minibot.adapters.media.document_text import LibraryDocumentReader
from minibot.adapters.media.openai_media import (
    Endpoint,
    OpenAiImages,
    OpenAiSpeech,
    OpenAiTranscriber,
)
from minibot.app.budget_guard import BudgetGuard
from minibot.app.media.media_budget import MediaBudget
from minibot.app.media.media_reader import MediaLimits, MediaReader
from minibot.app.media.media_turns import MediaTurns, VoiceSettings
from minibot.app.media.media_usage import MediaUsage
from minibot.app.tools.image_tools import ImageTools
from minibot.app.tools.registry import ToolContext
from minibot.core.budgets import BudgetLimits, BudgetPolicy
from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.media import MediaAttachment, MediaKind, OutgoingKind, VoiceMode
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.core.usage import UsageKind
from tests.app.harness import AppHarness, WallClock, build_app
from tests.fakes.media import InMemoryMediaSource, InMemoryVoicePreferences
from tests.fakes.memory import InMemoryDeliveryLedger
from tests.fakes.openai_server import FakeOpenAIServer, ogg_opus_bytes

Clients = tuple[OpenAiTranscriber, OpenAiSpeech, OpenAiImages]
CHAT = ConversationKey("test", "1")
OWNER = "test:7"
PRICES = {
    "whisper-test": ModelPrice(per_minute=0.006),
    # Dear on purpose: "echo: hello" (2 words, 0.8 s) costs $1.33 to say.
    "tts-test": ModelPrice(per_minute=100.0),
    "image-test": ModelPrice(per_image=0.04),
}


@dataclass
class Rig:
    app: AppHarness
    server: FakeOpenAIServer
    turns: MediaTurns
    images: ImageTools
    source: InMemoryMediaSource
    voices: InMemoryVoicePreferences
    sent: list[OutgoingMessage] = field(default_factory=list)

    async def handle(self, text: str, media: MediaAttachment | None = None) -> None:
        message = IncomingMessage(
            CHAT, Sender("test", "7", "Ada"), text, datetime.now(UTC), message_id="5", media=media
        )
        await self.turns.handle(message, owner_id=OWNER, turn_id=f"turn-{len(self.sent)}")


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def app() -> AsyncIterator[AppHarness]:
    harness = build_app()
    await harness.start()
    yield harness
    await harness.stop()


def endpoint(server: FakeOpenAIServer, model: str) -> Endpoint:
    return Endpoint(server.base_url, "sk-test", model, timeout_seconds=5)


@pytest.fixture
async def clients(
    server: FakeOpenAIServer,
) -> AsyncIterator[tuple[OpenAiTranscriber, OpenAiSpeech, OpenAiImages]]:
    made = (
        OpenAiTranscriber(endpoint(server, "whisper-test")),
        OpenAiSpeech(endpoint(server, "tts-test"), voice="nova"),
        OpenAiImages(endpoint(server, "image-test"), size="256x256"),
    )
    yield made
    for client in made:
        await client.stop()


def rig_for(
    app: AppHarness,
    server: FakeOpenAIServer,
    clients: tuple[OpenAiTranscriber, OpenAiSpeech, OpenAiImages],
    daily_usd: float,
) -> Rig:
    transcriber, speech, generator = clients
    price = functools.partial(quantity_cost_usd, PRICES)
    usage = MediaUsage(app.usage, WallClock(), price)
    guard = BudgetGuard(
        usage=app.usage,
        policy=BudgetPolicy(BudgetLimits(daily_usd=daily_usd)),
        clock=WallClock(),
        completion_tokens=100,
    )
    models = {
        UsageKind.TRANSCRIPTION: transcriber.model,
        UsageKind.SPEECH: speech.model,
        UsageKind.IMAGE: generator.model,
    }
    budget = MediaBudget(guard, price, models)
    source, voices = InMemoryMediaSource(), InMemoryVoicePreferences()
    reader = MediaReader(
        sources={"test": source},
        transcriber=transcriber,
        documents=LibraryDocumentReader(),
        usage=usage,
        limits=MediaLimits(600, 100_000, 1000, True),
        budget=budget,
    )
    sent: list[OutgoingMessage] = []

    async def publish(message: object) -> None:
        assert isinstance(message, SendReply)
        sent.append(message.reply)

    turns = MediaTurns(
        conversation=app.conversation,
        reader=reader,
        voices=voices,
        speech=speech,
        usage=usage,
        publish=publish,
        settings=VoiceSettings(voice_text_chars=500),
        budget=budget,
    )
    images = ImageTools(generator, publish, usage, InMemoryDeliveryLedger(), budget)
    return Rig(app, server, turns, images, source, voices, sent)


def voice(seconds: int) -> MediaAttachment:
    return MediaAttachment(MediaKind.VOICE, "v1", "audio/ogg", "voice.ogg", 100, seconds)


async def test_a_recording_past_the_budget_is_neither_downloaded_nor_transcribed(
    app: AppHarness, server: FakeOpenAIServer, clients: Clients
) -> None:
    # 5 minutes at $0.006 a minute is $0.03: past a $0.01 day.
    rig = rig_for(app, server, clients, daily_usd=0.01)
    rig.source.files["v1"] = ogg_opus_bytes()

    await rig.handle("", voice(300))

    assert server.media_calls("transcriptions") == [], "no transcription request was made"
    assert rig.source.fetched == [], "nothing was downloaded"
    assert app.model.calls == []
    (told,) = rig.sent
    assert told.text.startswith("Budget reached: your daily limit is $0.01 and $0.0000 is spent")
    assert "$0.0300" in told.text and "resets" in told.text
    assert [r for r in app.usage.records if r.kind is UsageKind.TRANSCRIPTION] == []


async def test_a_recording_within_the_budget_is_transcribed_and_answered(
    app: AppHarness, server: FakeOpenAIServer, clients: Clients
) -> None:
    rig = rig_for(app, server, clients, daily_usd=0.05)
    rig.source.files["v1"] = ogg_opus_bytes()
    server.transcripts.append("what time is it")

    await rig.handle("", voice(300))

    assert len(server.media_calls("transcriptions")) == 1
    assert [m.text for m in rig.sent] == ["echo: what time is it"]


async def test_speech_past_the_budget_is_not_made_and_the_answer_comes_as_text(
    app: AppHarness, server: FakeOpenAIServer, clients: Clients
) -> None:
    rig = rig_for(app, server, clients, daily_usd=1.0)
    rig.voices.modes[CHAT] = VoiceMode.ON

    await rig.handle("hello")

    assert server.media_calls("speech") == [], "no speech request was made"
    (answer,) = rig.sent
    assert answer.media == ()
    answer_text, notice = answer.text.split("\n\n")
    assert answer_text == "echo: hello"
    assert notice.startswith("Budget reached: your daily limit is $1.00")
    assert "$1.3333" in notice, "the estimate: 2 words, 0.8 s at $100 a minute"


async def test_speech_within_the_budget_is_spoken(
    app: AppHarness, server: FakeOpenAIServer, clients: Clients
) -> None:
    rig = rig_for(app, server, clients, daily_usd=5.0)
    rig.voices.modes[CHAT] = VoiceMode.ON

    await rig.handle("hello")

    assert len(server.media_calls("speech")) == 1
    (answer,) = rig.sent
    assert [m.kind for m in answer.media] == [OutgoingKind.VOICE]


@pytest.mark.parametrize(("daily_usd", "made"), [(0.03, False), (0.05, True)])
async def test_an_image_past_the_budget_is_not_made_and_the_person_is_told_once(
    app: AppHarness,
    server: FakeOpenAIServer,
    clients: tuple[OpenAiTranscriber, OpenAiSpeech, OpenAiImages],
    daily_usd: float,
    made: bool,
) -> None:
    rig = rig_for(app, server, clients, daily_usd=daily_usd)
    context = ToolContext(OWNER, CHAT, origin="turn-1/call-1")

    result = await rig.images.generate_image({"prompt": "a red fox"}, context)

    assert len(server.media_calls("generations")) == (1 if made else 0)
    assert result["sent"] is made
    (message,) = rig.sent
    if made:
        assert [m.kind for m in message.media] == [OutgoingKind.PHOTO]
    else:
        assert message.media == ()
        assert message.text.startswith("Budget reached: your daily limit is $0.03")
        assert "$0.0400" in message.text
        assert "budget" in result["error"]
