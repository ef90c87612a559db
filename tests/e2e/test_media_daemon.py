"""Media end to end: `minibot` as a subprocess on the fake Bot API and the fake OpenAI
server, with voice notes, photos, documents and generated images."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.test_telegram_daemon import (
    Daemon,
    asked,
    llm_server,
    query,
    telegram_config,
    texts,
    until,
    until_true,
)
from tests.fakes.documents import broken_pdf, pdf_with_text
from tests.fakes.openai_server import FakeOpenAIServer, Script, ogg_opus_bytes, png_bytes
from tests.fakes.telegram_server import FakeTelegramServer

# The module's daemon is started once, inside the first test's time.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

START_SECONDS = 120.0
# The shared config's 2 s request timeout is too tight for a busy machine.
PATIENT = {
    "MINIBOT_LLM__REQUEST_TIMEOUT_SECONDS": "20",
    "MINIBOT_LLM__TOTAL_DEADLINE_SECONDS": "40",
}
WAIT_SECONDS = 60.0

# One person (and private chat) per test, on one shared daemon.
VOICE, SPOKEN, LONG, PHOTO, PDF, BAD_FILES, IMAGE, NO_TTS = 51, 52, 53, 54, 55, 56, 57, 58
USERS = (VOICE, SPOKEN, LONG, PHOTO, PDF, BAD_FILES, IMAGE, NO_TTS)
MEDIA = """
[media]
transcription_model = "whisper-test"
tts_model = "tts-test"
image_model = "image-test"
max_audio_seconds = 60
max_file_bytes = 200000
show_transcript = true

[llm.prices."whisper-test"]
per_minute = 0.006

[llm.prices."tts-test"]
per_minute = 0.015

[llm.prices."image-test"]
per_image = 0.04
"""


@dataclass
class Shared:
    daemon: Daemon
    tg: FakeTelegramServer
    llm: FakeOpenAIServer
    path: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shared]:
    path = tmp_path_factory.mktemp("media")
    async with llm_server() as llm, FakeTelegramServer() as tg:
        config = telegram_config(path, llm, tg, users=USERS, extra=MEDIA)
        daemon = Daemon(config, path / "daemon.log", PATIENT)
        await daemon.start()
        try:
            # On a busy machine a start (aiogram's import) can take many seconds.
            await until_true(lambda: 'msg="minibot started"' in daemon.log(), START_SECONDS)
            yield Shared(daemon, tg, llm, path)
            assert await daemon.stop() == 0, daemon.log()[-3000:]
        finally:
            if daemon.alive:
                await daemon.kill()


async def wait(shared: Shared, predicate: Callable[[], bool]) -> None:
    await until(shared.daemon, shared.tg, predicate, WAIT_SECONDS)


async def settled(predicate: Callable[[], bool]) -> None:
    await until_true(predicate, WAIT_SECONDS)


def usage_rows(path: Path, user: int, kind: str) -> list[tuple[Any, ...]]:
    return query(
        path,
        "SELECT model, quantity, cost_usd FROM minibot_usage WHERE owner_id = ? AND kind = ?",
        f"telegram:{user}",
        kind,
    )


def last_user_content(llm: FakeOpenAIServer) -> Any:
    users = [m for m in llm.requests[-1].body["messages"] if m["role"] == "user"]
    return users[-1]["content"]


async def test_a_voice_note_is_transcribed_and_its_text_answered(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    llm.transcripts.append("what is the capital of France")
    audio = ogg_opus_bytes()
    tg.enqueue_voice(VOICE, VOICE, audio, duration=4)

    await until(
        shared.daemon, tg, lambda: "echo: what is the capital of France" in texts(tg, VOICE)
    )
    call = llm.media_calls("transcriptions")[-1]
    assert call.body["file_bytes"] == audio, "the downloaded voice note was transcribed"
    assert call.body["model"] == "whisper-test"
    assert asked(llm, "what is the capital of France") == 1
    # show_transcript: the sender sees what was heard, before the answer.
    assert texts(tg, VOICE) == [
        "🎙 “what is the capital of France”",
        "echo: what is the capital of France",
    ]
    await settled(lambda: bool(usage_rows(shared.path, VOICE, "transcription")))
    ((model, seconds, cost),) = usage_rows(shared.path, VOICE, "transcription")
    assert (model, seconds) == ("whisper-test", 4.0)
    assert cost == pytest.approx(0.006 * 4 / 60)


async def test_voice_on_answers_with_an_ogg_voice_note(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    tg.enqueue_text(SPOKEN, SPOKEN, "/voice on")
    await wait(shared, lambda: any("Voice is on" in t for t in texts(tg, SPOKEN)))
    tg.enqueue_text(SPOKEN, SPOKEN, "say hi")

    await wait(shared, lambda: bool(tg.media_to(SPOKEN)))
    (voice,) = tg.media_to(SPOKEN)
    assert voice.method == "sendVoice"
    assert voice.data.startswith(b"OggS") and b"OpusHead" in voice.data
    speech = llm.media_calls("speech")[-1].body
    assert speech["input"] == "echo: say hi"
    assert (speech["model"], speech["response_format"]) == ("tts-test", "opus")
    # A short answer is the voice note alone.
    assert not any("echo: say hi" in t for t in texts(tg, SPOKEN))
    await settled(lambda: bool(usage_rows(shared.path, SPOKEN, "speech")))
    ((model, seconds, cost),) = usage_rows(shared.path, SPOKEN, "speech")
    assert model == "tts-test" and seconds > 0 and cost == pytest.approx(0.015 * seconds / 60)


async def test_a_long_spoken_answer_comes_with_its_text(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    tg.enqueue_text(LONG, LONG, "/voice on")
    await wait(shared, lambda: any("Voice is on" in t for t in texts(tg, LONG)))
    answer = "A long answer. " * 40
    llm.script(Script.reply(answer))
    tg.enqueue_text(LONG, LONG, "tell me a lot")

    await wait(shared, lambda: answer.strip() in texts(tg, LONG))
    assert [m.method for m in tg.media_to(LONG)] == ["sendVoice"]


async def test_a_failed_synthesis_answers_in_text(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    tg.enqueue_text(NO_TTS, NO_TTS, "/voice on")
    await wait(shared, lambda: any("Voice is on" in t for t in texts(tg, NO_TTS)))
    llm.fail_media("speech", 500, times=2)  # the first try and its retry
    tg.enqueue_text(NO_TTS, NO_TTS, "are you there")

    await wait(shared, lambda: "echo: are you there" in texts(tg, NO_TTS))
    assert tg.media_to(NO_TTS) == []


async def test_an_oversized_voice_note_is_refused_before_download(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    transcribed = len(llm.media_calls("transcriptions"))
    long_id = tg.enqueue_voice(VOICE, VOICE, b"x" * 100, duration=3600)
    big_id = tg.enqueue_voice(VOICE, VOICE, b"y" * 100, duration=5, file_size=5_000_000)

    await wait(shared, lambda: sum("I take" in t for t in texts(tg, VOICE)) == 2)
    refusals = [t for t in texts(tg, VOICE) if "I take" in t]
    assert "60 min long" in refusals[0] and "up to 1 min" in refusals[0]
    assert "5.0 MB" in refusals[1] and "up to 0.2 MB" in refusals[1]
    asked_for = [call.params.get("file_id") for call in tg.calls_of("getFile")]
    assert long_id not in asked_for and big_id not in asked_for, "nothing was downloaded"
    assert not any(long_id in path or big_id in path for path in tg.downloads)
    assert len(llm.media_calls("transcriptions")) == transcribed


async def test_a_photo_reaches_the_model_as_an_image_part_once(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    photo = b"\xff\xd8\xff\xe0 a small jpeg" + bytes(range(256))
    tg.enqueue_photo(PHOTO, PHOTO, photo, caption="what is in this photo?")

    await wait(shared, lambda: "echo: what is in this photo?" in texts(tg, PHOTO))
    content = last_user_content(llm)
    assert content[0] == {"type": "text", "text": "what is in this photo?"}
    url = content[1]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(photo).decode()

    tg.enqueue_text(PHOTO, PHOTO, "and now?")
    await wait(shared, lambda: "echo: and now?" in texts(tg, PHOTO))
    later = json.dumps(llm.requests[-1].body)
    assert "image_url" not in later, "a later turn does not send the old image again"
    stored = query(
        shared.path,
        "SELECT meta FROM minibot_messages WHERE conversation = ? AND role = 'user' ORDER BY id",
        f"telegram:{PHOTO}",
    )
    assert json.loads(stored[0][0])["media"].startswith("photo:"), "history keeps a reference"
    assert base64.b64encode(photo).decode()[:40] not in str(stored)


async def test_a_pdfs_text_reaches_the_model_marked_untrusted(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    pdf = pdf_with_text("The launch code is pineapple")
    tg.enqueue_document(PDF, PDF, pdf, "brief.pdf", "application/pdf", caption="summarise")

    await wait(shared, lambda: any("pineapple" in t for t in texts(tg, PDF)))
    content = last_user_content(llm)
    assert content.startswith("summarise\n\n<untrusted-content source='brief.pdf'>")
    assert "The launch code is pineapple" in content
    assert content.endswith("</untrusted-content>")
    (meta,) = query(
        shared.path,
        "SELECT meta FROM minibot_messages WHERE conversation = ? AND role = 'user'",
        f"telegram:{PDF}",
    )
    assert json.loads(meta[0])["untrusted"] == "document"


async def test_a_corrupt_pdf_and_an_unsupported_file_each_get_their_message(
    shared: Shared,
) -> None:
    tg, llm = shared.tg, shared.llm
    before = len(llm.requests)
    tg.enqueue_document(BAD_FILES, BAD_FILES, broken_pdf(), "report.pdf", "application/pdf")
    await wait(shared, lambda: len(texts(tg, BAD_FILES)) == 1)
    tg.enqueue_document(
        BAD_FILES, BAD_FILES, b"MZ\x90\x00", "setup.exe", "application/x-msdownload"
    )
    await wait(shared, lambda: len(texts(tg, BAD_FILES)) == 2)

    corrupt, unsupported = texts(tg, BAD_FILES)
    assert corrupt == "I can't read report.pdf: it looks damaged or is not a real PDF."
    assert unsupported == (
        "I can't read exe files. I read these kinds of documents: pdf, docx, txt, md, markdown."
    )
    assert len(llm.requests) == before, "the model was not asked"


async def test_generate_image_ends_in_one_photo_and_a_usage_row(shared: Shared) -> None:
    tg, llm = shared.tg, shared.llm
    llm.script(
        Script.tool_call("generate_image", json.dumps({"prompt": "a red fox in snow"})),
        Script.reply("Here is your fox."),
    )
    tg.enqueue_text(IMAGE, IMAGE, "draw me a fox")

    await wait(shared, lambda: "Here is your fox." in texts(tg, IMAGE))
    (photo,) = tg.media_to(IMAGE)
    assert photo.method == "sendPhoto" and photo.data == png_bytes()
    assert photo.caption == "a red fox in snow"
    assert llm.media_calls("generations")[-1].body["model"] == "image-test"
    await settled(lambda: bool(usage_rows(shared.path, IMAGE, "image")))
    assert usage_rows(shared.path, IMAGE, "image") == [("image-test", 1.0, pytest.approx(0.04))]
    assert len(usage_rows(shared.path, IMAGE, "chat")) == 2, "both model calls are chat rows"


@pytest.mark.slow
@pytest.mark.timeout(400)  # two daemon starts, each slow on a busy machine
async def test_generate_image_killed_mid_turn_sends_one_photo_after_the_restart(
    tmp_path: Path,
) -> None:
    draw = Script.tool_call("generate_image", json.dumps({"prompt": "a fox"}))
    async with llm_server() as llm, FakeTelegramServer() as tg:
        # The photo goes out; the model's next answer never comes: the daemon dies mid-turn.
        llm.script(draw, Script.slow(120))
        config = telegram_config(tmp_path, llm, tg, users=(IMAGE,), extra=MEDIA)
        first = Daemon(config, tmp_path / "first.log", PATIENT)
        second = Daemon(config, tmp_path / "second.log", PATIENT)
        try:
            await first.start()
            tg.enqueue_text(IMAGE, IMAGE, "draw a fox")
            await until(first, tg, lambda: len(tg.media_to(IMAGE)) == 1, START_SECONDS)
            await until_true(lambda: bool(image_deliveries(tmp_path)), WAIT_SECONDS)
            await first.kill()

            # The restart handles the message again; the model asks for the image again.
            llm.script(draw, Script.reply("Here is your fox."))
            await second.start()
            await until(second, tg, lambda: "Here is your fox." in texts(tg, IMAGE), START_SECONDS)
            assert await second.stop() == 0
        finally:
            for daemon in (first, second):
                if daemon.alive:
                    await daemon.kill()
    assert [m.method for m in tg.media_to(IMAGE)] == ["sendPhoto"], "one photo, not two"
    assert len(llm.media_calls("generations")) == 1, "the image delivered is not made again"
    assert texts(tg, IMAGE) == ["Here is your fox."]


def image_deliveries(path: Path) -> list[tuple[Any, ...]]:
    return query(path, "SELECT 1 FROM minibot_deliveries WHERE turn_id LIKE '%generate_image%'")


@pytest.mark.slow
@pytest.mark.timeout(400)  # two daemon starts, each slow on a busy machine
async def test_a_voice_note_and_a_photo_killed_mid_turn_are_downloaded_again_after_the_restart(
    tmp_path: Path,
) -> None:
    audio = ogg_opus_bytes()
    photo = b"\xff\xd8\xff\xe0 a small jpeg" + bytes(range(256))
    heard = "what is the capital of France"
    async with llm_server() as llm, FakeTelegramServer() as tg:
        # Both turns reach the model, whose answers never come: the daemon dies mid-turn.
        llm.script(Script.slow(120), Script.slow(120))
        config = telegram_config(tmp_path, llm, tg, users=(VOICE, PHOTO), extra=MEDIA)
        first = Daemon(config, tmp_path / "first.log", PATIENT)
        second = Daemon(config, tmp_path / "second.log", PATIENT)
        try:
            await first.start()
            llm.transcripts.append(heard)
            voice_id = tg.enqueue_voice(VOICE, VOICE, audio, duration=4)
            await until(first, tg, lambda: asked(llm, heard) == 1, START_SECONDS)
            photo_id = tg.enqueue_photo(PHOTO, PHOTO, photo, caption="what is this?")
            await until(first, tg, lambda: asked_with_image(llm) == 1, WAIT_SECONDS)
            await first.kill()
            assert not any(t.startswith("echo:") for t in texts(tg, VOICE) + texts(tg, PHOTO))

            # The inbox kept the updates (the file ids, never the bytes): the restart
            # downloads both files again before it replays the turns.
            llm.transcripts.append(heard)
            await second.start()
            await until(second, tg, lambda: f"echo: {heard}" in texts(tg, VOICE), START_SECONDS)
            await until(second, tg, lambda: "echo: what is this?" in texts(tg, PHOTO))
            assert await second.stop() == 0
        finally:
            for daemon in (first, second):
                if daemon.alive:
                    await daemon.kill()
    asked_for = [call.params.get("file_id") for call in tg.calls_of("getFile")]
    assert asked_for.count(voice_id) == 2 and asked_for.count(photo_id) == 2
    transcribed = [call.body["file_bytes"] for call in llm.media_calls("transcriptions")]
    assert transcribed == [audio, audio], "the voice note was fetched and transcribed again"
    assert asked_with_image(llm) == 2, "the photo reached the model again, as an image part"
    # The transcript notice went out in the first run; the restart does not say it again.
    assert texts(tg, VOICE) == [f"🎙 “{heard}”", f"echo: {heard}"]
    assert texts(tg, PHOTO) == ["echo: what is this?"]
    inbox = query(tmp_path, "SELECT payload FROM minibot_inbox")
    assert inbox and all(base64.b64encode(photo).decode()[:40] not in p for (p,) in inbox)


def asked_with_image(llm: FakeOpenAIServer) -> int:
    """How many chat requests carried an image part in their last user message."""
    count = 0
    for request in llm.requests:
        users = [m for m in request.body.get("messages", []) if m.get("role") == "user"]
        content = users[-1].get("content") if users else None
        count += isinstance(content, list) and any(
            part.get("type") == "image_url" for part in content
        )
    return count
