"""The conversation turn: history in, LLM (with tools) through, reply and records out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from minibot.app import replies
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.core.conversation import ChatMessage, ConversationKey, Role
from minibot.core.errors import LLMError, LLMRejected, StreamInterrupted
from minibot.core.events import Event, ReplyDraft, ReplyReady, TypingStarted
from minibot.core.llm import Completion, TokenUsage
from minibot.core.messages import IncomingMessage, OutgoingMessage
from minibot.core.ports.clock import Clock
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.language_model import LanguageModel
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.usage import UsageRecord
from minibot.shared.tokens import estimate_tokens

log = logging.getLogger(__name__)

Publish = Callable[[Event], Awaitable[None]]
PriceFn = Callable[[str, TokenUsage], float]


@dataclass(frozen=True, slots=True)
class TurnSettings:
    system_prompt: str
    history_window: int
    history_token_budget: int
    max_tool_iterations: int
    stream: bool


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    text: str
    ok: bool


class ConversationService:
    """Runs one conversation turn for one incoming message.

    The user's message is always stored, even when the model fails. Tool calls run in
    a loop bounded by `max_tool_iterations`, after which the model is asked once more
    without tools for a final answer. Every LLM request is written to the usage ledger.
    """

    def __init__(
        self,
        *,
        memory: ConversationMemory,
        model: LanguageModel,
        usage: UsageLedger,
        tools: ToolRegistry,
        publish: Publish,
        clock: Clock,
        settings: TurnSettings,
        price: PriceFn,
    ) -> None:
        self._memory = memory
        self._model = model
        self._usage = usage
        self._tools = tools
        self._publish = publish
        self._clock = clock
        self._settings = settings
        self._price = price

    @property
    def tool_names(self) -> tuple[str, ...]:
        return self._tools.names

    async def handle(self, message: IncomingMessage, *, owner_id: str, turn_id: str) -> None:
        outcome = await self.run_turn(
            message.conversation,
            message.text,
            owner_id=owner_id,
            turn_id=turn_id,
            message_id=message.message_id,
        )
        await self._publish(
            ReplyReady(
                OutgoingMessage(
                    message.conversation,
                    outcome.text,
                    turn_id,
                    source_inbox_id=message.inbox_id,
                )
            )
        )

    async def run_turn(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        owner_id: str,
        turn_id: str,
        message_id: str | None = None,
    ) -> TurnOutcome:
        """Answer `text` in `conversation` and store the exchange; never raises LLMError.

        A turn handled again (its inbox item survived a crash) is not asked twice: when
        its answer is already stored it is replayed, and its user message is never
        stored twice.
        """
        meta = {"turn_id": turn_id}
        user = ChatMessage(
            Role.USER,
            text,
            created_at=self._clock.now(),
            token_estimate=estimate_tokens(text),
            meta=meta,
        )
        history = await self._memory.recent(
            conversation,
            max_messages=max(0, self._settings.history_window - 1),
            max_tokens=max(0, self._settings.history_token_budget - user.token_estimate),
        )
        earlier = [m for m in history if m.meta.get("turn_id") == turn_id]
        answered = [m for m in earlier if m.role is Role.ASSISTANT]
        if answered:
            log.info("replaying a stored answer", extra={"turn_id": turn_id})
            return TurnOutcome(answered[-1].content, ok=True)
        if earlier:
            history = [m for m in history if m.meta.get("turn_id") != turn_id]
        prompt = [ChatMessage(Role.SYSTEM, self._settings.system_prompt), *history, user]
        new_messages = [] if earlier else [user]
        context = ToolContext(owner_id, conversation, message_id)
        await self._publish(TypingStarted(conversation))
        try:
            completion = await self._converse(prompt, new_messages, context, turn_id)
        except StreamInterrupted as exc:
            log.warning("stream interrupted", extra={"conversation": str(conversation)})
            partial = f"{exc.partial_text}\n\n{replies.STREAM_INTERRUPTED}"
            await self._memory.append(conversation, [*new_messages, self._assistant(partial, meta)])
            return TurnOutcome(partial, ok=False)
        except LLMError as exc:
            log.error(
                "turn failed",
                extra={"conversation": str(conversation), "error": repr(exc)},
            )
            if new_messages:
                await self._memory.append(conversation, new_messages)
            text = (
                replies.MODEL_REJECTED
                if isinstance(exc, LLMRejected)
                else replies.MODEL_UNAVAILABLE
            )
            return TurnOutcome(text, ok=False)
        answer = completion.text.strip() or replies.EMPTY_ANSWER
        await self._memory.append(conversation, [*new_messages, self._assistant(answer, meta)])
        return TurnOutcome(answer, ok=True)

    async def _converse(
        self,
        prompt: list[ChatMessage],
        new_messages: list[ChatMessage],
        context: ToolContext,
        turn_id: str,
    ) -> Completion:
        on_text = self._draft_sink(context.conversation, turn_id) if self._settings.stream else None
        iteration = 0
        while True:
            offer_tools = bool(self._tools) and iteration < self._settings.max_tool_iterations
            completion = await self._model.complete(
                prompt, tools=self._tools.specs if offer_tools else (), on_text=on_text
            )
            await self._record_usage(context, completion, prompt)
            if not completion.tool_calls or not offer_tools:
                return completion
            asked = ChatMessage(
                Role.ASSISTANT,
                completion.text,
                tool_calls=completion.tool_calls,
                created_at=self._clock.now(),
                token_estimate=estimate_tokens(completion.text or "tool call"),
            )
            prompt.append(asked)
            new_messages.append(asked)
            for call in completion.tool_calls:
                call_context = ToolContext(
                    context.owner_id, context.conversation, context.message_id, call.id
                )
                result = await self._tools.run(call, call_context)
                answered = ChatMessage(
                    Role.TOOL,
                    result,
                    tool_call_id=call.id,
                    created_at=self._clock.now(),
                    token_estimate=estimate_tokens(result),
                )
                prompt.append(answered)
                new_messages.append(answered)
            iteration += 1

    def _assistant(self, text: str, meta: dict[str, str]) -> ChatMessage:
        return ChatMessage(
            Role.ASSISTANT,
            text,
            created_at=self._clock.now(),
            token_estimate=estimate_tokens(text),
            meta=meta,
        )

    def _draft_sink(
        self, conversation: ConversationKey, turn_id: str
    ) -> Callable[[str], Awaitable[None]]:
        pieces: list[str] = []

        async def on_text(delta: str) -> None:
            pieces.append(delta)
            await self._publish(ReplyDraft(conversation, turn_id, "".join(pieces)))

        return on_text

    async def _record_usage(
        self, context: ToolContext, completion: Completion, prompt: list[ChatMessage]
    ) -> None:
        usage = completion.usage or TokenUsage(
            prompt_tokens=sum(estimate_tokens(m.content) for m in prompt),
            completion_tokens=estimate_tokens(completion.text),
            estimated=True,
        )
        model = completion.model or self._model.model
        await self._usage.record(
            UsageRecord(
                owner_id=context.owner_id,
                conversation=context.conversation,
                model=model,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=self._price(model, usage),
                estimated=usage.estimated,
                at=self._clock.now(),
            )
        )
