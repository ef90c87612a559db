"""The conversation turn: history in, LLM (with tools) through, reply and records out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from minibot.app import replies
from minibot.app.approvals import approval_text
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.budget_guard import BudgetGuard
from minibot.app.history_context import HistoryContext
from minibot.app.jobs.run_budget import current_run
from minibot.app.model_lineup import ModelLineup
from minibot.app.steering import Steering
from minibot.app.tool_loop import FORWARDED, Held, LoopTurn, ToolLoop, nth_call
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.app.turn_model import TurnModel
from minibot.core.approval import Approval, ApprovalState, approval_id
from minibot.core.budgets import BudgetBreach, breach_text
from minibot.core.commands import SendReply, ShowDraft, ShowTyping
from minibot.core.conversation import ChatMessage, ConversationKey, Role, ToolCall
from minibot.core.delivery import TurnRef
from minibot.core.errors import BudgetExceeded, LLMError, LLMRejected, StreamInterrupted
from minibot.core.events import TurnFinished
from minibot.core.llm import Completion, TokenUsage
from minibot.core.media import ImagePart
from minibot.core.messages import Button, IncomingMessage, OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.clock import Clock
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from minibot.core.ports.language_model import LanguageModel
from minibot.core.ports.tracer import Tracer
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.speakers import SPEAKER, view_for
from minibot.core.tokens import estimate_tokens, estimate_usage, message_tokens
from minibot.core.tracing import NO_TRACER
from minibot.core.usage import UsageRecord

log = logging.getLogger(__name__)

PriceFn = Callable[[str, TokenUsage], float]
# Opens a resumed turn with the messages of a decided approval (its calls and results).
Opening = Callable[[ToolContext, dict[str, str]], Awaitable[list[ChatMessage]]]


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
    # Fold the history that outgrows the budget into a stored summary (else it is cut).
    summarize: bool = False
    max_input_tokens: int = 8000


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    text: str
    ok: bool
    # Approve / Deny, when the answer asks the speaker to approve held tool calls.
    buttons: tuple[Button, ...] = ()
    # The turn's usage rows are written after its messages, so that the reply does not
    # wait for them; await this before relying on them (the next turn, /usage).
    usage_written: asyncio.Task[None] | None = None
    # Set when a budget stopped the turn before it asked the model.
    budget: BudgetBreach | None = None

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

    In a group each stored message carries its speaker's owner id. A turn whose
    history holds someone else's words runs no tool that reads or changes the
    speaker's data: such calls are held, and the answer asks the speaker to approve
    them (`resume` continues once they decided). Other people's tool calls and results
    are never in a speaker's prompt.

    Each turn is a `turn` span of `tracer` (its model requests and tool calls inside),
    and its end is published as `TurnFinished` (ok, or the model failed for good).
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
        approvals: ApprovalDesk | None = None,
        tracer: Tracer = NO_TRACER,
        lineup: ModelLineup | None = None,
        conversation_settings: ConversationSettingsStore | None = None,
        budget: BudgetGuard | None = None,
    ) -> None:
        self._tracer = tracer
        self._memory = memory
        self._model = model
        self._lineup = lineup or ModelLineup.single(model)
        self._history = HistoryContext(
            memory=memory,
            chats=conversation_settings,
            settings=settings,
            several_models=len(self._lineup.options) > 1,
        )
        self._budget = budget if budget is not None and budget.enabled else None
        self._usage = usage
        self._tools = tools
        self._publish = publish
        self._clock = clock
        self._settings = settings
        self._price = price
        self._approvals = approvals
        self._loop = ToolLoop(
            model=model,
            tools=tools,
            approvals=approvals,
            now=clock.now,
            max_iterations=settings.max_tool_iterations,
            tracer=tracer,
        )
        self._background: set[asyncio.Task[None]] = set()

    @property
    def tool_names(self) -> tuple[str, ...]:
        return self._tools.names

    @property
    def lineup(self) -> ModelLineup:
        return self._lineup

    async def handle(
        self,
        message: IncomingMessage,
        *,
        owner_id: str,
        turn_id: str,
        steering: Steering | None = None,
    ) -> None:
        speaker = _Speaker(
            owner_id, message.sender.display_name, message.in_group, message.forwarded
        )
        outcome = await self._turn(
            message.conversation,
            message.text,
            speaker,
            turn_id,
            message.message_id,
            None,
            steering,
        )
        if steering is not None:
            # Answered: a newer message is not steered into it, nor may interrupt it.
            steering.close()
        await self._publish(
            SendReply(
                OutgoingMessage.answering(
                    TurnRef(turn_id, message.inbox_id),
                    message.conversation,
                    outcome.text,
                    buttons=outcome.buttons,
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
        in_group: bool = False,
        speaker_name: str = "",
        model_alias: str | None = None,
        forwarded: bool = False,
        images: tuple[ImagePart, ...] = (),
        meta: Mapping[str, str] | None = None,
        steering: Steering | None = None,
    ) -> TurnOutcome:
        """Answer `text` in `conversation` and store the exchange; never raises LLMError.

        A turn handled again (its inbox item survived a crash) is not asked twice: when
        its answer is already stored it is replayed, and its user message is never
        stored twice. `images` are shown to the model in this turn only: the stored user
        message keeps `meta` (a reference to the file, an untrusted-content mark), not them.
        """
        speaker = _Speaker(owner_id, speaker_name, in_group, forwarded)
        sent = _Sent(images, dict(meta or {}))
        return await self._turn(
            conversation,
            text,
            speaker,
            turn_id,
            message_id,
            None,
            steering,
            model_alias=model_alias,
            sent=sent,
        )

    async def resume(self, approval: Approval, *, turn_id: str) -> TurnOutcome:
        """Continue after the speaker decided on held calls (or let the time pass): the
        decision is the speaker's message, the calls run only when approved, always as
        `approval.owner_id`, and the model answers with their results."""
        renamed = tuple(
            ToolCall(f"{call.id}-{approval.state}", call.name, call.arguments)
            for call in approval.calls
        )

        async def opening(context: ToolContext, tag: dict[str, str]) -> list[ChatMessage]:
            opened = [self._loop.message(Role.ASSISTANT, "", tag, tool_calls=renamed)]
            calls_made: dict[str, int] = {}
            for call in renamed:
                if approval.state is ApprovalState.APPROVED:
                    origin = nth_call(f"{turn_id}/approved", call.name, calls_made)
                    result = await self._loop.run_call(call, context, origin=origin)
                else:
                    result = approval_text.decision_result(approval)
                opened.append(self._loop.message(Role.TOOL, result, tag, tool_call_id=call.id))
            return opened

        # A group is recognised by its history's speaker marks: a one-on-one chat whose
        # call was confirmed stays one-on-one.
        speaker = _Speaker(approval.owner_id, approval.speaker_name, False)
        return await self._turn(
            approval.conversation,
            approval_text.decision_text(approval),
            speaker,
            turn_id,
            approval.message_id,
            opening,
        )

    async def _turn(
        self,
        conversation: ConversationKey,
        text: str,
        speaker: _Speaker,
        turn_id: str,
        message_id: str | None,
        opening: Opening | None,
        steering: Steering | None = None,
        *,
        model_alias: str | None = None,
        sent: _Sent | None = None,
    ) -> TurnOutcome:
        started = time.perf_counter()
        with self._tracer.span("turn", {"channel": conversation.channel}) as span:
            outcome = await self._answer(
                conversation,
                text,
                speaker,
                turn_id,
                message_id,
                opening,
                steering,
                model_alias=model_alias,
                sent=sent,
            )
            span.set("ok", outcome.ok)
        finished = TurnFinished(conversation, outcome.ok, time.perf_counter() - started)
        try:
            await self._publish(finished)
        except Exception as exc:
            # A fact for metrics and alerts: losing it must not lose the answer.
            log.warning("turn end not published", extra={"error": repr(exc)})
        return outcome

    async def _answer(
        self,
        conversation: ConversationKey,
        text: str,
        speaker: _Speaker,
        turn_id: str,
        message_id: str | None,
        opening: Opening | None,
        steering: Steering | None = None,
        *,
        model_alias: str | None = None,
        sent: _Sent | None = None,
    ) -> TurnOutcome:
        owner_id = speaker.owner_id
        asked_at = self._clock.now()
        text, cut_notice = self._history.fit_input(text)
        notices = [cut_notice] if cut_notice else []
        user_tokens = estimate_tokens(text)
        chat = await self._history.settings(conversation)
        history, older = await self._history.window(conversation, chat, user_tokens)
        earlier = [m for m in history if m.meta.get("turn_id") == turn_id]
        answered = [m for m in earlier if m.role is Role.ASSISTANT]
        if answered:
            log.info("replaying a stored answer", extra={"turn_id": turn_id})
            return TurnOutcome(answered[-1].content, ok=True, buttons=await self._asked(turn_id))
        if earlier:
            history = [m for m in history if m.meta.get("turn_id") != turn_id]
        view = view_for(owner_id, history, in_group=speaker.in_group)
        # In a group every message of the turn names its speaker: whose words, whose data.
        tag = {SPEAKER: owner_id} if view.in_group else {}
        meta = {"turn_id": turn_id, **tag}
        user = ChatMessage(
            Role.USER,
            text,
            created_at=asked_at,
            token_estimate=user_tokens,
            meta={**meta, **sent.meta} if sent is not None else meta,
        )
        # Images go to the model with this turn only; the stored message keeps references.
        asked = dataclasses.replace(user, images=sent.images) if sent and sent.images else user
        new_messages = [] if earlier else [user]
        context = ToolContext(owner_id, conversation, message_id)
        usage: list[UsageRecord] = []

        def on_completion(done: Completion, asked: list[ChatMessage]) -> None:
            usage.append(self._usage_record(context, done, asked))

        model = TurnModel(
            self._lineup.chain(model_alias or chat.model_alias),
            owner_id=owner_id,
            guard=self._budget,
            unrecorded_usd=lambda: sum(record.cost_usd for record in usage),
            in_run=current_run() is not None,
        )
        # The draft's text so far; a steered turn's re-asked answer starts it afresh.
        drafted: list[str] = []
        on_text = (
            self._draft_sink(conversation, turn_id, drafted) if self._settings.stream else None
        )
        # A timer, not a task: most answers come first, and a cancelled timer costs nothing.
        typing = asyncio.get_running_loop().call_later(
            self._settings.typing_delay_seconds, self._start_typing, conversation
        )
        try:
            summary = chat.summary if self._settings.summarize else None
            if older:
                summary = await self._history.summarize(
                    conversation, chat, older, model, on_completion, notices
                )
            prompt = [self._history.system(summary), *view.history, asked]
            if opening is not None and not earlier:
                opened = await opening(context, tag)
                prompt.extend(opened)
                new_messages.extend(opened)
            turn = LoopTurn(
                context,
                speaker.name,
                turn_id,
                tag,
                guarded=view.others_spoke,
                untrusted=(FORWARDED,) if speaker.forwarded else (),
            )
            steer = self._steer_from(steering, conversation, meta, drafted) if steering else None
            answer = await self._loop.run(
                prompt,
                new_messages,
                turn,
                on_completion=on_completion,
                on_text=on_text,
                model=model,
                steer=steer,
            )
        except (BudgetExceeded, LLMError) as exc:
            return await self._failed(exc, conversation, new_messages, meta, usage)
        except BaseException:
            # Cancelled or failed mid-turn: the usage rows still land; nobody awaits them.
            self._write_usage(usage)
            raise
        finally:
            typing.cancel()
        reply, buttons = self._reply_of(answer, notices)
        await self._memory.append(conversation, [*new_messages, self._assistant(reply, meta)])
        if model.fallback is not None:
            notices.append(model.fallback.notice())
        # Degradation is told in one short line each, after the answer; the history keeps
        # the answer alone, so the model never reads these lines back.
        shown = "\n\n".join([reply, *notices])
        return TurnOutcome(shown, ok=True, buttons=buttons, usage_written=self._write_usage(usage))

    def _reply_of(
        self, answer: Completion | Held, notices: list[str]
    ) -> tuple[str, tuple[Button, ...]]:
        if isinstance(answer, Held):
            assert self._approvals is not None
            reply = approval_text.request_text(
                answer.approval, self._approvals.timeout_seconds, answer.reasons
            )
            return reply, approval_text.buttons(answer.approval)
        if answer.truncated:
            notices.append(replies.ANSWER_CUT)
        return answer.text.strip() or replies.EMPTY_ANSWER, ()

    async def _failed(
        self,
        exc: BudgetExceeded | LLMError,
        conversation: ConversationKey,
        new_messages: list[ChatMessage],
        meta: dict[str, str],
        usage: list[UsageRecord],
    ) -> TurnOutcome:
        """The turn's outcome when no answer came: what was asked is stored all the same."""
        written = self._write_usage(usage)
        if isinstance(exc, StreamInterrupted):
            log.warning("stream interrupted", extra={"conversation": str(conversation)})
            partial = f"{exc.partial_text}\n\n{replies.STREAM_INTERRUPTED}"
            await self._memory.append(conversation, [*new_messages, self._assistant(partial, meta)])
            return TurnOutcome(partial, ok=False, usage_written=written)
        await self._memory.append(conversation, new_messages)
        if isinstance(exc, BudgetExceeded):
            log.warning("budget reached", extra={"period": exc.breach.period})
            return TurnOutcome(
                breach_text(exc.breach), ok=False, usage_written=written, budget=exc.breach
            )
        log.error("turn failed", extra={"conversation": str(conversation), "error": repr(exc)})
        text = replies.MODEL_REJECTED if isinstance(exc, LLMRejected) else replies.MODEL_UNAVAILABLE
        return TurnOutcome(text, ok=False, usage_written=written)

    # -- long conversations --------------------------------------------------------

    async def context_view(self, conversation: ConversationKey, owner_id: str) -> ContextView:
        """What the model would receive for a next message in `conversation` (`/context`)."""
        chat = await self._history.settings(conversation)
        history, older = await self._history.window(conversation, chat, 0)
        summary = chat.summary if self._settings.summarize else None
        system = self._history.system(summary)
        view = view_for(owner_id, history, in_group=False)
        tokens = message_tokens(system) + sum(message_tokens(m) for m in view.history)
        alias = self._lineup.get(chat.model_alias) or self._lineup.default
        return ContextView(
            model_alias=alias.alias,
            model=alias.model.model,
            summary=summary.text if summary is not None else None,
            messages=len(view.history),
            unsummarized=len(older),
            tokens=tokens,
            token_budget=self._settings.history_token_budget,
        )

    # -- busy conversations ----------------------------------------------------------

    def _steer_from(
        self,
        steering: Steering,
        conversation: ConversationKey,
        meta: dict[str, str],
        drafted: list[str],
    ) -> Callable[[], Awaitable[list[ChatMessage]]]:
        async def steer() -> list[ChatMessage]:
            joined: list[ChatMessage] = []
            for message in steering.take():
                joined.append(
                    ChatMessage(
                        Role.USER,
                        message.text,
                        created_at=self._clock.now(),
                        token_estimate=estimate_tokens(message.text),
                        meta=dict(meta),
                    )
                )
                # Its own reply says where it went (and closes its inbox item).
                note = OutgoingMessage.answering(
                    TurnRef.of_message(message), conversation, replies.STEERED
                )
                await self._publish(SendReply(note))
            if joined:
                drafted.clear()  # the answer is asked again: its draft starts over
            return joined

        return steer

    async def mark_interrupted(
        self, message: IncomingMessage, *, owner_id: str, turn_id: str
    ) -> None:
        """Stores a turn cancelled by a newer message: its question and a marker."""
        tag = {SPEAKER: owner_id} if message.in_group else {}
        meta = {"turn_id": turn_id, **tag}
        user = ChatMessage(
            Role.USER,
            message.text,
            created_at=self._clock.now(),
            token_estimate=estimate_tokens(message.text),
            meta=meta,
        )
        await self._memory.append(
            message.conversation, [user, self._assistant(replies.INTERRUPTED_MARK, meta)]
        )

    async def _asked(self, turn_id: str) -> tuple[Button, ...]:
        """The buttons of a replayed answer that asked for an approval still pending."""
        if self._approvals is None:
            return ()
        approval = await self._approvals.get(approval_id(turn_id))
        if approval is None or approval.state is not ApprovalState.PENDING:
            return ()
        return approval_text.buttons(approval)

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
            await self._publish(ShowTyping(conversation))

    def _keep(self, task: asyncio.Task[None]) -> None:
        # The loop holds tasks only weakly: kept here until done, even if nobody waits.
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _assistant(self, text: str, meta: dict[str, str]) -> ChatMessage:
        return ChatMessage(
            Role.ASSISTANT,
            text,
            created_at=self._clock.now(),
            token_estimate=estimate_tokens(text),
            meta=meta,
        )

    def _draft_sink(
        self, conversation: ConversationKey, turn_id: str, pieces: list[str]
    ) -> Callable[[str], Awaitable[None]]:
        async def on_text(delta: str) -> None:
            pieces.append(delta)
            await self._publish(ShowDraft(conversation, turn_id, "".join(pieces)))

        return on_text

    def _usage_record(
        self, context: ToolContext, completion: Completion, prompt: list[ChatMessage]
    ) -> UsageRecord:
        usage = completion.usage or estimate_usage(prompt, completion.text, completion.tool_calls)
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


@dataclass(frozen=True, slots=True)
class ContextView:
    """What the model reads in a conversation (`/context`)."""

    model_alias: str
    model: str
    summary: str | None
    messages: int
    unsummarized: int
    tokens: int
    token_budget: int


@dataclass(frozen=True, slots=True)
class _Sent:
    """What came with the user's text: images for this turn, meta for the stored message."""

    images: tuple[ImagePart, ...]
    meta: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Speaker:
    owner_id: str
    name: str
    in_group: bool
    forwarded: bool = False


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("usage not recorded", extra={"error": repr(task.exception())})
