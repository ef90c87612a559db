"""What a job does when it fires: a reminder sent verbatim, or a prompt run through the LLM."""

from __future__ import annotations

from typing import Protocol

from minibot.app.conversation_service import ConversationService
from minibot.core.commands import SendReply
from minibot.core.errors import RunFailed, RunMissed
from minibot.core.jobs import Job, Notify
from minibot.core.messages import Button, OutgoingMessage
from minibot.core.ports.bus import Publish

SNOOZE_SECONDS = 600
_LEDGER_NOTE_CHARS = 200


class Strategy(Protocol):
    async def perform(self, job: Job, key: str) -> str | None:
        """Produce the job's effect, carrying `key` (the idempotency key) as its turn id,
        so a run re-fired after a crash is shown once. Returns a note for the ledger;
        raises on failure."""
        ...


def reminder_buttons(job_id: str) -> tuple[Button, ...]:
    return (
        Button("Snooze 10 min", f"job:snooze:{job_id}"),
        Button("Done", f"job:done:{job_id}"),
    )


class ReminderStrategy:
    """Sends the text exactly as the person wrote it. No LLM: a reminder cannot be
    reworded or "evaluated away", and it costs nothing."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    async def perform(self, job: Job, key: str) -> str | None:
        message = OutgoingMessage(job.target, job.action.text, key, reminder_buttons(job.id))
        await self._publish(SendReply(message))
        return None


class PromptStrategy:
    """Runs the prompt as a turn of the job's conversation and sends the answer, unless
    the job says `notify = never` (the answer is then kept in the history and the ledger).

    The turn id is the idempotency key, so a turn re-run after a crash replays its stored
    answer instead of asking the model again.
    """

    def __init__(self, conversation: ConversationService, publish: Publish) -> None:
        self._conversation = conversation
        self._publish = publish

    async def perform(self, job: Job, key: str) -> str | None:
        outcome = await self._conversation.run_turn(
            job.target,
            job.action.text,
            owner_id=job.owner_id,
            turn_id=key,
            model_alias=job.action.model,
        )
        await outcome.settled()
        if outcome.budget is not None:
            raise RunMissed(outcome.text)
        if not outcome.ok:
            raise RunFailed(f"the model gave no answer: {outcome.text}")
        if job.notify is Notify.NEVER:
            answer = " ".join(outcome.text.split())[:_LEDGER_NOTE_CHARS]
            return f"not sent (notify = never); answer: {answer}"
        # A prompt run in a group may answer with an approval request: its buttons go too.
        reply = OutgoingMessage(job.target, outcome.text, key, outcome.buttons)
        await self._publish(SendReply(reply))
        return None
