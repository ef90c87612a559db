"""Writes transcription, speech and image requests to the usage ledger, priced."""

from __future__ import annotations

import logging
from collections.abc import Callable

from minibot.core.conversation import ConversationKey
from minibot.core.ports.clock import Clock
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.usage import UsageKind, UsageRecord

log = logging.getLogger(__name__)

# (model, kind, quantity) -> US dollars.
QuantityPrice = Callable[[str, UsageKind, float], float]


class MediaUsage:
    """One usage row per media request: `quantity` seconds of audio or images, its cost
    from the price list. A row that cannot be written is logged, never raised: the
    person's answer does not wait on the ledger's health."""

    def __init__(self, ledger: UsageLedger, clock: Clock, price: QuantityPrice) -> None:
        self._ledger = ledger
        self._clock = clock
        self._price = price

    async def record(
        self,
        *,
        owner_id: str,
        conversation: ConversationKey,
        kind: UsageKind,
        model: str,
        quantity: float,
    ) -> None:
        record = UsageRecord(
            owner_id=owner_id,
            conversation=conversation,
            model=model,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=self._price(model, kind, quantity),
            estimated=kind is UsageKind.SPEECH,  # speech is priced by its estimated length
            at=self._clock.now(),
            kind=kind,
            quantity=quantity,
        )
        try:
            await self._ledger.record(record)
        except Exception as exc:
            log.warning("media usage not recorded", extra={"kind": kind, "error": repr(exc)})
