"""`minibot db ...` and `[memory] auto_migrate = false`, through the real command line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minibot.adapters.sql.schema_migrations import head_revision
from tests.process import run_minibot
from tests.sql_schemas import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
async def memory_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}"
        return
    # A database per test: the config names a database, not a schema.
    async with postgres_database() as url:
        yield url


def _config(tmp_path: Path, url: str, *, auto_migrate: bool = True) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[llm]
provider = "openai"
model = "fake-model"
api_key = "sk-test-key-0123456789abcdef"
base_url = "http://127.0.0.1:9/v1"

[memory]
url = "{url}"
auto_migrate = {"true" if auto_migrate else "false"}

[scheduler]
store_path = "{tmp_path}/tasks"
"""
    )
    return str(path)


async def test_upgrade_current_check_downgrade(tmp_path: Path, memory_url: str) -> None:
    config = _config(tmp_path, memory_url)
    head = head_revision()

    before = await run_minibot("db", "current", "--config", config)
    assert before.returncode == 0, before.stderr
    assert "not head" in before.stdout

    behind = await run_minibot("db", "check", "--config", config)
    assert behind.returncode == 1
    assert "minibot db upgrade" in behind.stderr

    upgraded = await run_minibot("db", "upgrade", "--config", config)
    assert upgraded.returncode == 0, upgraded.stderr
    now = await run_minibot("db", "current", "--config", config)
    assert f"memory: revision {head} (head)" in now.stdout
    clean = await run_minibot("db", "check", "--config", config)
    assert clean.returncode == 0, clean.stderr
    assert "matches the code" in clean.stdout

    down = await run_minibot("db", "downgrade", "base", "--config", config)
    assert down.returncode == 0, down.stderr
    assert "not head" in (await run_minibot("db", "current", "--config", config)).stdout
    again = await run_minibot("db", "upgrade", "--config", config)
    assert again.returncode == 0, again.stderr
    assert (await run_minibot("db", "check", "--config", config)).returncode == 0


async def test_a_daemon_refuses_a_schema_behind_when_auto_migrate_is_off(
    tmp_path: Path, memory_url: str
) -> None:
    config = _config(tmp_path, memory_url, auto_migrate=False)

    refused = await run_minibot("--config", config)

    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "minibot db upgrade" in lines[0]
    # Nothing was created: the schema waits for the upgrade.
    assert "not head" in (await run_minibot("db", "current", "--config", config)).stdout
