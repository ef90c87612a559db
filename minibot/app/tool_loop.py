"""The tool loop of a turn: model and tools in bounded rounds, each call under its permission."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from minibot.app.approvals import approval_text
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.core.approval import Approval
from minibot.core.conversation import ChatMessage, Role, ToolCall
from minibot.core.llm import Completion
from minibot.core.ports.language_model import LanguageModel, TextSink
from minibot.core.ports.tracer import Tracer
from minibot.core.tokens import estimate_tokens
from minibot.core.tool_permissions import PermissionLevel, Untrusted
from minibot.core.tracing import NO_TRACER

# Called with each completion and the prompt it answered (for the usage ledger).
OnCompletion = Callable[[Completion, list[ChatMessage]], None]
# Messages that joined the turn since the last model call (busy policy "steer").
Steer = Callable[[], Awaitable[list[ChatMessage]]]


OTHERS_SPOKE = "other people's messages"
FORWARDED = "a forwarded message"


@dataclass(frozen=True, slots=True)
class LoopTurn:
    """What the loop knows of its turn. `tag` is the meta of every message it adds (the
    speaker, in a group); `guarded` when others spoke, so calls on the speaker's data
    are held for approval."""

    context: ToolContext
    speaker_name: str
    turn_id: str
    tag: dict[str, str]
    guarded: bool
    # Untrusted sources the turn starts with (a forwarded message).
    untrusted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Held:
    """The turn stopped for the owner's decision on `approval`; `reasons` say why each
    held call was held (its permission, or the untrusted content in play)."""

    approval: Approval
    reasons: tuple[str, ...]
    untrusted: Untrusted


class ToolLoop:
    """Asks the model, runs the tool calls it makes, and asks again, at most
    `max_iterations` rounds; then once more without tools.

    Each call goes by its permission for the turn's owner: `deny` does not run (the
    model is told), `confirm` is held. Untrusted content in the turn (others spoke, or
    an earlier call of this turn brought text from outside: fetch_url, web_search,
    run_code) holds every call with side effects even if it is `allow`. The round's held
    calls go to the approval desk and the loop ends with that approval (without a desk
    they are refused and the model is told)."""

    def __init__(
        self,
        *,
        model: LanguageModel,
        tools: ToolRegistry,
        approvals: ApprovalDesk | None,
        now: Callable[[], datetime],
        max_iterations: int,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._tracer = tracer
        self._model = model
        self._tools = tools
        self._approvals = approvals
        self._now = now
        self._max_iterations = max_iterations

    async def run(
        self,
        prompt: list[ChatMessage],
        new_messages: list[ChatMessage],
        turn: LoopTurn,
        *,
        on_completion: OnCompletion,
        on_text: TextSink | None,
        model: LanguageModel | None = None,
        steer: Steer | None = None,
    ) -> Completion | Held:
        """The model's final completion, or the approval that holds some of its calls.
        What the loop adds to the conversation is appended to `prompt` and `new_messages`.
        `model` answers in place of the loop's own; `steer` is asked before each model
        call for messages that joined the turn, and after the final answer: when some
        joined during it, the model is asked again with them, so one answer covers all."""
        model = model or self._model
        iteration = 0
        untrusted = self.untrusted_in(new_messages, turn)
        # The n-th call of a tool in this turn: the same when the turn runs again after a
        # crash (the model's own call ids are new each time), so creations are keyed by it.
        calls_made: dict[str, int] = {}
        joined = await steer() if steer is not None else []
        while True:
            prompt.extend(joined)
            new_messages.extend(joined)
            offer_tools = bool(self._tools) and iteration < self._max_iterations
            specs = self._tools.specs_for(turn.context.owner_id) if offer_tools else ()
            completion = await model.complete(prompt, tools=specs, on_text=on_text)
            on_completion(completion, prompt)
            joined = await steer() if steer is not None else []
            if not completion.tool_calls or not offer_tools:
                if joined:
                    continue  # asked again with what joined: its answer replaces this one
                return completion
            asked = self.message(
                Role.ASSISTANT, completion.text, turn.tag, tool_calls=completion.tool_calls
            )
            prompt.append(asked)
            new_messages.append(asked)
            held: list[ToolCall] = []
            reasons: list[str] = []
            # The model chose this round's calls before it saw their output: what they
            # bring from outside weighs on the next rounds.
            brought: list[str] = []
            for call in completion.tool_calls:
                level = self._tools.level(turn.context.owner_id, call.name)
                hold = self.hold_reason(call.name, level, untrusted)
                if level is PermissionLevel.DENY:
                    result = approval_text.DENIED_BY_SETTING
                elif hold:
                    result = self._hold(call, hold, held, reasons)
                else:
                    result = await self.run_call(
                        call, turn.context, origin=nth_call(turn.turn_id, call.name, calls_made)
                    )
                    if self._tools.untrusted_output(call.name):
                        brought.append(f"{call.name} output")
                answered = self.message(Role.TOOL, result, turn.tag, tool_call_id=call.id)
                prompt.append(answered)
                new_messages.append(answered)
            for source in brought:
                untrusted = untrusted.adding(source)
            if held and self._approvals is not None:
                # The turn ends here: only the speaker's press may let these calls run.
                context = turn.context
                approval = await self._approvals.hold(
                    turn_id=turn.turn_id,
                    conversation=context.conversation,
                    owner_id=context.owner_id,
                    speaker_name=turn.speaker_name,
                    calls=tuple(held),
                    message_id=context.message_id,
                )
                return Held(approval, tuple(reasons), untrusted)
            iteration += 1

    def _hold(self, call: ToolCall, hold: str, held: list[ToolCall], reasons: list[str]) -> str:
        """A call that waits for the owner, or its error when its arguments alone are
        bad (the model corrects them; nobody is asked to approve a call that would fail)."""
        refused = self._tools.refusal(call)
        if refused is not None:
            return refused
        held.append(call)
        reasons.append(hold)
        return approval_text.HELD if self._approvals else approval_text.refused(hold)

    def untrusted_in(self, turn_messages: list[ChatMessage], turn: LoopTurn) -> Untrusted:
        """The untrusted content in play as the loop starts: others' words in the
        history, and the output of tools that bring text from outside already in this
        turn (a turn resumed after an approval opens with the approved calls)."""
        untrusted = Untrusted((OTHERS_SPOKE,)) if turn.guarded else Untrusted()
        for source in turn.untrusted:
            untrusted = untrusted.adding(source)
        for message in turn_messages:
            # A document (or anything else) the channel marked as untrusted when read.
            marked = message.meta.get("untrusted")
            if message.role is Role.USER and marked:
                untrusted = untrusted.adding(f"a sent {marked}")
        for message in turn_messages:
            for call in message.tool_calls:
                if self._tools.untrusted_output(call.name):
                    untrusted = untrusted.adding(f"{call.name} output")
        return untrusted

    def hold_reason(self, name: str, level: PermissionLevel, untrusted: Untrusted) -> str:
        return hold_reason(self._tools, name, level, untrusted)

    async def run_call(
        self, call: ToolCall, context: ToolContext, *, origin: str | None = None
    ) -> str:
        """One call, for the owner of `context` (never anyone named in the arguments);
        `origin` keys what it creates, so a call run again creates nothing new."""
        for_call = ToolContext(
            context.owner_id, context.conversation, context.message_id, call.id, origin=origin
        )
        with self._tracer.span("tool.call", {"tool": call.name}):
            return await self._tools.run(call, for_call)

    def message(
        self,
        role: Role,
        text: str,
        meta: dict[str, str],
        *,
        tool_calls: tuple[ToolCall, ...] = (),
        tool_call_id: str | None = None,
    ) -> ChatMessage:
        return ChatMessage(
            role,
            text,
            tool_calls=tool_calls,
            tool_call_id=tool_call_id,
            created_at=self._now(),
            token_estimate=estimate_tokens(text or "tool call"),
            meta=dict(meta),
        )


def hold_reason(
    tools: ToolRegistry, name: str, level: PermissionLevel, untrusted: Untrusted
) -> str:
    """Why a call must wait for the owner, or "" when it may run (a `deny` is the
    caller's to refuse first)."""
    if level is PermissionLevel.CONFIRM:
        return f"{name} is set to confirm"
    if untrusted and tools.needs_approval(name):
        return f"untrusted content is in play ({untrusted.describe()})"
    return ""


def nth_call(turn_id: str, tool: str, calls_made: dict[str, int]) -> str:
    """The origin of the next call of `tool` in a turn: `<turn>/<tool>#<n>`."""
    nth = calls_made.get(tool, 0)
    calls_made[tool] = nth + 1
    return f"{turn_id}/{tool}#{nth}"
