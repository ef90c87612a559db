"""Fixtures for the task service tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.jobs.job_harness import JobHarness, build_tasks


@pytest.fixture
async def h() -> AsyncIterator[JobHarness]:
    harness = build_tasks()
    await harness.start()
    yield harness
    await harness.stop()
