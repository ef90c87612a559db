"""The conversation turn: history in, LLM (with tools) through, reply and records out."""

from __future__ import annotations

import asyncio
import contextlib
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
    # "typing…" is shown only when the answer takes longer than this: a quick answer
    # needs no indicator, and skipping it saves a Bot API call per message.
    typing_delay_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    text: str
    ok: bool
    # The turn's usage rows are written after its messages, so that the reply does not
    # wait for them; await this before relying on them (the next turn, /usage).
    usage_written: asyncio.Task[None] | None = None

    async def settled(self) -> None:
        """Waits for the usage rows (a failure to write them is logged, not raised)."""
        if self.usage_written is not None:
            with contextlib.suppress(Exception):
                await self.usage_written


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
        self._background: set[asyncio.Task[None]] = set()

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
        # The lane stays busy until the usage is stored, so a /usage sent next counts it.
        await outcome.settled()

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
        # A timer, not a task: most answers come first, and a cancelled timer costs nothing.
        typing = asyncio.get_running_loop().call_later(
            self._settings.typing_delay_seconds, self._start_typing, conversation
        )
        usage: list[UsageRecord] = []
        try:
            completion = await self._converse(prompt, new_messages, context, turn_id, usage)
        except StreamInterrupted as exc:
            log.warning("stream interrupted", extra={"conversation": str(conversation)})
            partial = f"{exc.partial_text}\n\n{replies.STREAM_INTERRUPTED}"
            await self._memory.append(conversation, [*new_messages, self._assistant(partial, meta)])
            return TurnOutcome(partial, ok=False, usage_written=self._write_usage(usage))
        except LLMError as exc:
            log.error(
                "turn failed",
                extra={"conversation": str(conversation), "error": repr(exc)},
            )
            await self._memory.append(conversation, new_messages)
            text = (
                replies.MODEL_REJECTED
                if isinstance(exc, LLMRejected)
                else replies.MODEL_UNAVAILABLE
            )
            return TurnOutcome(text, ok=False, usage_written=self._write_usage(usage))
        except BaseException:
            # Cancelled or failed mid-turn: the usage rows still land; nobody awaits them.
            self._write_usage(usage)
            raise
        finally:
            typing.cancel()
        answer = completion.text.strip() or replies.EMPTY_ANSWER
        await self._memory.append(conversation, [*new_messages, self._assistant(answer, meta)])
        return TurnOutcome(answer, ok=True, usage_written=self._write_usage(usage))

    def _write_usage(self, records: list[UsageRecord]) -> asyncio.Task[None] | None:
        """Writes the usage rows beside the caller, after the turn's messages."""
        if not records:
            return None
        task = asyncio.create_task(self._record_all(records))
        self._keep(task)
        task.add_done_callback(_consume)
        return task

    async def _record_all(self, records: list[UsageRecord]) -> None:
        await asyncio.gather(*(self._usage.record(record) for record in records))

    def _start_typing(self, conversation: ConversationKey) -> None:
        self._keep(asyncio.create_task(self._show_typing(conversation)))

    async def _show_typing(self, conversation: ConversationKey) -> None:
        with contextlib.suppress(Exception):
            await self._publish(TypingStarted(conversation))

    def _keep(self, task: asyncio.Task[None]) -> None:
        # The loop holds tasks only weakly: kept here until done, even if nobody waits.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _converse(
        self,
        prompt: list[ChatMessage],
        new_messages: list[ChatMessage],
        context: ToolContext,
        turn_id: str,
        usage: list[UsageRecord],
    ) -> Completion:
        on_text = self._draft_sink(context.conversation, turn_id) if self._settings.stream else None
        iteration = 0
        # The n-th call of a tool in this turn: the same when the turn runs again after a
        # crash (the model's own call ids are new each time), so creations are keyed by it.
        calls_made: dict[str, int] = {}
        while True:
            offer_tools = bool(self._tools) and iteration < self._settings.max_tool_iterations
            completion = await self._model.complete(
                prompt, tools=self._tools.specs if offer_tools else (), on_text=on_text
            )
            usage.append(self._usage_record(context, completion, prompt))
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
                nth = calls_made.get(call.name, 0)
                calls_made[call.name] = nth + 1
                call_context = ToolContext(
                    context.owner_id,
                    context.conversation,
                    context.message_id,
                    call.id,
                    origin=f"{turn_id}/{call.name}#{nth}",
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

    def _usage_record(
        self, context: ToolContext, completion: Completion, prompt: list[ChatMessage]
    ) -> UsageRecord:
        usage = completion.usage or TokenUsage(
            prompt_tokens=sum(estimate_tokens(m.content) for m in prompt),
            completion_tokens=estimate_tokens(completion.text),
            estimated=True,
        )
        model = completion.model or self._model.model
        return UsageRecord(
            owner_id=context.owner_id,
            conversation=context.conversation,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=self._price(model, usage),
            estimated=usage.estimated,
            at=self._clock.now(),
        )


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("usage not recorded", extra={"error": repr(task.exception())})
