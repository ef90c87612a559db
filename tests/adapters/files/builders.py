"""Jobs for store and scheduler tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from minibot.core.conversation import ConversationKey
from minibot.core.jobs import Action, ActionKind, Job, OnMissed
from minibot.core.schedule import OneShot, Schedule

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def reminder(
    job_id: str,
    *,
    owner_id: str = "u1",
    at: datetime | None = None,
    schedule: Schedule | None = None,
    now: datetime = T0,
    on_missed: OnMissed = OnMissed.RUN_ONCE,
    text: str | None = None,
) -> Job:
    return Job.new(
        id=job_id,
        owner_id=owner_id,
        target=ConversationKey("telegram", f"chat-{owner_id}"),
        action=Action(ActionKind.REMINDER, text or f"reminder {job_id}"),
        schedule=schedule or OneShot(at or now + timedelta(hours=1), "Europe/Madrid"),
        now=now,
        on_missed=on_missed,
    )
