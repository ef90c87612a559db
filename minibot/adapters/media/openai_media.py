"""Transcription, speech and images over OpenAI-compatible HTTP endpoints (aiohttp)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from minibot.core.errors import MediaServiceFailed
from minibot.core.media import speech_seconds
from minibot.core.ports.media import GeneratedImage, Speech, Transcript

if TYPE_CHECKING:
    # Imported when a request is first made: a daemon that never sees media (or runs
    # only the console) does not pay for aiohttp at start-up.
    import aiohttp

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
_ATTEMPTS = 2  # one retry of a transient failure: media waits on a person, not a queue
_RETRY_DELAY_SECONDS = 1.0
_MAX_IMAGE_BYTES = 50_000_000


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one service is: `base_url` ends in /v1 (empty: OpenAI's)."""

    base_url: str
    api_key: str
    model: str
    timeout_seconds: float

    def url(self, path: str) -> str:
        return f"{(self.base_url or OPENAI_BASE_URL).rstrip('/')}/{path}"


class _OpenAiHttp:
    """One aiohttp session (made on first use, on the running loop), a retry of
    transient failures, and the service's errors as `MediaServiceFailed`. The key goes
    in the Authorization header only, never in a log."""

    service = "media"

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._session: aiohttp.ClientSession | None = None

    @property
    def model(self) -> str:
        return self._endpoint.model

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            headers = {}
            if self._endpoint.api_key:
                headers["Authorization"] = f"Bearer {self._endpoint.api_key}"
            timeout = aiohttp.ClientTimeout(total=self._endpoint.timeout_seconds)
            self._session = aiohttp.ClientSession(headers=headers, timeout=timeout)
        return self._session

    async def _post(
        self, path: str, *, json: dict[str, Any] | None = None, form: Any = None
    ) -> bytes:
        import aiohttp

        url = self._endpoint.url(path)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                data = form() if callable(form) else None  # a form is read once: made anew
                async with self._client().post(url, json=json, data=data) as response:
                    body = await response.read()
                    if response.status < 300:
                        return body
                    transient = response.status == 429 or response.status >= 500
                    reason = f"the {self.service} service answered HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                transient, reason = True, f"the {self.service} service is unreachable ({exc!r})"
            if not transient or attempt == _ATTEMPTS:
                log.warning(f"{self.service} request failed", extra={"error": reason})
                raise MediaServiceFailed(reason)
            await asyncio.sleep(_RETRY_DELAY_SECONDS)
        raise AssertionError("unreachable")

    @staticmethod
    def _json(body: bytes, service: str) -> dict[str, Any]:
        import json

        try:
            value = json.loads(body)
        except ValueError as exc:
            raise MediaServiceFailed(
                f"the {service} service answered something unreadable"
            ) from exc
        if not isinstance(value, dict):
            raise MediaServiceFailed(f"the {service} service answered something unreadable")
        return value


class OpenAiTranscriber(_OpenAiHttp):
    """`Transcriber` over `/v1/audio/transcriptions` (OpenAI, or a local whisper server)."""

    service = "transcription"

    async def transcribe(
        self, audio: bytes, *, file_name: str, mime_type: str, seconds: float
    ) -> Transcript:
        import aiohttp

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("model", self.model)
            data.add_field("response_format", "json")
            data.add_field("file", audio, filename=file_name, content_type=mime_type)
            return data

        answer = self._json(await self._post("audio/transcriptions", form=form), self.service)
        text = answer.get("text")
        if not isinstance(text, str):
            raise MediaServiceFailed("the transcription service answered without a text")
        heard = answer.get("duration")
        length = float(heard) if isinstance(heard, int | float) and heard > 0 else seconds
        return Transcript(text, self.model, length)


class OpenAiSpeech(_OpenAiHttp):
    """`SpeechSynthesizer` over `/v1/audio/speech`, asking for Opus in OGG: what
    Telegram shows as a voice note. Nothing is re-encoded here."""

    service = "speech"

    def __init__(self, endpoint: Endpoint, *, voice: str) -> None:
        super().__init__(endpoint)
        self._voice = voice

    async def speak(self, text: str) -> Speech:
        body = {"model": self.model, "input": text, "voice": self._voice, "response_format": "opus"}
        data = await self._post("audio/speech", json=body)
        if not data:
            raise MediaServiceFailed("the speech service answered no audio")
        return Speech(data, self.model, speech_seconds(text))


class OpenAiImages(_OpenAiHttp):
    """`ImageGenerator` over `/v1/images/generations`: one image, as base64 in the
    answer or (older models) at a URL fetched at once."""

    service = "image"

    def __init__(self, endpoint: Endpoint, *, size: str) -> None:
        super().__init__(endpoint)
        self._size = size

    async def generate(self, prompt: str) -> GeneratedImage:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1, "size": self._size}
        if self.model.startswith("dall-e"):
            body["response_format"] = "b64_json"  # newer models always answer base64
        answer = self._json(await self._post("images/generations", json=body), self.service)
        items = answer.get("data")
        first = items[0] if isinstance(items, list) and items else None
        if not isinstance(first, dict):
            raise MediaServiceFailed("the image service answered no image")
        if isinstance(first.get("b64_json"), str):
            try:
                data = base64.b64decode(first["b64_json"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediaServiceFailed("the image service answered a broken image") from exc
        elif isinstance(first.get("url"), str):
            data = await self._fetch(first["url"])
        else:
            raise MediaServiceFailed("the image service answered no image")
        return GeneratedImage(data, _image_type(data), self.model)

    async def _fetch(self, url: str) -> bytes:
        import aiohttp

        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self._endpoint.timeout_seconds)
                ) as session,
                session.get(url) as response,
            ):
                if response.status >= 300:
                    raise MediaServiceFailed(f"the image URL answered HTTP {response.status}")
                data = await response.content.read(_MAX_IMAGE_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaServiceFailed(f"the image could not be fetched ({exc!r})") from exc
        if len(data) > _MAX_IMAGE_BYTES:
            raise MediaServiceFailed("the image is too large")
        return data


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"
