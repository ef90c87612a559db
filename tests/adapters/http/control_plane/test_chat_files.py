"""Files on the web chat, over real HTTP to the daemon in process (fake Bot API, fake
OpenAI server): a recording is transcribed and answered, a photo reaches the model as an
image part, a document's text arrives marked untrusted, an oversized body is refused
before it is read, the CSRF token is required; spoken answers and generated images are
shown on the page and served to the owner only."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.adapters.http.control_plane.daemon_harness import TOKEN, Running, running_daemon
from tests.fakes.documents import pdf_with_text
from tests.fakes.openai_server import FakeOpenAIServer, Script, ogg_opus_bytes, png_bytes

pytestmark = [pytest.mark.timeout(90), pytest.mark.asyncio(loop_scope="module")]

MAX_FILE_BYTES = 100_000
MEDIA = {
    "transcription_model": "whisper-test",
    "tts_model": "tts-test",
    "image_model": "image-test",
    "max_file_bytes": MAX_FILE_BYTES,
    "max_audio_seconds": 60,
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def minibot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    tmp_path: Path = tmp_path_factory.mktemp("chat-files")
    async with running_daemon(tmp_path, media=MEDIA) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def api(minibot: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with minibot.client() as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not (found := await check()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return found


async def replies(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await api.get("/api/v1/chat/messages")).json()["replies"]
    return found


async def reply_with(api: httpx.AsyncClient, text: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        return next((r for r in await replies(api) if r["text"] == text), None)

    found: dict[str, Any] = await eventually(find)
    return found


def uploads(minibot: Running) -> list[str]:
    path = Path(minibot.settings.control_plane.upload_path)
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def last_user_content(llm: FakeOpenAIServer) -> Any:
    users = [m for m in llm.requests[-1].body["messages"] if m["role"] == "user"]
    return users[-1]["content"]


async def post_file(
    api: httpx.AsyncClient,
    name: str,
    data: bytes,
    mime: str,
    **fields: str,
) -> httpx.Response:
    return await api.post("/api/v1/chat/files", data=fields, files={"file": (name, data, mime)})


async def test_a_recording_is_transcribed_and_its_text_answered(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    audio = ogg_opus_bytes()
    minibot.llm.transcripts.append("what is the capital of France")
    posted = await post_file(
        api, "blob", audio, "audio/webm", voice="1", duration_seconds="3.2", message_id="rec-1"
    )
    assert posted.status_code == 202, posted.text
    assert posted.json()["kind"] == "voice"

    await reply_with(api, "echo: what is the capital of France")
    call = minibot.llm.media_calls("transcriptions")[-1]
    assert call.body["file_bytes"] == audio, "the recording posted was transcribed"
    assert call.body["model"] == "whisper-test"
    await eventually(lambda: _true(uploads(minibot) == []))


async def test_a_recording_too_long_is_refused_without_transcribing_it(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    transcribed = len(minibot.llm.media_calls("transcriptions"))
    posted = await post_file(
        api, "blob", ogg_opus_bytes(), "audio/webm", voice="1", duration_seconds="3600"
    )
    assert posted.status_code == 202, posted.text

    async def refused() -> bool:
        return any("up to 1 min" in r["text"] for r in await replies(api))

    await eventually(refused)
    assert len(minibot.llm.media_calls("transcriptions")) == transcribed
    await eventually(lambda: _true(uploads(minibot) == []))


async def test_a_photo_reaches_the_model_as_an_image_part(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    posted = await post_file(api, "cat.png", PNG, "image/png", text="what is in this photo?")
    assert posted.status_code == 202, posted.text

    await reply_with(api, "echo: what is in this photo?")
    content = last_user_content(minibot.llm)
    assert content[0] == {"type": "text", "text": "what is in this photo?"}
    url = content[1]["image_url"]["url"]
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()


async def test_a_documents_text_reaches_the_model_marked_untrusted(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    pdf = pdf_with_text("The launch code is pineapple")
    posted = await post_file(api, "brief.pdf", pdf, "application/pdf", text="summarise")
    assert posted.status_code == 202, posted.text

    async def answered() -> bool:
        return any("pineapple" in r["text"] for r in await replies(api))

    await eventually(answered)
    content = last_user_content(minibot.llm)
    assert content.startswith("summarise\n\n<untrusted-content source='brief.pdf'>")
    assert "The launch code is pineapple" in content


async def test_an_unsupported_file_is_told_so_without_asking_the_model(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    before = len(minibot.llm.requests)
    posted = await post_file(api, "setup.exe", b"MZ\x90\x00", "application/x-msdownload")
    assert posted.status_code == 202, posted.text
    await reply_with(
        api,
        "I can't read exe files. I read these kinds of documents: pdf, docx, txt, md, markdown.",
    )
    assert len(minibot.llm.requests) == before


async def test_an_oversized_body_is_refused_before_it_is_read(minibot: Running) -> None:
    port = minibot.settings.control_plane.listen_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                "POST /api/v1/chat/files HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                "Content-Length: 50000000\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        # Not one byte of the body is sent: only a server that refuses first answers.
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


async def test_a_body_without_a_length_is_cut_off_at_the_cap(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    before = uploads(minibot)

    async def body() -> AsyncIterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        yield b"Content-Type: text/plain\r\n\r\n"
        for _ in range(40):
            yield b"a" * 10_000
        yield b"\r\n--x--\r\n"

    posted = await api.post(
        "/api/v1/chat/files",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert posted.status_code == 413, posted.text
    assert "0.1 MB" in posted.json()["message"]
    assert uploads(minibot) == before, "nothing of it was kept"


async def test_bad_forms_get_a_clear_error(api: httpx.AsyncClient) -> None:
    no_file = await api.post("/api/v1/chat/files", files={"text": (None, "hello")})
    assert no_file.status_code == 422 and no_file.json()["field"] == "file"
    fake_image = await post_file(api, "cat.png", b"not an image at all", "image/png")
    assert fake_image.status_code == 422
    assert "PNG, JPEG, GIF or WebP" in fake_image.json()["message"]
    bad_id = await post_file(api, "a.txt", b"hi", "text/plain", message_id="../../x")
    assert bad_id.status_code == 422 and bad_id.json()["field"] == "message_id"
    not_form = await api.post("/api/v1/chat/files", json={"file": "x"})
    assert not_form.status_code == 415
    no_boundary = await api.post(
        "/api/v1/chat/files", content=b"x", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 400 and no_boundary.json()["error"] == "invalid_body"


async def test_a_session_needs_the_csrf_token_to_post_a_file(minibot: Running) -> None:
    async with minibot.client(token=None) as browser:
        anonymous = await post_file(browser, "a.txt", b"hi", "text/plain")
        assert anonymous.status_code == 401
        logged_in = await browser.post("/login", data={"token": TOKEN})
        assert logged_in.status_code in (200, 303), logged_in.text
        page = await browser.get("/chat")
        assert 'id="chat-file"' in page.text, "the chat page offers a file picker"
        match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert match is not None
        refused = await post_file(browser, "a.txt", b"hi", "text/plain")
        assert refused.status_code == 403 and refused.json()["error"] == "csrf"
        accepted = await browser.post(
            "/api/v1/chat/files",
            files={"file": ("notes.txt", b"buy milk", "text/plain")},
            headers={"X-CSRF-Token": match.group(1)},
        )
        assert accepted.status_code == 202, accepted.text


async def test_a_spoken_answer_is_an_audio_element_served_to_the_owner_only(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    said = await api.post("/api/v1/chat/messages", json={"text": "/voice on"})
    assert said.status_code == 202
    await eventually(lambda: _any_text(api, "Voice is on"))
    await api.post("/api/v1/chat/messages", json={"text": "say hi"})

    async def spoken() -> dict[str, Any] | None:
        return next((r for r in await replies(api) if r["media"]), None)

    reply = await eventually(spoken)
    (voice,) = reply["media"]
    assert voice["kind"] == "voice" and voice["mime"] == "audio/ogg"
    served = await api.get(voice["url"])
    assert served.status_code == 200 and served.content == ogg_opus_bytes()
    assert served.headers["content-type"] == "audio/ogg"
    assert served.headers["x-content-type-options"] == "nosniff"
    async with minibot.client(token=None) as stranger:
        assert (await stranger.get(voice["url"])).status_code == 401
    page = await api.get("/chat")
    assert f'<audio controls src="{voice["url"]}">' in page.text
    await api.post("/api/v1/chat/messages", json={"text": "/voice off"})
    await eventually(lambda: _any_text(api, "Voice is off"))


async def test_a_generated_image_is_shown_on_the_page(
    minibot: Running, api: httpx.AsyncClient
) -> None:
    minibot.llm.script(
        Script.tool_call("generate_image", json.dumps({"prompt": "a red fox in snow"})),
        Script.reply("Here is your fox."),
    )
    await api.post("/api/v1/chat/messages", json={"text": "draw me a fox"})
    await reply_with(api, "Here is your fox.")
    (image,) = [m for r in await replies(api) for m in r["media"] if m["kind"] == "photo"]
    served = await api.get(image["url"])
    assert served.status_code == 200 and served.content == png_bytes()
    page = await api.get("/chat")
    assert f'<img class="reply-image" src="{image["url"]}"' in page.text
    assert (await api.get("/api/v1/chat/media/" + "0" * 24)).status_code == 404


async def test_uploads_are_never_served(minibot: Running, api: httpx.AsyncClient) -> None:
    hold = minibot.llm
    hold.script(Script.slow(1.5))
    posted = await post_file(api, "cat.png", PNG, "image/png", text="slow one")
    assert posted.status_code == 202
    kept = await eventually(lambda: _nonempty(uploads(minibot)))
    for upload_id in kept:
        assert (await api.get(f"/api/v1/chat/media/{upload_id}")).status_code == 404
    await reply_with(api, "echo: slow one")


async def _true(value: bool) -> bool:
    return value


async def _nonempty(values: list[str]) -> list[str]:
    return values


async def _any_text(api: httpx.AsyncClient, part: str) -> bool:
    return any(part in r["text"] for r in await replies(api))
