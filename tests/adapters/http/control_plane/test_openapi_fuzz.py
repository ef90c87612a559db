"""A property-based run of the OpenAPI document (schemathesis): no input makes the API fail 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from minibot.adapters.http.control_plane.openapi import openapi_document
from tests.adapters.http.control_plane.daemon_harness import TOKEN, running_daemon

# The live streams never end by themselves: they are tested in test_api.py.
schema = schemathesis.openapi.from_dict(openapi_document()).exclude(
    path=["/api/v1/events", "/api/v1/ws"]
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The daemon on its own event loop in a thread: schemathesis calls it synchronously."""
    ready: list[str] = []
    started, stop = threading.Event(), threading.Event()
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")

    async def serve() -> None:
        async with running_daemon(tmp_path) as running:
            ready.append(running.base_url)
            started.set()
            while not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(60), "the daemon did not start"
    yield ready[0]
    stop.set()
    thread.join(60)


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
