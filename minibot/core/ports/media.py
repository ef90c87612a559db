"""Ports: fetching what people send, and the speech, transcription and image services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from minibot.core.conversation import ConversationKey
from minibot.core.media import MediaAttachment, VoiceMode


@runtime_checkable
class MediaSource(Protocol):
    """A channel that can download what its people send. `fetch` downloads one
    attachment through the platform's file API and returns its bytes; it raises
    `MediaTooLarge` (before downloading, when the platform tells the size) for a file
    past `max_bytes`, and `MediaServiceFailed` when the platform will not hand it over."""

    async def fetch(self, attachment: MediaAttachment, *, max_bytes: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    model: str
    seconds: float  # the audio's length, as the service or the platform told it


@dataclass(frozen=True, slots=True)
class Speech:
    data: bytes  # OGG/Opus
    model: str
    seconds: float  # estimated from the text: what speech is priced by


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    data: bytes
    mime_type: str
    model: str


class Transcriber(Protocol):
    """Speech to text (an OpenAI-compatible `/v1/audio/transcriptions`). Raises
    `MediaServiceFailed` when the service fails for good."""

    async def transcribe(
        self, audio: bytes, *, file_name: str, mime_type: str, seconds: float
    ) -> Transcript: ...


class SpeechSynthesizer(Protocol):
    """Text to an OGG/Opus voice note (`/v1/audio/speech`). Raises `MediaServiceFailed`."""

    async def speak(self, text: str) -> Speech: ...


class ImageGenerator(Protocol):
    """A prompt to one image (`/v1/images/generations`). Raises `MediaServiceFailed`."""

    async def generate(self, prompt: str) -> GeneratedImage: ...


class DocumentReader(Protocol):
    """A document's text. `supported` lists the kinds it reads (for the refusal);
    `read` raises `MediaUnsupported` for another kind and `MediaUnreadable` for a
    corrupt or password-protected file."""

    @property
    def supported(self) -> tuple[str, ...]: ...

    def read(self, data: bytes, *, file_name: str, mime_type: str) -> str: ...


class VoicePreferences(Protocol):
    """Each conversation's `/voice` mode; one never set is OFF."""

    async def mode(self, conversation: ConversationKey) -> VoiceMode: ...

    async def set_mode(self, conversation: ConversationKey, mode: VoiceMode) -> None: ...
