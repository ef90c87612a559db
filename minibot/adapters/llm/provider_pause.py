"""A provider's pause: after a 429 or 503 with Retry-After, no request goes to it until then."""

from __future__ import annotations

from collections.abc import Callable

from minibot.adapters.llm.retry_policy import Failure, provider_pause_seconds


class ProviderPause:
    """Shared by every conversation of one model client, which talks to one provider.

    Without it each conversation learns of a rate limit from its own 429, so a storm costs
    one refused request per conversation instead of one in all.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # None when not paused: the only thing a request checks on the hot path.
        self.resume_at: float | None = None
        self.cause: Failure | None = None

    def note(self, failure: Failure) -> None:
        """Pause (or pause longer) if the provider asked every caller to wait."""
        seconds = provider_pause_seconds(failure)
        if seconds is None:
            return
        resume_at = self._clock() + seconds
        if self.resume_at is None or resume_at > self.resume_at:
            self.resume_at, self.cause = resume_at, failure

    def remaining_seconds(self) -> float:
        """Seconds until requests may go again; 0.0 once the pause has passed."""
        if self.resume_at is None:
            return 0.0
        left = self.resume_at - self._clock()
        if left <= 0:
            self.resume_at = self.cause = None
            return 0.0
        return left
