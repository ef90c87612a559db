"""Turns the file a person sent into what the model reads: a transcript, an image, text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from minibot.app.media.media_budget import MediaBudget
from minibot.app.media.media_usage import MediaUsage
from minibot.core.errors import MediaTooLarge, MediaUnsupported
from minibot.core.media import (
    MEDIA_REFERENCE,
    UNTRUSTED,
    ImagePart,
    MediaAttachment,
    MediaKind,
    untrusted_block,
)
from minibot.core.messages import IncomingMessage
from minibot.core.ports.media import DocumentReader, MediaSource, Transcriber
from minibot.core.usage import UsageKind

log = logging.getLogger(__name__)

# Telegram sends photos as JPEG; a document that is an image names its own type.
_PHOTO_MIME = "image/jpeg"
NO_VISION = (
    "I can't see images with the model this conversation uses, so I can't tell what is "
    "in that photo. Describe it in words, or ask whoever runs me to use a model that "
    "accepts images."
)

# Stores a downloaded file beside the turn (`[media] keep`); None keeps nothing.
Keeper = Callable[[MediaAttachment, bytes], None]


@dataclass(frozen=True, slots=True)
class MediaLimits:
    max_audio_seconds: int
    max_file_bytes: int
    max_document_chars: int
    vision: bool


@dataclass(frozen=True, slots=True)
class TurnInput:
    """What one message with a file becomes: the user's turn text, images to show the
    model in this turn only, what the stored message keeps about the file (`meta`), and
    notices to tell the person first (the transcript, a cut document)."""

    text: str
    images: tuple[ImagePart, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    by_voice: bool = False


class MediaReader:
    """Checks the platform's size and length against the limits before downloading,
    downloads through the message's channel (`sources`, by channel name), and reads:
    audio is transcribed (a usage row), a photo becomes an image part (or a refusal when
    the model cannot see), a document becomes text, cut at `max_document_chars` and
    wrapped as untrusted content. Raises `MediaError` with a reason to say as it is, and
    `BudgetExceeded` (before downloading) when a transcription would cross a budget."""

    def __init__(
        self,
        *,
        sources: Mapping[str, MediaSource],
        transcriber: Transcriber,
        documents: DocumentReader,
        usage: MediaUsage,
        limits: MediaLimits,
        keep: Keeper | None = None,
        show_transcript: bool = False,
        budget: MediaBudget | None = None,
    ) -> None:
        self._sources = sources
        self._transcriber = transcriber
        self._documents = documents
        self._usage = usage
        self._limits = limits
        self._keep = keep
        self._show_transcript = show_transcript
        self._budget = budget

    async def read(self, message: IncomingMessage, *, owner_id: str) -> TurnInput:
        attachment = message.media
        assert attachment is not None
        self._check(attachment)
        if attachment.kind.is_audio and self._budget is not None:
            # Before the download: priced by the length the platform reported.
            seconds = float(attachment.duration_seconds or 0)
            await self._budget.check(owner_id, UsageKind.TRANSCRIPTION, seconds)
        data = await self._download(message, attachment)
        caption = message.text.strip()
        if attachment.kind.is_audio:
            return await self._transcribe(message, attachment, data, caption, owner_id)
        meta = {MEDIA_REFERENCE: attachment.reference}
        if attachment.kind is MediaKind.PHOTO or attachment.mime_type.startswith("image/"):
            image = ImagePart(attachment.mime_type or _PHOTO_MIME, data, attachment.reference)
            text = caption or "(The user sent this image without a caption.)"
            return TurnInput(text, images=(image,), meta=meta)
        return await self._document(attachment, data, caption, meta)

    def _check(self, attachment: MediaAttachment) -> None:
        """Refusals that need no download: too long, too large, not readable at all."""
        limits = self._limits
        seconds = attachment.duration_seconds
        if attachment.kind.is_audio and seconds is not None and seconds > limits.max_audio_seconds:
            raise MediaTooLarge(
                f"That recording is {_duration(seconds)} long; I take recordings of up to "
                f"{_duration(limits.max_audio_seconds)}. Send a shorter one, or type it."
            )
        size = attachment.size_bytes
        if size is not None and size > limits.max_file_bytes:
            raise MediaTooLarge(
                f"That file is {_megabytes(size)}; I take files of up to "
                f"{_megabytes(limits.max_file_bytes)}."
            )
        is_image = attachment.kind is MediaKind.PHOTO or attachment.mime_type.startswith("image/")
        if is_image and not limits.vision:
            raise MediaUnsupported(NO_VISION)
        if attachment.kind is MediaKind.DOCUMENT and not is_image:
            self._supported_document(attachment)

    def _supported_document(self, attachment: MediaAttachment) -> None:
        name = attachment.file_name.lower()
        supported = self._documents.supported
        if not any(name.endswith(f".{ext}") for ext in supported):
            kind = name.rsplit(".", 1)[-1] if "." in name else attachment.mime_type or "this"
            raise MediaUnsupported(
                f"I can't read {kind} files. I read these kinds of documents: "
                + ", ".join(supported)
                + "."
            )

    async def _download(self, message: IncomingMessage, attachment: MediaAttachment) -> bytes:
        source = self._sources.get(message.conversation.channel)
        if source is None:
            raise MediaUnsupported("I can't download files on this channel yet.")
        data = await source.fetch(attachment, max_bytes=self._limits.max_file_bytes)
        if len(data) > self._limits.max_file_bytes:
            raise MediaTooLarge(
                f"That file is {_megabytes(len(data))}; I take files of up to "
                f"{_megabytes(self._limits.max_file_bytes)}."
            )
        if self._keep is not None:
            try:
                await asyncio.to_thread(self._keep, attachment, data)
            except OSError as exc:
                log.warning("downloaded file not kept", extra={"error": repr(exc)})
        return data

    async def _transcribe(
        self,
        message: IncomingMessage,
        attachment: MediaAttachment,
        data: bytes,
        caption: str,
        owner_id: str,
    ) -> TurnInput:
        transcript = await self._transcriber.transcribe(
            data,
            file_name=attachment.file_name or _audio_name(attachment),
            mime_type=attachment.mime_type or "audio/ogg",
            seconds=float(attachment.duration_seconds or 0),
        )
        await self._usage.record(
            owner_id=owner_id,
            conversation=message.conversation,
            kind=UsageKind.TRANSCRIPTION,
            model=transcript.model,
            quantity=transcript.seconds,
        )
        heard = transcript.text.strip()
        if not heard:
            raise MediaUnsupported("I couldn't make out any words in that recording.")
        text = f"{caption}\n\n{heard}" if caption else heard
        notices = (f"🎙 “{heard}”",) if self._show_transcript else ()
        meta = {MEDIA_REFERENCE: attachment.reference}
        return TurnInput(text, meta=meta, notices=notices, by_voice=True)

    async def _document(
        self, attachment: MediaAttachment, data: bytes, caption: str, meta: dict[str, str]
    ) -> TurnInput:
        name = attachment.file_name or "document"
        # PDF parsing is CPU work: off the event loop, so other chats are not held up.
        text = await asyncio.to_thread(
            self._documents.read, data, file_name=name, mime_type=attachment.mime_type
        )
        cap = self._limits.max_document_chars
        notices: tuple[str, ...] = ()
        if len(text) > cap:
            note = (
                f"{name} is long: I read its first {cap:,} characters "
                f"of {len(text):,}; ask about a part to have it sent on its own."
            )
            text = text[:cap] + f"\n[cut here: the first {cap:,} of {len(text):,} characters]"
            notices = (note,)
        if not text.strip():
            text = "(The document has no text I could extract: it may be scanned images.)"
        body = untrusted_block(name, text)
        request = caption or "The user sent this document."
        return TurnInput(
            f"{request}\n\n{body}", meta={**meta, UNTRUSTED: "document"}, notices=notices
        )


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _audio_name(attachment: MediaAttachment) -> str:
    return "video.mp4" if attachment.kind is MediaKind.VIDEO_NOTE else "voice.ogg"
