"""Slack files: what a message's `files` say (before download), and their download."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from minibot.core.errors import MediaServiceFailed, MediaTooLarge
from minibot.core.media import MediaAttachment, MediaKind

_CHUNK_BYTES = 65536
_DOWNLOAD_TIMEOUT_SECONDS = 120
# Slack serves files from here; a fake or an enterprise proxy from the Web API's own host.
_SLACK_FILES_HOST = "files.slack.com"


def attachment_of(event: dict[str, Any]) -> MediaAttachment | None:
    """The first file of a `message` event, as minibot reads it: a voice clip or audio
    file is transcribed, an image is shown to the model, anything else is a document.
    None when the message carries no file (or Slack only shows a file's placeholder,
    `mode: tombstone` / `hidden_by_limit`)."""
    files = event.get("files")
    if not isinstance(files, list):
        return None
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        if item.get("mode") in ("tombstone", "hidden_by_limit"):
            continue
        mime = str(item.get("mimetype") or "")
        name = str(item.get("name") or "")
        size = item.get("size")
        size_bytes = size if isinstance(size, int) and size >= 0 else None
        return MediaAttachment(
            _kind(item, mime), item["id"], mime, name, size_bytes, _seconds(item)
        )
    return None


def _kind(item: dict[str, Any], mime: str) -> MediaKind:
    subtype = item.get("subtype")
    if subtype == "slack_audio":
        return MediaKind.VOICE  # a clip recorded in Slack, whatever type it names
    if subtype == "slack_video":
        return MediaKind.VIDEO_NOTE  # a video clip: its sound is transcribed
    if mime.startswith("audio/"):
        return MediaKind.AUDIO
    if mime.startswith("image/"):
        return MediaKind.PHOTO
    return MediaKind.DOCUMENT


def _seconds(item: dict[str, Any]) -> int | None:
    duration = item.get("duration_ms")
    if isinstance(duration, int | float) and duration > 0:
        return math.ceil(duration / 1000)
    return None


def _too_large(size: int, max_bytes: int) -> MediaTooLarge:
    return MediaTooLarge(
        f"That file is {size / 1_000_000:.1f} MB; I take files of up to "
        f"{max_bytes / 1_000_000:.1f} MB."
    )


def download_url(info: dict[str, Any], api_base: str, *, max_bytes: int) -> str:
    """The file's `url_private_download` from its `files.info` answer, after the size
    Slack reports is checked. The bot token goes along as Bearer: only to Slack's file
    host (or the Web API's own host), never to a URL elsewhere."""
    size = info.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise _too_large(size, max_bytes)
    url = info.get("url_private_download") or info.get("url_private")
    if not isinstance(url, str) or not url:
        raise MediaServiceFailed("Slack would not hand over that file; try again.")
    host = urlsplit(url).hostname
    if host not in (_SLACK_FILES_HOST, urlsplit(api_base).hostname):
        raise MediaServiceFailed("Slack named a download address outside Slack; not fetched.")
    return url


async def download(
    session: aiohttp.ClientSession, url: str, token: str, *, max_bytes: int
) -> bytes:
    """The file's bytes, streamed and cut off past `max_bytes`."""
    received = bytearray()
    try:
        async with session.get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=_DOWNLOAD_TIMEOUT_SECONDS),
            allow_redirects=False,
        ) as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                received += chunk
                if len(received) > max_bytes:
                    raise _too_large(len(received), max_bytes)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise MediaServiceFailed(
            f"The file could not be downloaded from Slack ({type(exc).__name__}); try again."
        ) from exc
    return bytes(received)
