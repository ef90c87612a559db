"""What history a turn sends: the window within the budget, led by the stored summary
of what fell out of it; and the cap on one message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from minibot.app import replies
from minibot.core.conversation import ChatMessage, ConversationKey, Role
from minibot.core.conversation_settings import NO_SETTINGS, ConversationSettings, HistorySummary
from minibot.core.errors import BudgetExceeded, LLMError
from minibot.core.history_window import split_overflow
from minibot.core.llm import Completion
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from minibot.core.ports.language_model import LanguageModel
from minibot.core.tokens import CHARS_PER_TOKEN, estimate_tokens

if TYPE_CHECKING:
    from minibot.app.conversation_service import TurnSettings

log = logging.getLogger(__name__)

SUMMARY_HEADING = "Summary of the earlier conversation:"
SUMMARY_INSTRUCTION = (
    "Summarize the conversation below for your own later reference: keep names, facts, "
    "decisions, open questions and anything the person asked you to remember. Write plain "
    "sentences, at most 200 words. Answer with the summary only."
)


def summary_request(previous: HistorySummary | None, older: list[ChatMessage]) -> list[ChatMessage]:
    """The request that folds `older` (after `previous`) into one summary."""
    lines = []
    if previous is not None:
        lines.append(f"Summary so far: {previous.text}")
    for message in older:
        if message.role in (Role.USER, Role.ASSISTANT) and message.content:
            lines.append(f"{message.role}: {message.content}")
    return [
        ChatMessage(Role.SYSTEM, SUMMARY_INSTRUCTION),
        ChatMessage(Role.USER, "\n".join(lines)),
    ]


@dataclass(frozen=True, slots=True)
class ContextView:
    model_alias: str
    model: str
    summary: str | None
    messages: int
    unsummarized: int
    tokens: int
    token_budget: int


class HistoryContext:
    """Reads a turn's history for the model. With `settings.summarize`, the messages that
    fell out of the window and no summary covers yet are folded by the model into a new
    stored summary, which every later request receives first (never cut silently); the
    person is told the first time. The conversation's settings are read only when they
    can matter (several models, or summaries)."""

    def __init__(
        self,
        *,
        memory: ConversationMemory,
        chats: ConversationSettingsStore | None,
        settings: TurnSettings,
        several_models: bool,
    ) -> None:
        self._memory = memory
        self._chats = chats
        self._settings = settings
        self._several_models = several_models

    def fit_input(self, text: str) -> tuple[str, str | None]:
        """One message longer than `max_input_tokens` is cut to it, and the reply says so."""
        limit = self._settings.max_input_tokens
        tokens = estimate_tokens(text)
        if tokens <= limit:
            return text, None
        return text[: limit * CHARS_PER_TOKEN], replies.input_cut(tokens, limit)

    async def settings(self, conversation: ConversationKey) -> ConversationSettings:
        # Read only when something in them can matter: one model and no summaries (the
        # default) keep the turn free of this read.
        if self._chats is None or (not self._several_models and not self._settings.summarize):
            return NO_SETTINGS
        return await self._chats.get(conversation)

    async def window(
        self, conversation: ConversationKey, chat: ConversationSettings, user_tokens: int
    ) -> tuple[list[ChatMessage], list[ChatMessage]]:
        """The window of history that fits the budget, and (when summarizing) the older
        messages no summary covers yet."""
        s = self._settings
        max_messages = max(0, s.history_window - 1)
        if not s.summarize or self._chats is None:
            history = await self._memory.recent(
                conversation,
                max_messages=max_messages,
                max_tokens=max(0, s.history_token_budget - user_tokens),
            )
            return history, []
        summary = chat.summary
        summary_tokens = summary.tokens if summary is not None else 0
        # A wider read than the window: what fell out of it since the last summary.
        wide = await self._memory.recent(
            conversation,
            max_messages=2 * s.history_window,
            max_tokens=4 * s.history_token_budget,
        )
        older, window = split_overflow(
            wide,
            summarized_through_id=summary.through_id if summary is not None else 0,
            max_messages=max_messages,
            max_tokens=max(0, s.history_token_budget - user_tokens - summary_tokens),
        )
        return window, older

    async def summarize(
        self,
        conversation: ConversationKey,
        chat: ConversationSettings,
        older: list[ChatMessage],
        model: LanguageModel,
        on_completion: Callable[[Completion, list[ChatMessage]], None],
        notices: list[str],
    ) -> HistorySummary | None:
        """Folds `older` (and the summary before it) into a new stored summary; on a model
        failure the turn goes on with the summary it had (the window is still sent)."""
        previous = chat.summary
        request = summary_request(previous, older)
        try:
            done = await model.complete(request)
        except BudgetExceeded:
            raise
        except LLMError as exc:
            log.warning("history not summarized", extra={"error": repr(exc)})
            return previous
        on_completion(done, request)
        text = done.text.strip()
        if not text:
            return previous
        through = max(int(m.meta.get("message_id", "0")) for m in older)
        summary = HistorySummary(text, through, estimate_tokens(text))
        assert self._chats is not None
        await self._chats.put(conversation, replace(chat, summary=summary))
        if previous is None:
            notices.append(replies.SUMMARIZED)
        return summary

    def system(self, summary: HistorySummary | None) -> ChatMessage:
        if summary is None:
            return ChatMessage(Role.SYSTEM, self._settings.system_prompt)
        return ChatMessage(
            Role.SYSTEM,
            f"{self._settings.system_prompt}\n\n{SUMMARY_HEADING}\n{summary.text}",
        )
