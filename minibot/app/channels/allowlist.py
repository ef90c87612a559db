"""Who may talk to the bot: allowed users and chats, and the refusal for everyone else."""

from __future__ import annotations

import time
from collections.abc import Iterable


class Allowlist:
    """Admits a sender when their user id or their chat id is listed, or when open mode
    is on. Empty lists admit nobody: a bot left unconfigured must not answer strangers.
    Ids are the platform's, as text (Telegram's integers, Slack's `U...`)."""

    def __init__(
        self,
        user_ids: Iterable[str],
        chat_ids: Iterable[str],
        *,
        open_mode: bool = False,
        refusal_interval_seconds: float = 60.0,
    ) -> None:
        self._user_ids = frozenset(user_ids)
        self._chat_ids = frozenset(chat_ids)
        self._open_mode = open_mode
        self._refusal_interval_seconds = refusal_interval_seconds
        self._last_refused: dict[tuple[str, str], float] = {}

    def admits(self, user_id: str, chat_id: str) -> bool:
        return self._open_mode or user_id in self._user_ids or chat_id in self._chat_ids

    def should_refuse(self, user_id: str, chat_id: str) -> bool:
        """Whether to tell this sender they are refused now: once per interval, so a
        stranger flooding the bot cannot make it flood back."""
        now = time.monotonic()
        key = (user_id, chat_id)
        last = self._last_refused.get(key)
        if last is not None and now - last < self._refusal_interval_seconds:
            return False
        if len(self._last_refused) > 10_000:
            self._last_refused.clear()
        self._last_refused[key] = now
        return True


def refusal_text(shown_ids: str) -> str:
    """The refusal, naming the sender as their channel shows ids (`ChannelUpdate`'s
    `shown_ids`), so the owner knows what to allow."""
    return f"Sorry, this bot is private. Ask its owner to allow {shown_ids}."
