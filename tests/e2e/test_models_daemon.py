"""Models, fallbacks and budgets through the whole daemon (console), over two fake servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import run_minibot, write_config


@pytest.fixture
async def backup_llm() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    await server.start()
    yield server
    await server.stop()


def _config(tmp_path: Path, primary: FakeOpenAIServer, backup: FakeOpenAIServer) -> str:
    extra = f"""
[llm.models.backup]
model = "backup-model"
base_url = "{backup.base_url}"
prompt_per_million = 1.0
completion_per_million = 2.0

[budgets]
daily_usd_per_owner = 5.0
"""
    return str(write_config(tmp_path, primary.base_url, extra))


@pytest.mark.slow
async def test_the_fallback_answers_and_a_switch_survives_a_restart(
    tmp_path: Path, fake_llm: FakeOpenAIServer, backup_llm: FakeOpenAIServer
) -> None:
    config = _config(tmp_path, fake_llm, backup_llm)
    env = {"MINIBOT_LLM__FALLBACKS": '["backup"]'}
    fake_llm.script(*[Script.error(503)] * 3)
    backup_llm.script(Script.reply("The backup speaks."))
    first = await run_minibot(
        "console", "--config", config, stdin="hello\n/model\n/model backup\n", env=env
    )
    answers = first.stdout.split("minibot> ")[1:]
    assert answers[0].startswith("The backup speaks."), first.stderr
    assert "Answered by backup (backup-model)" in answers[0] and "HTTP 503" in answers[0]
    assert "backup: backup-model, $1 / $2" in answers[1]
    assert "default: fake-model, price unknown" in answers[1]
    assert "This conversation now uses backup (backup-model)." in answers[2]
    assert "counted as the most expensive" in first.stderr, "unpriced models are warned of"

    second = await run_minibot("console", "--config", config, stdin="again\n/usage\n", env=env)
    assert [r.body["model"] for r in backup_llm.requests] == ["backup-model", "backup-model"]
    assert len(fake_llm.requests) == 3, "the switch outlived the restart"
    assert "daily: $" in second.stdout and "of $5.00 spent" in second.stdout
