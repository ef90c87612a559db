"""The generate_image tool: a picture made on request, delivered as a photo."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from minibot.app.media.media_budget import MediaBudget
from minibot.app.media.media_usage import MediaUsage
from minibot.app.tools.registry import Tool, ToolAccess, ToolContext
from minibot.core.budgets import breach_text
from minibot.core.commands import SendReply
from minibot.core.delivery import TurnRef
from minibot.core.errors import BudgetExceeded, MediaError, ToolError
from minibot.core.llm import ToolSpec
from minibot.core.media import OutgoingKind, OutgoingMedia
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.media import ImageGenerator
from minibot.core.usage import UsageKind

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 1000
_CAPTION_CHARS = 200  # Telegram takes up to 1024; a short caption reads better


class ImageTools:
    """`generate_image` makes one image and sends it to the conversation as a photo,
    under the call's origin as its turn id: the delivery ledger records it like a text
    chunk, so a turn handled again after a crash does not send it twice, and an image
    already delivered is not even made again. Each image is a usage row. An image a
    budget refuses is not asked for: the person is told the breach once (under the same
    turn id, so a turn run again does not say it twice) and the model that it was not made."""

    def __init__(
        self,
        generator: ImageGenerator,
        publish: Publish,
        usage: MediaUsage,
        ledger: DeliveryLedger,
        budget: MediaBudget | None = None,
    ) -> None:
        self._generator = generator
        self._publish = publish
        self._usage = usage
        self._ledger = ledger
        self._budget = budget

    def tools(self) -> list[Tool]:
        spec = ToolSpec(
            "generate_image",
            "Make a picture from a description and send it to the user as a photo. "
            "Describe the picture fully: the tool sees nothing of the conversation.",
            {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "minLength": 1, "maxLength": MAX_PROMPT_CHARS}
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
        )
        # Public: it reads and changes nothing of anyone's data (it costs, like a reply).
        return [Tool(spec, self.generate_image, ToolAccess.PUBLIC)]

    async def generate_image(self, args: Mapping[str, Any], context: ToolContext) -> Any:
        prompt = str(args["prompt"]).strip()
        turn_id = context.origin or f"{context.conversation}#image-{uuid.uuid4().hex[:12]}"
        if await self._ledger.sent(turn_id):
            return {"sent": True, "note": "the image was already sent to the user as a photo"}
        if self._budget is not None:
            try:
                await self._budget.check(context.owner_id, UsageKind.IMAGE, 1)
            except BudgetExceeded as exc:
                return await self._refused(turn_id, context, breach_text(exc.breach))
        try:
            image = await self._generator.generate(prompt)
        except MediaError as exc:
            raise ToolError(f"the image could not be made: {exc.reason}") from exc
        await self._usage.record(
            owner_id=context.owner_id,
            conversation=context.conversation,
            kind=UsageKind.IMAGE,
            model=image.model,
            quantity=1,
        )
        caption = prompt if len(prompt) <= _CAPTION_CHARS else prompt[: _CAPTION_CHARS - 1] + "…"
        photo = OutgoingMedia(
            OutgoingKind.PHOTO,
            image.data,
            image.mime_type,
            caption=caption,
            fallback_text=f"(I made an image of “{caption}”, but it could not be sent here.)",
        )
        await self._publish(
            SendReply(
                OutgoingMessage.answering(
                    TurnRef(turn_id), context.conversation, "", media=(photo,)
                )
            )
        )
        return {"sent": True, "note": "the image is on its way to the user as a photo"}

    async def _refused(self, turn_id: str, context: ToolContext, text: str) -> Any:
        await self._publish(
            SendReply(OutgoingMessage.answering(TurnRef(turn_id), context.conversation, text))
        )
        return {
            "sent": False,
            "error": "no image was made: the user's budget is reached, and they have been "
            "told so; do not try again in this turn",
        }
