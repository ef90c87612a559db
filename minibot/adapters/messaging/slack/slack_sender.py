"""Slack's side of sending a reply: Web API calls, its message limit, mrkdwn, Block Kit."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from minibot.adapters.messaging.slack import mrkdwn, slack_uploads
from minibot.adapters.messaging.slack.api_errors import call_api, describe
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.draft_editor import DraftEditor
from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError, DeliveryRefused
from minibot.core.media import OutgoingMedia
from minibot.core.messages import Button
from minibot.core.ports.delivery_ledger import DeliveryLedger

log = logging.getLogger(__name__)

# Block Kit's limit for one section's text.
_SECTION_CHARS = 3000


class SlackSender:
    """The `ChannelSender` over Slack's Web API: a conversation's thread is the
    `thread_ts` of what goes to it; chunks of at most `max_chunk_chars`,
    Markdown rendered as mrkdwn (plain text, `mrkdwn: false`, as the fallback), buttons
    as a Block Kit `actions` block whose values are the buttons' actions. Every call goes
    through `call_api`, so only core errors come out. Its `drafts` stream a reply by
    updating one message (`chat.update`), at most once per `edit_interval_seconds`.
    With a `session` it is a `MediaSender` too: voice notes and pictures go out as Slack
    files (`slack_uploads`)."""

    def __init__(
        self,
        client: AsyncWebClient,
        max_chunk_chars: int,
        throttle: ChatThrottle,
        ledger: DeliveryLedger,
        *,
        edit_interval_seconds: float,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._client = client
        self._session = session
        self._max_chunk_chars = max_chunk_chars
        self.drafts = DraftEditor(
            self,
            throttle,
            ledger,
            interval_seconds=edit_interval_seconds,
            clip=self._clip,
            platform="slack",
        )

    @property
    def max_chunk_chars(self) -> int:
        return self._max_chunk_chars

    def split(self, text: str) -> list[str]:
        return mrkdwn.split(text, self._max_chunk_chars)

    def render(self, chunk: str) -> str:
        return mrkdwn.render_mrkdwn(chunk)

    async def send_chunk(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str:
        channel = conversation.chat_id
        request: dict[str, Any] = {"channel": channel, "text": text, "mrkdwn": formatted}
        if conversation.thread:
            request["thread_ts"] = conversation.thread
        if buttons:
            request["blocks"] = _blocks(text, buttons, formatted)
        answer = await call_api(channel, lambda: self._client.chat_postMessage(**request))
        return str(answer["ts"])

    async def send_media(
        self, conversation: ConversationKey, media: OutgoingMedia, *, reply_to: str | None = None
    ) -> str:
        if self._session is None:
            raise DeliveryRefused("no HTTP session for uploads", chat_id=conversation.chat_id)
        return await slack_uploads.upload(self._client, self._session, conversation, media)

    async def edit_chunk(
        self,
        conversation: ConversationKey,
        message_id: str,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        channel = conversation.chat_id
        # chat.update keeps the old blocks unless told otherwise: none means none.
        blocks = _blocks(text, buttons, formatted) if buttons else []
        await call_api(
            channel,
            lambda: self._client.chat_update(
                channel=channel, ts=message_id, text=text, blocks=blocks
            ),
        )

    async def take_draft(self, turn_id: str) -> str | None:
        return await self.drafts.finish(turn_id)

    def _clip(self, text: str) -> str:
        # A draft is a preview: past the limit, show the start; the final reply splits.
        if len(text) <= self._max_chunk_chars:
            return text
        return mrkdwn.split(text, self._max_chunk_chars - 1)[0] + "…"

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None:
        # The press itself is acknowledged by the HTTP answer; a notice is shown to the
        # presser alone.
        if notice is None:
            return
        channel = update.conversation.chat_id
        thread = update.conversation.thread or None
        try:
            await call_api(
                channel,
                lambda: self._client.chat_postEphemeral(
                    channel=channel, user=update.sender.user_id, text=notice, thread_ts=thread
                ),
            )
        except ChannelError as exc:
            log.warning("slack press notice not shown", extra={"error": describe(exc)})


def _blocks(text: str, buttons: tuple[Button, ...], formatted: bool) -> list[dict[str, Any]]:
    kind = "mrkdwn" if formatted else "plain_text"
    sections = [
        {"type": "section", "text": {"type": kind, "text": text[i : i + _SECTION_CHARS]}}
        for i in range(0, len(text), _SECTION_CHARS)
    ]
    elements = [
        {
            "type": "button",
            "action_id": f"minibot-{number}",
            "text": {"type": "plain_text", "text": button.label},
            "value": button.action,
        }
        for number, button in enumerate(buttons)
    ]
    return [*sections, {"type": "actions", "block_id": "minibot-actions", "elements": elements}]
