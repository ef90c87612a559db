"""The fake Bot API run as its own process and driven through its control endpoints."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.telegram_server import DEFAULT_TOKEN
from tests.process import reap

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def fake_process() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.telegram_server", "--port", "0",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    port = int(await asyncio.wait_for(process.stdout.readline(), 15))
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    await reap(process)


async def test_control_endpoints_drive_the_fake(fake_process: str) -> None:
    api = f"{fake_process}/bot{DEFAULT_TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake_process}/_control/message", json={"chat_id": 5, "user_id": 6, "text": "hi"}
        ) as response:
            update = await response.json()
        async with http.post(f"{api}/getUpdates", json={"timeout": 1}) as response:
            body = await response.json()
        assert [u["update_id"] for u in body["result"]] == [update["update_id"]]
        async with http.post(f"{api}/sendMessage", data={"chat_id": "5", "text": "yo"}) as response:
            assert response.status == 200
        async with http.get(f"{fake_process}/_control/sent", params={"chat_id": "5"}) as response:
            sent = await response.json()
        assert [m["visible_text"] for m in sent["sent"]] == ["yo"]


async def test_a_held_method_waits_until_released_and_a_dropped_call_is_not_recorded(
    fake_process: str,
) -> None:
    api = f"{fake_process}/bot{DEFAULT_TOKEN}"
    async with aiohttp.ClientSession() as http:

        async def send(text: str) -> int:
            async with http.post(f"{api}/sendMessage", data={"chat_id": "5", "text": text}) as r:
                return r.status

        async with http.post(
            f"{fake_process}/_control/hold", json={"method": "sendMessage", "after": 1}
        ) as response:
            assert response.status == 200
        assert await send("first") == 200, "the first call passes the hold"
        held = asyncio.create_task(send("second"))

        async def calls() -> int:
            async with http.get(
                f"{fake_process}/_control/calls", params={"method": "sendMessage"}
            ) as response:
                return len(await response.json())

        async with asyncio.timeout(5):
            while True:
                if await calls() >= 2:
                    break
                await asyncio.sleep(0.02)
        assert not held.done(), "the second call waits"
        async with http.post(
            f"{fake_process}/_control/release", json={"method": "sendMessage", "drop": True}
        ) as response:
            assert (await response.json())["held"] == 1
        assert await asyncio.wait_for(held, 5) == 502
        assert await send("third") == 200, "released: calls go through again"
        async with http.get(f"{fake_process}/_control/sent", params={"chat_id": "5"}) as response:
            sent = await response.json()
        assert [m["visible_text"] for m in sent["sent"]] == ["first", "third"]
