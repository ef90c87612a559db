"""The job state machine, the run ledger, and what start-up does with missed runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import IllegalTransition
from minibot.core.jobs import (
    Action,
    ActionKind,
    Job,
    JobState,
    OnMissed,
    RunOutcome,
    RunRecord,
    idempotency_key,
    plan_recovery,
)
from minibot.core.schedule import Cron, Interval, OneShot, Schedule

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def make_job(
    schedule: Schedule, *, on_missed: OnMissed = OnMissed.RUN_ONCE, at: datetime = NOW
) -> Job:
    return Job.new(
        id="7",
        owner_id="u1",
        target=ConversationKey("telegram", "42"),
        action=Action(ActionKind.REMINDER, "water the plants"),
        schedule=schedule,
        now=at,
        on_missed=on_missed,
    )


def test_a_one_shot_runs_then_completes() -> None:
    job = make_job(OneShot(NOW + HOUR))
    assert (job.state, job.next_run_at, job.occurrence) == (
        JobState.SCHEDULED,
        NOW + HOUR,
        NOW + HOUR,
    )
    running = job.start(NOW + HOUR)
    assert running.state is JobState.RUNNING and running.attempts == 1
    done = running.succeed(NOW + HOUR, None)
    assert done.state is JobState.COMPLETED and done.next_run_at is None and done.finished


def test_a_recurring_job_returns_to_scheduled_with_its_next_run() -> None:
    job = make_job(Cron("0 9 * * *", "UTC"))
    first = job.next_run_at
    assert first == datetime(2026, 6, 2, 9, tzinfo=UTC)
    after = job.start(first).succeed(first, first + 24 * HOUR)
    assert (
        after.state is JobState.SCHEDULED
        and after.next_run_at == after.occurrence == first + 24 * HOUR
    )
    assert after.attempts == 0


def test_a_retry_keeps_the_occurrence_and_its_idempotency_key() -> None:
    job = make_job(OneShot(NOW + HOUR)).start(NOW + HOUR)
    waiting = job.retry(NOW + HOUR, "telegram down", NOW + 2 * HOUR)
    assert waiting.next_run_at == NOW + 2 * HOUR and waiting.occurrence == NOW + HOUR
    again = waiting.start(NOW + 2 * HOUR)
    assert again.attempts == 2
    assert idempotency_key(again.id, again.occurrence) == f"job:7:{(NOW + HOUR).isoformat()}"
    failed = again.fail(NOW + 2 * HOUR, "still down", None)
    assert failed.state is JobState.FAILED and failed.last_error == "still down"


def test_a_failing_recurring_job_moves_on_to_its_next_run() -> None:
    job = make_job(Interval(3600, NOW, "UTC")).start(NOW)
    moved = job.fail(NOW, "boom", NOW + HOUR)
    assert moved.state is JobState.SCHEDULED and moved.last_error == "boom" and moved.attempts == 0


@pytest.mark.parametrize(
    "illegal",
    [
        lambda j: j.succeed(NOW, None),  # not running
        lambda j: j.start(NOW).start(NOW),  # already running
        lambda j: j.cancel(NOW).start(NOW),  # cancelled is final
        lambda j: j.start(NOW).succeed(NOW, None).cancel(NOW),  # completed is final
        lambda j: j.start(NOW).fail(NOW, "x", None).start(NOW),  # failed is final
        lambda j: j.start(NOW).skip_to(NOW, None),  # skip needs a scheduled job
        lambda j: j.hold(NOW).start(NOW),  # held jobs wait for an answer
        lambda j: j.cancel(NOW).edit(NOW, notify="never"),
    ],
)
def test_illegal_transitions_raise(illegal: object) -> None:
    with pytest.raises(IllegalTransition):
        illegal(make_job(OneShot(NOW + HOUR)))  # type: ignore[operator]


def test_a_running_job_can_be_cancelled() -> None:
    job = make_job(OneShot(NOW + HOUR)).start(NOW)
    assert job.cancel(NOW).state is JobState.CANCELLED


def test_reschedule_and_edit() -> None:
    job = make_job(OneShot(NOW + HOUR))
    moved = job.reschedule(NOW, Cron("30 8 * * *", "UTC"))
    assert moved.next_run_at == datetime(2026, 6, 2, 8, 30, tzinfo=UTC)
    edited = moved.edit(NOW, action=Action(ActionKind.PROMPT, "news digest"))
    assert edited.action.kind is ActionKind.PROMPT and edited.next_run_at == moved.next_run_at
    with pytest.raises(ValueError, match="cannot edit"):
        job.edit(NOW, state=JobState.FAILED)


def test_a_run_has_exactly_one_outcome() -> None:
    job = make_job(OneShot(NOW)).start(NOW)
    run = RunRecord.started(job, NOW)
    done = run.finish(RunOutcome.DELIVERED, NOW)
    assert run.merge(done) == done
    assert done.merge(done) == done  # saving the same outcome again is harmless
    with pytest.raises(IllegalTransition):
        done.finish(RunOutcome.FAILED, NOW, "late")
    with pytest.raises(IllegalTransition):
        done.merge(run.finish(RunOutcome.MISSED, NOW, "x"))
    with pytest.raises(IllegalTransition):
        done.merge(run)  # a finished run is not started again


# -- missed runs at start-up -------------------------------------------------------------


def test_a_job_not_yet_due_needs_no_recovery() -> None:
    assert plan_recovery(make_job(OneShot(NOW + HOUR)), NOW, 3600) is None


def test_run_once_fires_a_missed_one_shot_within_the_grace_window() -> None:
    job = make_job(OneShot(NOW - 10 * MINUTE), at=NOW - HOUR)
    plan = plan_recovery(job, NOW, 3600)
    assert (
        plan is not None and plan.fire == NOW - 10 * MINUTE and plan.runs == () and plan.ask is None
    )
    assert plan.job.next_run_at == NOW and plan.job.occurrence == NOW - 10 * MINUTE


def test_run_once_beyond_the_grace_window_records_the_miss() -> None:
    job = make_job(OneShot(NOW - 2 * HOUR), at=NOW - 3 * HOUR)
    plan = plan_recovery(job, NOW, 3600)
    assert plan is not None and plan.fire is None
    assert [(r.outcome, r.reason) for r in plan.runs] == [
        (RunOutcome.MISSED, "missed while offline, beyond the grace window")
    ]
    assert plan.job.state is JobState.COMPLETED


def test_skip_records_each_miss_and_moves_a_recurring_job_to_its_next_run() -> None:
    job = make_job(
        Interval(3600, NOW - 5 * HOUR, "UTC"), on_missed=OnMissed.SKIP, at=NOW - 6 * HOUR
    )
    plan = plan_recovery(job, NOW - timedelta(minutes=1), 3600)
    assert plan is not None and plan.fire is None
    assert [r.occurrence for r in plan.missed] == [NOW - h * HOUR for h in (5, 4, 3, 2, 1)]
    assert all(r.reason == "missed while offline; skipped by policy" for r in plan.runs)
    assert plan.job.next_run_at == NOW and plan.job.state is JobState.SCHEDULED


def test_a_recurring_job_is_coalesced_into_one_catch_up_run() -> None:
    job = make_job(Interval(600, NOW - HOUR, "UTC"), at=NOW - 2 * HOUR)
    plan = plan_recovery(job, NOW + timedelta(minutes=5), 3600)
    assert plan is not None and plan.fire == NOW  # the latest missed run, once
    occurrences = [r.occurrence for r in plan.runs]
    assert occurrences == [NOW - timedelta(minutes=m) for m in (60, 50, 40, 30, 20, 10)]
    assert all("coalesced" in (r.reason or "") for r in plan.runs)
    assert plan.job.next_run_at == NOW + timedelta(minutes=5) and plan.job.occurrence == NOW


def test_ask_records_the_miss_and_holds_a_one_shot_for_the_answer() -> None:
    job = make_job(OneShot(NOW - HOUR / 2), on_missed=OnMissed.ASK, at=NOW - HOUR)
    plan = plan_recovery(job, NOW, 3600)
    assert plan is not None and plan.ask == NOW - HOUR / 2 and plan.fire is None
    assert [r.reason for r in plan.runs] == ["missed while offline; the user was asked"]
    held = plan.job
    assert held.state is JobState.SCHEDULED and held.next_run_at is None
    rerun = held.run_now(NOW + MINUTE)
    assert rerun.next_run_at == rerun.occurrence == NOW + MINUTE  # a new occurrence, new outcome


def test_ask_on_a_recurring_job_asks_about_the_latest_and_moves_on() -> None:
    job = make_job(Cron("0 * * * *", "UTC"), on_missed=OnMissed.ASK, at=NOW - 3 * HOUR)
    plan = plan_recovery(job, NOW + timedelta(minutes=30), 3600)
    assert plan is not None and plan.ask == NOW and len(plan.runs) == 3
    assert plan.job.next_run_at == NOW + HOUR


def test_an_interrupted_run_is_rerun_for_the_same_occurrence_whatever_the_policy() -> None:
    job = make_job(OneShot(NOW), on_missed=OnMissed.SKIP, at=NOW - HOUR).start(NOW)
    plan = plan_recovery(job, NOW + 30 * SECOND, 3600)
    assert plan is not None and plan.fire == NOW and plan.runs == ()
    assert plan.job.state is JobState.SCHEDULED and plan.job.attempts == 1
    assert plan.job.start(NOW + 31 * SECOND).attempts == 2


def test_an_interrupted_run_beyond_the_grace_window_gets_an_outcome() -> None:
    job = make_job(Cron("0 9 * * *", "UTC"), at=NOW - 48 * HOUR)
    started = job.start(job.next_run_at)  # type: ignore[arg-type]
    plan = plan_recovery(started, NOW, 60)
    assert plan is not None and plan.fire is None
    assert (
        plan.runs[0].occurrence == job.next_run_at
        and plan.runs[0].reason == "interrupted by a restart"
    )
    assert plan.job.next_run_at == datetime(2026, 6, 2, 9, tzinfo=UTC)


def test_a_long_outage_folds_old_misses_into_one_record() -> None:
    job = make_job(Cron("* * * * *", "UTC"), on_missed=OnMissed.SKIP, at=NOW - 24 * HOUR)
    plan = plan_recovery(job, NOW, 3600, max_missed_records=10)
    assert plan is not None
    assert len(plan.runs) == 11
    folded = plan.runs[-2]
    assert folded.through == NOW - timedelta(minutes=1)
    assert plan.runs[-1].occurrence == NOW
    # Every minute of the day is covered by exactly one record.
    covered = sum(
        int(((r.through or r.occurrence) - r.occurrence).total_seconds() // 60) + 1
        for r in plan.runs
    )
    assert covered == 24 * 60


def test_a_job_is_due_once_its_next_run_has_come_or_while_it_runs() -> None:
    job = make_job(OneShot(NOW + HOUR))
    assert not job.is_due(NOW)
    assert job.is_due(NOW + HOUR)
    running = job.start(NOW + HOUR)
    assert running.is_due(NOW)  # a run interrupted by a crash is still owed
    assert not running.succeed(NOW + HOUR, None).is_due(NOW + 2 * HOUR)
    assert not job.cancel(NOW).is_due(NOW + 2 * HOUR)


def test_soonest_first_orders_by_next_run_then_numeric_id_with_idle_jobs_last() -> None:
    from dataclasses import replace

    late = replace(make_job(OneShot(NOW + 2 * HOUR)), id="2")
    early_10 = replace(make_job(OneShot(NOW + HOUR)), id="10")
    early_9 = replace(make_job(OneShot(NOW + HOUR)), id="9")
    idle = replace(make_job(OneShot(NOW + HOUR)), id="1", next_run_at=None)
    ordered = sorted([idle, late, early_10, early_9], key=Job.soonest_first)
    assert [j.id for j in ordered] == ["9", "10", "2", "1"]
