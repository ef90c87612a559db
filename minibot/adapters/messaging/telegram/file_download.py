"""Downloads what people send through the Bot API's file API (getFile, then the file URL)."""

from __future__ import annotations

import io

import aiohttp
from aiogram import Bot

from minibot.adapters.messaging.telegram.api_errors import call_api
from minibot.core.errors import ChannelError, MediaServiceFailed, MediaTooLarge
from minibot.core.media import MediaAttachment

_CHUNK_BYTES = 65536
_DOWNLOAD_TIMEOUT_SECONDS = 120


def _too_large(size: int, max_bytes: int) -> MediaTooLarge:
    return MediaTooLarge(
        f"That file is {size / 1_000_000:.1f} MB; I take files of up to "
        f"{max_bytes / 1_000_000:.1f} MB."
    )


async def download(bot: Bot, attachment: MediaAttachment, *, max_bytes: int) -> bytes:
    """The file's bytes, from `<api_base>/file/bot<token>/<path>` (so a local Bot API
    server or a fake serves it too). Refused when getFile tells a size past `max_bytes`,
    and cut off when the download runs past it."""
    try:
        found = await call_api("", lambda: bot.get_file(attachment.file_id))
    except ChannelError as exc:
        if "too big" in str(exc).lower():
            raise MediaTooLarge(
                "That file is too large for Telegram to hand to bots (20 MB at most)."
            ) from exc
        raise MediaServiceFailed("Telegram would not hand over that file; try again.") from exc
    if found.file_size is not None and found.file_size > max_bytes:
        raise _too_large(found.file_size, max_bytes)
    if not found.file_path:
        raise MediaServiceFailed("Telegram would not hand over that file; try again.")
    session = bot.session
    if session.api.is_local:
        local = io.BytesIO()
        await bot.download_file(found.file_path, local)
        data = local.getvalue()
    else:
        data = await _stream(bot, found.file_path, max_bytes)
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data


async def _stream(bot: Bot, file_path: str, max_bytes: int) -> bytes:
    url = bot.session.api.file_url(bot.token, file_path)
    received = bytearray()
    try:
        async for chunk in bot.session.stream_content(
            url,
            timeout=_DOWNLOAD_TIMEOUT_SECONDS,
            chunk_size=_CHUNK_BYTES,
            raise_for_status=True,
        ):
            received += chunk
            if len(received) > max_bytes:
                raise _too_large(len(received), max_bytes)
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The URL holds the token: only the error's kind is said.
        raise MediaServiceFailed(
            f"The file could not be downloaded from Telegram ({type(exc).__name__}); try again."
        ) from exc
    return bytes(received)
