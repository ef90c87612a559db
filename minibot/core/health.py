"""Health as data: each service says whether it is starting, ready, degraded or stopped."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HealthState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DEGRADED = "degraded"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Health:
    state: HealthState
    # Why a service is degraded (one short sentence, safe to show an operator).
    reason: str | None = None


class HealthBoard:
    """A service's named conditions that degrade it (say `auth` or `disk`), so one
    recovering condition does not hide another. Pure bookkeeping, no I/O: the owner calls
    `degrade` when trouble starts and `recover` when it has passed."""

    def __init__(self) -> None:
        self._state = HealthState.STARTING
        self._problems: dict[str, str] = {}

    def started(self) -> None:
        self._state = HealthState.READY

    def stopped(self) -> None:
        self._state = HealthState.STOPPED

    def degrade(self, condition: str, reason: str) -> None:
        self._problems[condition] = reason

    def recover(self, condition: str) -> None:
        self._problems.pop(condition, None)

    @property
    def health(self) -> Health:
        if self._state is HealthState.READY and self._problems:
            return Health(HealthState.DEGRADED, "; ".join(self._problems.values()))
        return Health(self._state)
