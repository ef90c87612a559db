"""Reads a Slack request body (an event or a button press) into a `ChannelUpdate`."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from minibot.adapters.messaging.slack.slack_files import attachment_of
from minibot.core.channel_update import ChannelUpdate, Ignored, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.messages import Sender
from minibot.shared import fast_json
from minibot.shared.lone_surrogates import without_lone_surrogates

CHANNEL = "slack"
_DIRECT = {"im"}
# Threads the bot takes part in, remembered so a reply in one needs no new mention.
_MAX_THREADS = 10_000


class SlackEventParser:
    """The `UpdateParser` of Slack's Events API bodies and `block_actions` payloads.

    A message is keyed by its `event_id` (Slack's retries and duplicates carry the same
    one), a press by its `trigger_id`. Only `message` events are read: a mention in a
    channel also comes as an `app_mention` event with an id of its own, which is skipped
    so the message is answered once. Direct messages are always addressed to the bot and
    a direct message chat is one conversation. In a channel a message is addressed when
    it mentions the bot (or always, with `always`), and the mention is taken out of the
    text; its conversation is its thread (a message outside one starts one under itself),
    and later replies in that thread are addressed without a new mention (threads are
    remembered in memory: after a restart a thread continues from its next mention; what
    was stored is answered either way, as the inbox replays it whatever it says). A
    message's first file becomes its `media` (`slack_files.attachment_of`)."""

    def __init__(self, bot_user_id: str, *, always_in_channels: bool) -> None:
        self._bot_user_id = bot_user_id
        self._mention = re.compile(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>")
        self._always = always_in_channels
        self._threads: OrderedDict[tuple[str, str], None] = OrderedDict()

    def parse(self, raw: Any) -> Parsed:
        if not isinstance(raw, dict):
            return self.unreadable(raw, "a Slack body that is not an object")
        kind = raw.get("type")
        if kind == "event_callback":
            return self._event(raw)
        if kind == "block_actions":
            return self._press(raw)
        return Ignored(str(raw.get("event_id") or kind), f"unhandled Slack body type {kind!r}")

    def parse_stored(self, payload: str) -> ChannelUpdate | None:
        parsed = self.parse(fast_json.loads(payload))
        return parsed if isinstance(parsed, ChannelUpdate) else None

    def unreadable(self, raw: Any, reason: str) -> Unreadable:
        raw_bytes = json.dumps(raw, ensure_ascii=True, default=repr).encode()
        event = raw.get("event") if isinstance(raw, dict) else None
        if isinstance(event, dict):
            channel, user = event.get("channel"), event.get("user")
            if isinstance(channel, str) and isinstance(user, str):
                thread = event.get("thread_ts")
                key = ConversationKey(CHANNEL, channel, thread if isinstance(thread, str) else "")
                return Unreadable(reason, raw_bytes, key, user)
        return Unreadable(reason, raw_bytes)

    def shown_ids(self, user_id: str, chat_id: str) -> str:
        return f"Slack user id {user_id} (channel id {chat_id})"

    def _event(self, raw: dict[str, Any]) -> Parsed:
        event_id = raw.get("event_id")
        event = raw.get("event")
        if not isinstance(event_id, str) or not event_id or not isinstance(event, dict):
            return self.unreadable(raw, "a Slack event without an event_id or event")
        if event.get("type") != "message":
            return Ignored(event_id, f"unhandled Slack event {event.get('type')!r}")
        if event.get("subtype") is not None and event.get("subtype") != "file_share":
            return Ignored(event_id, f"message subtype {event.get('subtype')!r}")
        user, channel = event.get("user"), event.get("channel")
        if event.get("bot_id") or not isinstance(user, str) or not isinstance(channel, str):
            return Ignored(event_id, "message without a human sender")
        text = event.get("text")
        direct = event.get("channel_type") in _DIRECT or channel.startswith("D")
        thread = ""
        addressed = direct or self._always
        if not direct:
            ts, thread_ts = event.get("ts"), event.get("thread_ts")
            thread = str(thread_ts or ts or "")
            if isinstance(text, str):
                addressed = addressed or self._mention.search(text) is not None
                text = " ".join(self._mention.sub("", text).split()) or text
            if isinstance(thread_ts, str) and (channel, thread_ts) in self._threads:
                addressed = True
            if addressed and thread:
                self._remember(channel, thread)
        return ChannelUpdate(
            platform_id=event_id,
            conversation=ConversationKey(CHANNEL, channel, thread),
            sender=Sender(CHANNEL, user, user),
            payload=fast_json.dumps(raw),
            received_at=_moment(event.get("ts")),
            text=without_lone_surrogates(text) if isinstance(text, str) and text else None,
            message_id=str(event.get("ts")) if event.get("ts") else None,
            in_group=not direct,
            addressed=addressed,
            media=attachment_of(event),
        )

    def _remember(self, channel: str, thread: str) -> None:
        threads = self._threads
        threads[(channel, thread)] = None
        threads.move_to_end((channel, thread))
        if len(threads) > _MAX_THREADS:
            threads.popitem(last=False)

    def _press(self, raw: dict[str, Any]) -> Parsed:
        trigger = raw.get("trigger_id")
        actions = raw.get("actions")
        user = _object(raw.get("user"))
        channel = _object(raw.get("channel"))
        if not isinstance(trigger, str) or not trigger:
            return self.unreadable(raw, "a Slack press without a trigger_id")
        if not actions or not isinstance(actions, list) or not isinstance(actions[0], dict):
            return Ignored(trigger, "a press without an action")
        value = actions[0].get("value")
        user_id, channel_id = user.get("id"), channel.get("id")
        # A button on a message in a channel's thread answers in that thread's
        # conversation; a direct message chat is one conversation, threads or not.
        thread = _object(raw.get("message")).get("thread_ts") or _object(raw.get("container")).get(
            "thread_ts"
        )
        if str(channel_id or "").startswith("D"):
            thread = ""
        if not isinstance(value, str) or not value or not channel_id or not user_id:
            return Ignored(trigger, "a press without a value, a channel or a person")
        return ChannelUpdate(
            platform_id=f"press:{trigger}",
            conversation=ConversationKey(CHANNEL, str(channel_id), str(thread or "")),
            sender=Sender(CHANNEL, str(user_id), str(user.get("name") or user_id)),
            payload=fast_json.dumps(raw),
            received_at=datetime.now(UTC),
            action=without_lone_surrogates(value),
            press_id=str(raw.get("response_url") or trigger),
        )


def _moment(ts: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
