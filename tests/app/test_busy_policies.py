"""Busy conversations with a slow model: queue waits, steer joins the running turn before
its next model call, interrupt cancels it (stored as interrupted) and answers the new one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from minibot.app import replies
from minibot.core.conversation import ConversationKey, Role
from minibot.core.conversation_settings import BusyPolicy
from tests.app.harness import AppHarness, build_app

CHAT = ConversationKey("test", "1")


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - spans the bus, lanes and channel
            await asyncio.sleep(0.005)


async def _slow_first_turn(app: AppHarness) -> asyncio.Event:
    """Starts a turn for "first" that the model holds until the returned gate opens."""
    gate = asyncio.Event()
    app.model.gate = gate
    await app.say("first")
    await _until(lambda: len(app.model.calls) == 1)
    return gate


def _user_texts(app: AppHarness, call: int) -> list[str]:
    return [m.content for m in app.model.calls[call][0] if m.role is Role.USER]


async def test_queue_answers_the_second_message_after_the_first() -> None:
    app = build_app()
    await app.start()
    try:
        gate = await _slow_first_turn(app)
        await app.say("second")
        await asyncio.sleep(0.05)
        assert len(app.model.calls) == 1, "the second waits for the running turn"
        gate.set()
        await app.settle()
        assert app.channel.texts() == ["echo: first", "echo: second"]
        assert _user_texts(app, 1) == ["first", "second"]
    finally:
        await app.stop()


async def test_steer_joins_the_running_turn_before_its_next_model_call() -> None:
    app = build_app()
    await app.start()
    try:
        await app.say("/busy steer")
        await app.settle()
        assert app.channel.texts() == ["Done: while I answer, a new message here will steer."]
        gate = await _slow_first_turn(app)
        await app.say("second")
        gate.set()
        await app.settle()
        assert len(app.model.calls) == 2
        assert _user_texts(app, 1) == ["first", "second"], "one request reads both"
        assert app.channel.texts()[1:] == [replies.STEERED, "echo: second"]
        stored = await app.memory.recent(CHAT, max_messages=10, max_tokens=999)
        assert [m.content for m in stored][-3:] == ["first", "second", "echo: second"]
    finally:
        await app.stop()


async def test_interrupt_cancels_the_running_turn_and_answers_the_new_message() -> None:
    app = build_app(busy_policy=BusyPolicy.INTERRUPT)
    await app.start()
    try:
        gate = await _slow_first_turn(app)
        await app.say("second")
        await _until(lambda: replies.INTERRUPTED in app.channel.texts())
        gate.set()
        await app.settle()
        assert app.channel.texts() == [replies.INTERRUPTED, "echo: second"]
        stored = await app.memory.recent(CHAT, max_messages=10, max_tokens=999)
        assert [m.content for m in stored] == [
            "first",
            replies.INTERRUPTED_MARK,
            "second",
            "echo: second",
        ]
        assert _user_texts(app, 1) == ["first", "second"], "the history says it was cut"
    finally:
        await app.stop()


async def test_commands_are_never_steered_or_interrupting() -> None:
    app = build_app(busy_policy=BusyPolicy.INTERRUPT)
    await app.start()
    try:
        gate = await _slow_first_turn(app)
        await app.say("/busy")
        await asyncio.sleep(0.05)
        assert app.channel.texts() == [], "the command waits its turn"
        gate.set()
        await app.settle()
        assert app.channel.texts()[0] == "echo: first"
        assert "will interrupt" in app.channel.texts()[1]
    finally:
        await app.stop()


@pytest.mark.parametrize("policy", [BusyPolicy.STEER, BusyPolicy.INTERRUPT])
async def test_another_members_message_never_steers_or_interrupts_someone_elses_turn(
    policy: BusyPolicy,
) -> None:
    app = build_app(busy_policy=policy)
    await app.start()
    try:
        gate = asyncio.Event()
        app.model.gate = gate
        await app.say("first", in_group=True)
        await _until(lambda: len(app.model.calls) == 1)
        await app.say("second", user_id="8", name="Bo", in_group=True)
        await asyncio.sleep(0.05)
        gate.set()
        await app.settle()
        assert app.channel.texts() == ["echo: first", "echo: second"]
    finally:
        await app.stop()


async def test_a_steered_streamed_answer_starts_its_draft_afresh() -> None:
    app = build_app(stream=True, busy_policy=BusyPolicy.STEER)
    await app.start()
    try:
        gate = await _slow_first_turn(app)
        await app.say("second")
        gate.set()
        await app.settle()
        assert app.channel.texts()[-1] == "echo: second"
        assert app.channel.drafts[-1][1] == "echo: second", "not the first answer's text too"
    finally:
        await app.stop()


async def _tasks_during_a_turn(policy: BusyPolicy) -> int:
    app = build_app(busy_policy=policy)
    await app.start()
    try:
        gate = await _slow_first_turn(app)
        running = len(asyncio.all_tasks())
        gate.set()
        await app.settle()
        assert app.channel.texts() == ["echo: first"]
        return running
    finally:
        await app.stop()


async def test_under_queue_a_turn_runs_in_its_lane_with_no_task_of_its_own() -> None:
    # Nothing can steer or interrupt it, so it is not worth a task per message.
    assert await _tasks_during_a_turn(BusyPolicy.QUEUE) == (
        await _tasks_during_a_turn(BusyPolicy.STEER) - 1
    )
