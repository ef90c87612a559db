"""What the owner and the model are told about held, denied and refused tool calls."""

from __future__ import annotations

import json

from minibot.core.approval import Approval, ApprovalState
from minibot.core.conversation import ToolCall
from minibot.core.messages import Button

# The result a held call gets in the turn that holds it.
HELD = json.dumps(
    {"ok": False, "error": "not run yet: held until the speaker approves it with the buttons"}
)
# A tool whose permission is `deny` for this owner.
DENIED_BY_SETTING = json.dumps(
    {"ok": False, "error": "not run: this tool is denied by the owner's permission settings"}
)
BUTTON_PREFIX = "approval"
# The call id of a held workflow step: its decision wakes the workflow, not a turn.
WORKFLOW_CALL_PREFIX = "workflow-step-"
_OTHERS_ONLY = "untrusted content is in play (other people's messages)"


def refused(reason: str) -> str:
    """Where no approval can be asked (none is wired): the call is refused outright."""
    return json.dumps({"ok": False, "error": f"not run: it needs the owner's approval ({reason})"})


def request_text(approval: Approval, timeout_seconds: float, reasons: tuple[str, ...] = ()) -> str:
    """The message with the buttons: every held call with its arguments in full, and
    why it is asked; when untrusted content is in play, that is said plainly."""
    who = approval.speaker_name or "the person who asked"
    why = list(dict.fromkeys(reasons))
    if not why or why == [_OTHERS_ONLY]:
        head = (
            f"{who}: this chat has messages from other people, so before I act on your "
            f"data I need your approval for {_count(approval.calls)}:"
        )
    else:
        head = f"{who}: I need your approval before I run {_count(approval.calls)}:"
    lines = [head, "```", *(_call_line(call) for call in approval.calls), "```"]
    if why and why != [_OTHERS_ONLY]:
        lines.append("Why: " + "; ".join(why) + ".")
    if any(reason.startswith("untrusted content") for reason in why):
        lines.append(
            "Untrusted content is in play: text I did not get from you is in this "
            "conversation and may be trying to steer me. Approve only what you asked for."
        )
    lines.append(
        f"Only {who} can approve. No answer within {_duration(timeout_seconds)} counts as Deny."
    )
    return "\n".join(lines)


def buttons(approval: Approval) -> tuple[Button, ...]:
    return (
        Button("Approve", f"{BUTTON_PREFIX}:approve:{approval.id}"),
        Button("Deny", f"{BUTTON_PREFIX}:deny:{approval.id}"),
    )


def decision_text(approval: Approval) -> str:
    """The decision, as the speaker's message in the history the model reads next."""
    calls = ", ".join(call.name for call in approval.calls)
    if approval.state is ApprovalState.APPROVED:
        return f"[I pressed Approve: run {calls} as asked.]"
    if approval.state is ApprovalState.DENIED:
        return f"[I pressed Deny: do not run {calls}.]"
    return f"[I did not answer the approval request in time: {calls} not run.]"


def decision_result(approval: Approval) -> str:
    """The result of a call that was not approved."""
    why = (
        "denied by the speaker" if approval.state is ApprovalState.DENIED else "no approval in time"
    )
    return json.dumps({"ok": False, "error": f"not run: {why}"})


def _call_line(call: ToolCall) -> str:
    arguments = call.arguments.strip() or "{}"
    # A code block must not be closable from inside the arguments.
    return f"{call.name} {arguments}".replace("```", "` ` `")


def _count(calls: tuple[ToolCall, ...]) -> str:
    return "this call" if len(calls) == 1 else f"these {len(calls)} calls"


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def for_workflow(approval: Approval) -> bool:
    return bool(approval.calls) and all(
        call.id.startswith(WORKFLOW_CALL_PREFIX) for call in approval.calls
    )


def workflow_decision(approval: Approval) -> str:
    if approval.state is ApprovalState.APPROVED:
        return "Approved: the workflow goes on."
    if approval.state is ApprovalState.DENIED:
        return "Denied: the workflow stops at this step."
    return "No answer in time: the workflow stopped at this step (nothing was run)."
