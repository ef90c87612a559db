"""Media turns with in-memory fakes: what the model is shown, what is said, what is spoken."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from minibot.adapters.media.document_text import LibraryDocumentReader
from minibot.app.media.media_reader import NO_VISION, MediaLimits, MediaReader
from minibot.app.media.media_turns import MediaTurns, VoiceSettings
from minibot.app.media.media_usage import MediaUsage
from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey, Role
from minibot.core.media import MediaAttachment, MediaKind, OutgoingKind, VoiceMode
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.core.usage import UsageKind
from tests.app.harness import AppHarness, WallClock, build_app
from tests.fakes.media import (
    InMemoryMediaSource,
    InMemoryVoicePreferences,
    ScriptedSpeech,
    ScriptedTranscriber,
)

CHAT = ConversationKey("test", "1")


@dataclass
class Rig:
    app: AppHarness
    turns: MediaTurns
    source: InMemoryMediaSource
    speech: ScriptedSpeech
    voices: InMemoryVoicePreferences
    sent: list[OutgoingMessage] = field(default_factory=list)
    handled: int = 0

    async def handle(self, text: str, media: MediaAttachment | None = None) -> None:
        self.handled += 1
        message = IncomingMessage(
            CHAT, Sender("test", "7", "Ada"), text, datetime.now(UTC), message_id="5", media=media
        )
        await self.turns.handle(message, owner_id="test:7", turn_id=f"turn-{self.handled}")


def rig_for(app: AppHarness, *, vision: bool = True, max_document_chars: int = 1000) -> Rig:
    source, speech, voices = InMemoryMediaSource(), ScriptedSpeech(), InMemoryVoicePreferences()
    usage = MediaUsage(app.usage, WallClock(), lambda model, kind, quantity: quantity / 100)
    reader = MediaReader(
        sources={"test": source},
        transcriber=ScriptedTranscriber(),
        documents=LibraryDocumentReader(),
        usage=usage,
        limits=MediaLimits(60, 10_000, max_document_chars, vision),
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
        settings=VoiceSettings(voice_text_chars=20),
    )
    return Rig(app, turns, source, speech, voices, sent)


@pytest.fixture
async def app() -> AsyncIterator[AppHarness]:
    harness = build_app()
    await harness.start()
    yield harness
    await harness.stop()


def voice(file_id: str = "v1") -> MediaAttachment:
    return MediaAttachment(MediaKind.VOICE, file_id, "audio/ogg", "voice.ogg", 10, 3)


async def test_auto_answers_voice_with_voice_and_text_with_text(app: AppHarness) -> None:
    rig = rig_for(app)
    rig.voices.modes[CHAT] = VoiceMode.AUTO
    rig.source.files["v1"] = b"OggS"

    await rig.handle("typed")
    await rig.handle("", voice())

    typed, spoken = rig.sent
    assert (typed.text, typed.media) == ("echo: typed", ())
    assert spoken.text == "" and [m.kind for m in spoken.media] == [OutgoingKind.VOICE]
    assert spoken.media[0].fallback_text == "echo: heard words", "a short answer's fallback"
    assert rig.speech.spoken == ["echo: heard words"]
    kinds = [r.kind for r in app.usage.records]
    assert UsageKind.TRANSCRIPTION in kinds and UsageKind.SPEECH in kinds


async def test_a_failed_synthesis_answers_in_text(app: AppHarness) -> None:
    rig = rig_for(app)
    rig.voices.modes[CHAT] = VoiceMode.ON
    rig.speech.failing = True
    await rig.handle("hello")
    (reply,) = rig.sent
    assert (reply.text, reply.media) == ("echo: hello", ())


async def test_a_photo_is_shown_to_the_model_once_and_stored_as_a_reference(
    app: AppHarness,
) -> None:
    rig = rig_for(app)
    rig.source.files["p1"] = b"\xff\xd8jpeg"
    photo = MediaAttachment(MediaKind.PHOTO, "p1", "image/jpeg", "photo.jpg", 6)

    await rig.handle("what is it?", photo)

    asked = app.model.calls[-1][0][-1]
    assert [(i.mime_type, i.data) for i in asked.images] == [("image/jpeg", b"\xff\xd8jpeg")]
    stored = await app.memory.recent(CHAT, max_messages=5, max_tokens=999)
    user = next(m for m in stored if m.role is Role.USER)
    assert user.images == () and user.meta["media"] == "photo:p1"


async def test_without_vision_a_photo_is_refused_without_download(app: AppHarness) -> None:
    rig = rig_for(app, vision=False)
    await rig.handle("look", MediaAttachment(MediaKind.PHOTO, "p1", "image/jpeg"))
    assert [r.text for r in rig.sent] == [NO_VISION]
    assert rig.source.fetched == [] and app.model.calls == []


async def test_a_long_document_is_cut_and_the_person_is_told(app: AppHarness) -> None:
    rig = rig_for(app, max_document_chars=100)
    rig.source.files["d1"] = ("word " * 100).encode()
    document = MediaAttachment(MediaKind.DOCUMENT, "d1", "text/plain", "long.txt", 500)

    await rig.handle("", document)

    notice, answer = rig.sent
    assert notice.text.startswith("long.txt is long: I read its first 100 characters of 500")
    assert notice.turn_id == "turn-1/notice0" and notice.source_inbox_id is None
    content = app.model.calls[-1][0][-1].content
    assert "[cut here: the first 100 of 500 characters]" in content
    assert "<untrusted-content source='long.txt'>" in content
    assert answer.turn_id == "turn-1"
