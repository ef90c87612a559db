"""Transcription, speech and images over the fake OpenAI server's real HTTP endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minibot.adapters.media.openai_media import (
    Endpoint,
    OpenAiImages,
    OpenAiSpeech,
    OpenAiTranscriber,
)
from minibot.core.errors import MediaServiceFailed
from tests.fakes.openai_server import FakeOpenAIServer, png_bytes

KEY = "sk-media-secret-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    await fake.start()
    yield fake
    await fake.stop()


def endpoint(server: FakeOpenAIServer, model: str) -> Endpoint:
    return Endpoint(server.base_url, KEY, model, timeout_seconds=5)


async def test_a_recording_is_sent_as_a_form_and_its_text_comes_back(
    server: FakeOpenAIServer,
) -> None:
    server.transcripts.append("buy milk")
    client = OpenAiTranscriber(endpoint(server, "whisper-1"))
    try:
        heard = await client.transcribe(
            b"OggS audio", file_name="voice.ogg", mime_type="audio/ogg", seconds=7
        )
    finally:
        await client.stop()
    assert (heard.text, heard.model, heard.seconds) == ("buy milk", "whisper-1", 7.0)
    (call,) = server.media_calls("transcriptions")
    assert call.body["file_bytes"] == b"OggS audio" and call.body["file_name"] == "voice.ogg"
    assert call.headers["Authorization"] == f"Bearer {KEY}"


async def test_speech_is_asked_as_opus_and_comes_back_as_ogg(server: FakeOpenAIServer) -> None:
    client = OpenAiSpeech(endpoint(server, "tts-1"), voice="nova")
    try:
        speech = await client.speak("one two three four five")
    finally:
        await client.stop()
    assert speech.data.startswith(b"OggS")
    assert speech.seconds == pytest.approx(2.0)
    body = server.media_calls("speech")[-1].body
    assert body == {"model": "tts-1", "input": "one two three four five", "voice": "nova",
                    "response_format": "opus"}  # fmt: skip


async def test_an_image_comes_back_decoded_with_its_type(server: FakeOpenAIServer) -> None:
    client = OpenAiImages(endpoint(server, "gpt-image-1"), size="512x512")
    try:
        image = await client.generate("a lighthouse")
    finally:
        await client.stop()
    assert (image.data, image.mime_type, image.model) == (png_bytes(), "image/png", "gpt-image-1")
    body = server.media_calls("generations")[-1].body
    assert body["size"] == "512x512" and "response_format" not in body


async def test_a_transient_failure_is_retried_once_then_reported(
    server: FakeOpenAIServer,
) -> None:
    client = OpenAiSpeech(endpoint(server, "tts-1"), voice="alloy")
    try:
        server.fail_media("speech", 503)
        assert (await client.speak("hello")).data.startswith(b"OggS")
        server.fail_media("speech", 500, times=2)
        with pytest.raises(MediaServiceFailed, match="speech service answered HTTP 500"):
            await client.speak("hello")
        server.fail_media("speech", 400)
        with pytest.raises(MediaServiceFailed, match="HTTP 400"):
            await client.speak("hello")
    finally:
        await client.stop()
    assert len(server.media_calls("speech")) == 5, "a 400 is not retried"


async def test_an_unreachable_service_is_a_clear_failure_without_the_key() -> None:
    client = OpenAiTranscriber(Endpoint("http://127.0.0.1:9/v1", KEY, "whisper-1", 2))
    try:
        with pytest.raises(MediaServiceFailed, match="unreachable") as raised:
            await client.transcribe(b"x", file_name="v.ogg", mime_type="audio/ogg", seconds=1)
    finally:
        await client.stop()
    assert KEY not in str(raised.value)
