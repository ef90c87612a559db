"""Snooze, Done, and start-up recovery: what each person is told, and Run now / Skip."""

from __future__ import annotations

from datetime import timedelta

from minibot.core.conversation import ConversationKey
from minibot.core.events import ButtonPressed, JobMissed
from minibot.core.jobs import Action, ActionKind, Job, JobState, OnMissed, RunOutcome
from minibot.core.messages import Sender
from minibot.core.schedule import Cron, OneShot
from tests.app.jobs.job_harness import ALICE, BOB, T0, JobHarness, build_tasks
from tests.fakes.clock import ManualClock
from tests.fakes.job_store import InMemoryJobStore


async def test_snooze_schedules_the_same_text_ten_minutes_later(h: JobHarness) -> None:
    await h.command("/remind in 1 minute stretch")
    await h.advance(60)
    await h.wait_for(lambda: len(h.app.channel.delivered) == 2)
    snoozed = await h.press("job:snooze:1")
    assert snoozed.text == 'Snoozed: reminder "stretch", Tue 08:11 UTC, job 2.'
    await h.advance(600)
    await h.wait_for(lambda: len(h.app.channel.delivered) == 4)
    again = h.app.channel.delivered[3]
    assert again.text == "stretch" and again.buttons[0].action == "job:snooze:2"
    assert (await h.press("job:done:2")).text == 'Done: reminder "stretch".'
    assert h.app.model.calls == []


async def test_snooze_pressed_twice_makes_one_reminder(h: JobHarness) -> None:
    await h.command("/remind in 1 minute stretch")
    await h.advance(60)
    await h.wait_for(lambda: len(h.app.channel.delivered) == 2)

    first = await h.press("job:snooze:1")
    second = await h.press("job:snooze:1")

    assert first.text == 'Snoozed: reminder "stretch", Tue 08:11 UTC, job 2.'
    assert second.text == 'Already snoozed: reminder "stretch", Tue 08:11 UTC, job 2.'
    assert [job.id for job in await h.store.list_jobs(ALICE)] == ["2"]
    await h.advance(600)
    await h.wait_for(lambda: h.app.channel.delivered[-1].text == "stretch")
    # The copy fired: a Snooze of it makes a new one.
    assert (await h.press("job:snooze:2")).text.startswith("Snoozed:")


async def test_buttons_of_another_persons_job_do_nothing(h: JobHarness) -> None:
    await h.command("/remind in 1 minute private")
    reply = await h.press("job:snooze:1", user="8")
    assert reply.text == "no such job: 1 (see /tasks for your jobs)."
    assert await h.store.list_jobs(BOB) == []


def _job(job_id: str, schedule: OneShot | Cron, on_missed: OnMissed, owner: str = ALICE) -> Job:
    return Job.new(
        id=job_id,
        owner_id=owner,
        target=ConversationKey("test", "1" if owner == ALICE else "2"),
        action=Action(ActionKind.REMINDER, f"thing {job_id}"),
        schedule=schedule,
        now=T0 - timedelta(days=3),
        on_missed=on_missed,
    )


async def test_start_up_tells_each_person_once_what_was_missed_or_caught_up() -> None:
    store = InMemoryJobStore()
    two_hours_ago = T0 - timedelta(hours=2)
    await store.save(_job("1", OneShot(T0 - timedelta(minutes=5)), OnMissed.RUN_ONCE))
    await store.save(_job("2", OneShot(two_hours_ago), OnMissed.RUN_ONCE))
    await store.save(_job("3", Cron("0 6 * * *"), OnMissed.SKIP))
    await store.save(_job("4", OneShot(two_hours_ago), OnMissed.ASK))
    await store.save(_job("5", OneShot(two_hours_ago), OnMissed.SKIP, owner=BOB))
    h = build_tasks(store=store, clock=ManualClock(T0))
    await h.start()
    try:
        notices = {n.conversation.chat_id: n for n in h.tasks.recovered.notices}
        assert set(notices) == {"1", "2"}, "one message per person"
        alice = notices["1"].text.splitlines()
        assert alice[0] == "While I was offline:"
        assert alice[1] == '- job 1, reminder "thing 1": was due Tue 07:55 UTC; running it now'
        assert "job 2" in alice[2] and "beyond the grace window" in alice[2]
        assert "job 3" in alice[3] and "3 runs missed" in alice[3] and "next Wed 06:00" in alice[3]
        assert "job 4" in alice[4] and "Run it now, or skip it?" in alice[4]
        assert [b.action for b in notices["1"].buttons] == ["job:run:4", "job:skip:4"]
        await h.settle()
        missed = [e for e in h.events if isinstance(e, JobMissed)]
        assert sorted(e.job_id for e in missed) == ["2", "3", "3", "3", "4", "5"]
        await h.wait_for(lambda: len(h.app.channel.texts("2")) == 1)
        assert h.app.channel.texts("2")[0].startswith("While I was offline:\n- job 5")
        assert notices["1"].text in h.app.channel.texts("1")
        # The catch-up fires once the scheduler runs.
        await h.wait_for(lambda: "thing 1" in h.app.channel.texts())
        assert [r.outcome for r in await store.runs("2")] == [RunOutcome.MISSED]

        ran = await h.press("job:run:4")
        assert ran.text == 'Running job 4, reminder "thing 4", now.'
        await h.wait_for(lambda: "thing 4" in h.app.channel.texts())
    finally:
        await h.stop()


async def test_skip_ends_a_held_one_shot() -> None:
    store = InMemoryJobStore()
    await store.save(_job("4", OneShot(T0 - timedelta(hours=2)), OnMissed.ASK))
    h = build_tasks(store=store, clock=ManualClock(T0))
    await h.start()
    try:
        await h.wait_for(lambda: len(h.app.channel.delivered) == 1)  # the recovery notice
        skipped = await h.press("job:skip:4")
        assert skipped.text == 'Skipped job 4, reminder "thing 4".'
        job = await store.get("4")
        assert job is not None and job.state is JobState.COMPLETED
        assert "nothing to run" in (await h.press("job:run:4")).text
    finally:
        await h.stop()


async def test_a_press_from_the_inbox_is_answered_under_its_item(h: JobHarness) -> None:
    await h.command("/remind in 1 minute stretch")
    before = len(h.app.channel.delivered)
    sender = Sender("test", "7", "Ada")
    press = ButtonPressed(ConversationKey("test", "1"), sender, "job:snooze:1", inbox_id=41)

    await h.app.bus.publish(press)
    await h.wait_for(lambda: len(h.app.channel.delivered) > before)

    reply = h.app.channel.delivered[before]
    assert reply.text.startswith("Snoozed:")
    # Handled again after a crash, the press answers under the same turn (the ledger
    # sends it once), and delivering the reply marks the item done.
    assert (reply.turn_id, reply.source_inbox_id) == ("test:1#in41", 41)


async def test_an_unknown_button_says_it_is_no_longer_valid(h: JobHarness) -> None:
    reply = await h.press("gone:away")
    assert reply.text == "That button is no longer valid."
