"""Fixtures for the task service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.tasks.task_harness import TaskHarness, build_tasks


@pytest.fixture
async def h() -> AsyncIterator[TaskHarness]:
    harness = build_tasks()
    await harness.start()
    yield harness
    await harness.stop()
