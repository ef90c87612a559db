"""In-memory fakes of the media ports: a channel's files, speech, transcripts, /voice."""

from __future__ import annotations

from dataclasses import dataclass, field

from minibot.core.conversation import ConversationKey
from minibot.core.errors import MediaServiceFailed
from minibot.core.media import MediaAttachment, VoiceMode
from minibot.core.ports.media import Speech, Transcript


@dataclass
class InMemoryMediaSource:
    """Files by id, as a platform's file API would hand them over."""

    files: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, attachment: MediaAttachment, *, max_bytes: int) -> bytes:
        self.fetched.append(attachment.file_id)
        return self.files[attachment.file_id]


@dataclass
class ScriptedTranscriber:
    text: str = "heard words"
    model: str = "whisper-fake"

    async def transcribe(
        self, audio: bytes, *, file_name: str, mime_type: str, seconds: float
    ) -> Transcript:
        return Transcript(self.text, self.model, seconds)


@dataclass
class ScriptedSpeech:
    failing: bool = False
    spoken: list[str] = field(default_factory=list)

    async def speak(self, text: str) -> Speech:
        if self.failing:
            raise MediaServiceFailed("the speech service answered HTTP 500")
        self.spoken.append(text)
        return Speech(b"OggS" + text.encode(), "tts-fake", 1.5)


@dataclass
class InMemoryVoicePreferences:
    modes: dict[ConversationKey, VoiceMode] = field(default_factory=dict)

    async def mode(self, conversation: ConversationKey) -> VoiceMode:
        return self.modes.get(conversation, VoiceMode.OFF)

    async def set_mode(self, conversation: ConversationKey, mode: VoiceMode) -> None:
        self.modes[conversation] = mode
