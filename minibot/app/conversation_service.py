"""The conversation turn: history in, LLM (with tools) through, reply and records out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from minibot.app import replies
from minibot.app.approvals import approval_text
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.tool_loop import LoopTurn, ToolLoop, nth_call
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.core.approval import Approval, ApprovalState, approval_id
from minibot.core.commands import SendReply, ShowDraft, ShowTyping
from minibot.core.conversation import ChatMessage, ConversationKey, Role, ToolCall
from minibot.core.delivery import TurnRef
from minibot.core.errors import LLMError, LLMRejected, StreamInterrupted
from minibot.core.llm import Completion, TokenUsage
from minibot.core.media import ImagePart
from minibot.core.messages import Button, IncomingMessage, OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.clock import Clock
from minibot.core.ports.conversation_memory import ConversationMemory
from minibot.core.ports.language_model import LanguageModel
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.speakers import SPEAKER, view_for
from minibot.core.tokens import estimate_tokens, estimate_usage
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


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    text: str
    ok: bool
    # Approve / Deny, when the answer asks the speaker to approve held tool calls.
    buttons: tuple[Button, ...] = ()
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

    In a group each stored message carries its speaker's owner id. A turn whose
    history holds someone else's words runs no tool that reads or changes the
    speaker's data: such calls are held, and the answer asks the speaker to approve
    them (`resume` continues once they decided). Other people's tool calls and results
    are never in a speaker's prompt.
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
    ) -> None:
        self._memory = memory
        self._model = model
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
        )
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
            in_group=message.in_group,
            speaker_name=message.sender.display_name,
        )
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
        images: tuple[ImagePart, ...] = (),
        meta: Mapping[str, str] | None = None,
    ) -> TurnOutcome:
        """Answer `text` in `conversation` and store the exchange; never raises LLMError.

        A turn handled again (its inbox item survived a crash) is not asked twice: when
        its answer is already stored it is replayed, and its user message is never
        stored twice. `images` are shown to the model in this turn only: the stored user
        message keeps `meta` (a reference to the file, an untrusted-content mark), not them.
        """
        speaker = _Speaker(owner_id, speaker_name, in_group)
        sent = _Sent(images, dict(meta or {}))
        return await self._turn(conversation, text, speaker, turn_id, message_id, None, sent)

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

        speaker = _Speaker(approval.owner_id, approval.speaker_name, True)
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
        sent: _Sent | None = None,
    ) -> TurnOutcome:
        owner_id = speaker.owner_id
        asked_at = self._clock.now()
        user_tokens = estimate_tokens(text)
        history = await self._memory.recent(
            conversation,
            max_messages=max(0, self._settings.history_window - 1),
            max_tokens=max(0, self._settings.history_token_budget - user_tokens),
        )
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
        prompt = [ChatMessage(Role.SYSTEM, self._settings.system_prompt), *view.history, asked]
        new_messages = [] if earlier else [user]
        context = ToolContext(owner_id, conversation, message_id)
        if opening is not None and not earlier:
            opened = await opening(context, tag)
            prompt.extend(opened)
            new_messages.extend(opened)
        turn = LoopTurn(context, speaker.name, turn_id, tag, guarded=view.others_spoke)
        on_text = self._draft_sink(conversation, turn_id) if self._settings.stream else None
        # A timer, not a task: most answers come first, and a cancelled timer costs nothing.
        typing = asyncio.get_running_loop().call_later(
            self._settings.typing_delay_seconds, self._start_typing, conversation
        )
        usage: list[UsageRecord] = []
        try:
            answer = await self._loop.run(
                prompt,
                new_messages,
                turn,
                on_completion=lambda done, asked: usage.append(
                    self._usage_record(context, done, asked)
                ),
                on_text=on_text,
            )
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
        buttons: tuple[Button, ...] = ()
        if isinstance(answer, Approval):
            assert self._approvals is not None
            reply = approval_text.request_text(answer, self._approvals.timeout_seconds)
            buttons = approval_text.buttons(answer)
        else:
            reply = answer.text.strip() or replies.EMPTY_ANSWER
        await self._memory.append(conversation, [*new_messages, self._assistant(reply, meta)])
        return TurnOutcome(reply, ok=True, buttons=buttons, usage_written=self._write_usage(usage))

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
        self, conversation: ConversationKey, turn_id: str
    ) -> Callable[[str], Awaitable[None]]:
        pieces: list[str] = []

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
class _Sent:
    """What came with the user's text: images for this turn, meta for the stored message."""

    images: tuple[ImagePart, ...]
    meta: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Speaker:
    owner_id: str
    name: str
    in_group: bool


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("usage not recorded", extra={"error": repr(task.exception())})
