"""When an alert fires and when it resolves: pure rules, fed facts, answering changes."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from minibot.core.health import Health, HealthState

MODEL = "model"


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert that starts (`firing`) or ends; `key` names it (model, job:<id>,
    service:<name>), `summary` is one sentence for a person."""

    key: str
    firing: bool
    summary: str


class AlertRules:
    """Each alert is sent once when it starts and once when it resolves, never repeated
    in between. The model alert fires when `model_failures` turns failed within
    `window_seconds`, and resolves at the next successful turn. A job alert fires when
    a run failed or was missed, and resolves when the job's next run is delivered. A
    service alert fires when its health is degraded or stopped, and resolves once it is
    ready again. Times are seconds on any monotonic clock."""

    def __init__(self, *, model_failures: int, window_seconds: float) -> None:
        self._model_failures = model_failures
        self._window = window_seconds
        self._failures: deque[float] = deque()
        self._firing: set[str] = set()

    @property
    def firing(self) -> frozenset[str]:
        return frozenset(self._firing)

    def turn(self, ok: bool, at: float) -> AlertChange | None:
        if ok:
            self._failures.clear()
            return self._resolve(MODEL, "the model answers again")
        self._failures.append(at)
        while self._failures and self._failures[0] <= at - self._window:
            self._failures.popleft()
        if len(self._failures) < self._model_failures:
            return None
        return self._fire(
            MODEL,
            f"the model failed {len(self._failures)} turns within {self._window:g} seconds",
        )

    def job_failed(self, job_id: str, reason: str, *, missed: bool = False) -> AlertChange | None:
        what = "was missed" if missed else "failed"
        return self._fire(f"job:{job_id}", f"scheduled job {job_id} {what}: {reason}")

    def job_delivered(self, job_id: str) -> AlertChange | None:
        return self._resolve(f"job:{job_id}", f"scheduled job {job_id} ran again")

    def services(self, health: Mapping[str, Health]) -> list[AlertChange]:
        changes: list[AlertChange] = []
        for name, state in health.items():
            key = f"service:{name}"
            if state.state in (HealthState.DEGRADED, HealthState.STOPPED):
                why = f": {state.reason}" if state.reason else ""
                change = self._fire(key, f"service {name} is {state.state}{why}")
            elif state.state is HealthState.READY:
                change = self._resolve(key, f"service {name} is ready again")
            else:
                change = None
            if change is not None:
                changes.append(change)
        return changes

    def _fire(self, key: str, summary: str) -> AlertChange | None:
        if key in self._firing:
            return None
        self._firing.add(key)
        return AlertChange(key, True, summary)

    def _resolve(self, key: str, summary: str) -> AlertChange | None:
        if key not in self._firing:
            return None
        self._firing.discard(key)
        return AlertChange(key, False, summary)
