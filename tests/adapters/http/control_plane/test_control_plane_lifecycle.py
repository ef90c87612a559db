"""The control plane's start-up rules, its cost when off, and its streams at shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from minibot.adapters.cli import main
from tests.adapters.http.control_plane.daemon_harness import running_daemon

pytestmark = pytest.mark.timeout(90)


def test_a_public_address_without_a_token_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[control_plane]\nenabled = true\nlisten_host = "0.0.0.0"\n')
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "control_plane.token" in err and "0.0.0.0" in err


def test_loopback_without_a_token_and_public_with_one_are_accepted(tmp_path: Path) -> None:
    from minibot.adapters.config.schema import ControlPlaneSettings

    assert ControlPlaneSettings(enabled=True).listen_host == "127.0.0.1"
    ControlPlaneSettings(enabled=True, listen_host="::1")
    ControlPlaneSettings(enabled=True, listen_host="0.0.0.0", token="secret")
    with pytest.raises(ValueError, match="owner"):
        ControlPlaneSettings(owner="telegram:1")


def test_with_the_control_plane_off_none_of_it_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from minibot.adapters.config.schema import Settings\n"
        "from minibot.adapters.container import Container\n"
        f"s = Settings.model_validate({{'memory': {{'url': 'sqlite+aiosqlite:///{tmp_path}/m.db'}},"
        f" 'scheduler': {{'store_path': '{tmp_path}/tasks'}}}})\n"
        "Container(s).build()\n"
        "loaded = [m for m in sys.modules if m.startswith(('minibot.adapters.http.control_plane',"
        " 'minibot.adapters.messaging.web', 'minibot.app.live'))]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "none", result.stdout


async def test_open_streams_end_promptly_when_the_daemon_stops(tmp_path: Path) -> None:
    ended: list[float] = []
    async with running_daemon(tmp_path) as running, running.client() as client:

        async def listen() -> None:
            async with client.stream("GET", "/api/v1/events") as response:
                async for _ in response.aiter_lines():
                    pass
            ended.append(time.monotonic())

        readers = [asyncio.create_task(listen()) for _ in range(3)]
        await asyncio.sleep(0.5)
        assert not any(task.done() for task in readers)
        stop_at = time.monotonic()
        running.daemon.request_stop()
        await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert len(ended) == 3
    assert max(ended) - stop_at < 3.0, "a stream held up the stop"
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient() as probe:
            await probe.get(f"{running.base_url}/healthz")
