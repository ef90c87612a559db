"""Slack files out: a voice note or a picture uploaded the current way (external upload)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from minibot.adapters.messaging.slack.api_errors import call_api
from minibot.core.conversation import ConversationKey
from minibot.core.errors import DeliveryRefused
from minibot.core.media import OutgoingMedia

log = logging.getLogger(__name__)

_UPLOAD_TIMEOUT_SECONDS = 120


async def upload(
    client: AsyncWebClient,
    session: aiohttp.ClientSession,
    conversation: ConversationKey,
    media: OutgoingMedia,
) -> str:
    """Shares `media` in the conversation (its thread, if any) and returns the file's id.
    Three steps, as Slack asks since `files.upload` was retired: `files.getUploadURLExternal`
    (name and length), the bytes posted to the URL it names (no token goes there), and
    `files.completeUploadExternal` to share it, the caption as its comment. A Web API
    error comes out as the core's channel error (`call_api`); an upload the URL refuses
    is a `DeliveryRefused`, so the delivery sends the media's text instead."""
    channel = conversation.chat_id
    asked = await call_api(
        channel,
        lambda: client.files_getUploadURLExternal(filename=media.file_name, length=len(media.data)),
    )
    upload_url, file_id = asked.get("upload_url"), asked.get("file_id")
    if not isinstance(upload_url, str) or not isinstance(file_id, str):
        raise DeliveryRefused("slack named no upload URL", chat_id=channel)
    await _post_bytes(session, upload_url, media, channel)
    shared: dict[str, Any] = {
        "files": [{"id": file_id, "title": media.caption or media.file_name}],
        "channel_id": channel,
    }
    if media.caption:
        shared["initial_comment"] = media.caption
    if conversation.thread:
        shared["thread_ts"] = conversation.thread
    await call_api(channel, lambda: client.files_completeUploadExternal(**shared))
    return file_id


async def _post_bytes(
    session: aiohttp.ClientSession, url: str, media: OutgoingMedia, channel: str
) -> None:
    try:
        async with session.post(
            url,
            data=media.data,
            headers={"Content-Type": media.mime_type or "application/octet-stream"},
            timeout=aiohttp.ClientTimeout(total=_UPLOAD_TIMEOUT_SECONDS),
            allow_redirects=False,
        ) as response:
            if response.status >= 300:
                raise DeliveryRefused(
                    f"slack upload answered HTTP {response.status}", chat_id=channel
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The file is not shared (nothing shows until completeUploadExternal): its text goes.
        raise DeliveryRefused(
            f"slack upload failed ({type(exc).__name__})", chat_id=channel
        ) from exc
