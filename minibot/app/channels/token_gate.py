"""Sending while the platform refuses the bot's token (401): paused, tried again with back-off."""

from __future__ import annotations

import asyncio
import logging

from minibot.core.backoff import Backoff
from minibot.core.health import HealthBoard

log = logging.getLogger(__name__)

# The condition this gate reports on the channel's health board.
CONDITION = "delivery"
_REASON = "the platform refuses the bot token: replies wait until it is accepted again"


class TokenGate:
    """While the token is refused, nothing is sent but one probe per back-off step
    (`initial_delay_seconds`, doubling up to `max_delay_seconds`): callers take `probe`
    to send, so a hundred waiting replies make one request a step, not a hundred. The
    first refusal is logged at ERROR and degrades the health board; the first success
    after it recovers the board and lets every waiting reply go."""

    def __init__(
        self,
        health: HealthBoard,
        *,
        platform: str = "channel",
        reason: str = _REASON,
        initial_delay_seconds: float = 1.0,
        max_delay_seconds: float = 60.0,
    ) -> None:
        self._health = health
        self._platform = platform
        self._reason = reason
        self._backoff = Backoff(initial_delay_seconds, max_delay_seconds)
        self._refusals = 0
        self.refused = False
        self.resume_at = 0.0
        self.probe = asyncio.Lock()

    def token_refused(self, error: str, now: float) -> None:
        if now < self.resume_at:
            # Sent before this step's pause began: that step already counts it.
            return
        self._refusals = self._refusals + 1 if self.refused else 1
        delay = self._backoff.delay(self._refusals)
        if not self.refused:
            self.refused = True
            log.error(
                f"{self._platform} refuses the bot token: "
                "sending paused until it is accepted again",
                extra={"error": error, "retry_in_seconds": delay},
            )
            self._health.degrade(CONDITION, self._reason)
        else:
            log.warning(
                f"{self._platform} still refuses the bot token",
                extra={"error": error, "retry_in_seconds": delay},
            )
        self.resume_at = now + delay

    def token_accepted(self) -> None:
        self.refused = False
        self.resume_at = 0.0
        self._health.recover(CONDITION)
        log.info(f"{self._platform} accepts the bot token again: sending resumed")
