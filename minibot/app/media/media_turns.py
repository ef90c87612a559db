"""A conversation turn with media: reads what was sent, answers, speaks when asked to."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from minibot.app.conversation_service import ConversationService, TurnOutcome
from minibot.app.media.media_budget import MediaBudget
from minibot.app.media.media_reader import MediaReader, TurnInput
from minibot.app.media.media_usage import MediaUsage
from minibot.app.steering import Steering
from minibot.core.budgets import breach_text
from minibot.core.commands import SendReply
from minibot.core.delivery import TurnRef
from minibot.core.errors import BudgetExceeded, MediaError
from minibot.core.media import OutgoingKind, OutgoingMedia, speech_seconds
from minibot.core.messages import IncomingMessage, OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.media import SpeechSynthesizer, VoicePreferences
from minibot.core.usage import UsageKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    # A spoken answer longer than this also goes out as text beside the voice note.
    voice_text_chars: int


class MediaTurns:
    """The `TurnHandler` when media is on. A message with a file is read first
    (`MediaReader`): a file that cannot be used is answered with its reason, and the
    model is not asked. Notices (the transcript, a cut document) go out before the
    answer, under turn ids of their own. The answer is spoken (`/voice`: on, or auto
    for a message that was a recording) as an OGG voice note; a failed synthesis sends
    the text, never nothing, and so does speech a budget refuses (with the breach said
    once, after the answer). A recording a budget refuses is answered with the breach.
    A text message with voice off costs one cached lookup."""

    def __init__(
        self,
        *,
        conversation: ConversationService,
        reader: MediaReader,
        voices: VoicePreferences,
        speech: SpeechSynthesizer,
        usage: MediaUsage,
        publish: Publish,
        settings: VoiceSettings,
        budget: MediaBudget | None = None,
    ) -> None:
        self._conversation = conversation
        self._reader = reader
        self._voices = voices
        self._speech = speech
        self._usage = usage
        self._publish = publish
        self._settings = settings
        self._budget = budget

    async def handle(
        self,
        message: IncomingMessage,
        *,
        owner_id: str,
        turn_id: str,
        steering: Steering | None = None,
    ) -> None:
        turn = TurnRef(turn_id, message.inbox_id)
        conversation = message.conversation
        given = TurnInput(message.text)
        if message.media is not None:
            try:
                given = await self._reader.read(message, owner_id=owner_id)
            except MediaError as exc:
                log.info("media refused", extra={"kind": message.media.kind, "error": exc.reason})
                await self._publish(
                    SendReply(OutgoingMessage.answering(turn, conversation, exc.reason))
                )
                return
            except BudgetExceeded as exc:
                log.warning("budget reached", extra={"period": exc.breach.period})
                await self._publish(
                    SendReply(
                        OutgoingMessage.answering(turn, conversation, breach_text(exc.breach))
                    )
                )
                return
            for number, notice in enumerate(given.notices):
                # Its own turn id, no inbox item: the answer's delivery marks the item done.
                notice_turn = TurnRef(f"{turn_id}/notice{number}")
                await self._publish(
                    SendReply(OutgoingMessage.answering(notice_turn, conversation, notice))
                )
        outcome = await self._conversation.run_turn(
            conversation,
            given.text,
            owner_id=owner_id,
            turn_id=turn_id,
            message_id=message.message_id,
            in_group=message.in_group,
            speaker_name=message.sender.display_name,
            images=given.images,
            meta=given.meta,
            forwarded=message.forwarded,
            steering=steering,
        )
        if steering is not None:
            # Answered: a newer message is not steered into it, nor may interrupt it.
            steering.close()
        text, media = await self._spoken(message, given, outcome, owner_id)
        await self._publish(
            SendReply(
                OutgoingMessage.answering(
                    turn, conversation, text, buttons=outcome.buttons, media=media
                )
            )
        )
        await outcome.settled()

    async def mark_interrupted(
        self, message: IncomingMessage, *, owner_id: str, turn_id: str
    ) -> None:
        await self._conversation.mark_interrupted(message, owner_id=owner_id, turn_id=turn_id)

    async def _spoken(
        self, message: IncomingMessage, given: TurnInput, outcome: TurnOutcome, owner_id: str
    ) -> tuple[str, tuple[OutgoingMedia, ...]]:
        """The answer's text and voice note: the text alone unless it is to be spoken."""
        if not outcome.ok or outcome.buttons:
            return outcome.text, ()
        mode = await self._voices.mode(message.conversation)
        if not mode.speaks(asked_by_voice=given.by_voice):
            return outcome.text, ()
        if self._budget is not None:
            # The turn's own model calls count: their usage rows land first.
            await outcome.settled()
            try:
                await self._budget.check(owner_id, UsageKind.SPEECH, speech_seconds(outcome.text))
            except BudgetExceeded as exc:
                log.warning(
                    "budget reached, answering in text", extra={"period": exc.breach.period}
                )
                return f"{outcome.text}\n\n{breach_text(exc.breach)}", ()
        try:
            speech = await self._speech.speak(outcome.text)
        except MediaError as exc:
            log.warning("speech failed, answering in text", extra={"error": exc.reason})
            return outcome.text, ()
        await self._usage.record(
            owner_id=owner_id,
            conversation=message.conversation,
            kind=UsageKind.SPEECH,
            model=speech.model,
            quantity=speech.seconds,
        )
        # A long answer goes out as text too; a short one only as text if the voice
        # note cannot be sent.
        long = len(outcome.text) > self._settings.voice_text_chars
        voice = OutgoingMedia(
            OutgoingKind.VOICE,
            speech.data,
            "audio/ogg",
            fallback_text="" if long else outcome.text,
        )
        return (outcome.text if long else ""), (voice,)
