"""`minibot doctor` names each failure it knows: a stopped database, a wrong token, a schema
behind; and passes a setup that works (the LLM and Telegram are loopback fakes)."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minibot.adapters.db_command import on_database
from minibot.adapters.first_run.doctor import run_doctor
from minibot.adapters.sql import schema_migrations as schema
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer
from tests.process import run_minibot

KEY = "sk-good-0123456789abcdefghij"


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(api_key=KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def _config(
    tmp_path: Path,
    llm: FakeOpenAIServer,
    telegram: FakeTelegramServer,
    *,
    token: str = DEFAULT_TOKEN,
    database: str = "",
    auto_migrate: bool = True,
    extra: str = "",
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[llm]
model = "gpt-4o-mini"
api_key = "{KEY}"
base_url = "{llm.base_url}"

[memory]
url = "{database or f"sqlite+aiosqlite:///{tmp_path}/minibot.db"}"
auto_migrate = {str(auto_migrate).lower()}

[scheduler]
store_path = "{tmp_path}/tasks"

[channels.telegram]
enabled = true
bot_token = "{token}"
api_base = "{telegram.base_url}"
{extra}
"""
    )
    return path


async def _doctor(path: Path) -> tuple[int, dict[str, str]]:
    out = io.StringIO()
    code = await run_doctor(path, out)
    lines = out.getvalue().splitlines()
    # "STATUS  name  detail": the first line of each check's name.
    by_name: dict[str, str] = {}
    for line in lines[:-1]:
        status, _, rest = line.partition("  ")
        name = rest.strip().split("  ")[0]
        by_name.setdefault(name, f"{status.strip()} {rest.strip()}")
    return code, by_name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_working_setup_passes_every_check(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    code, found = await _doctor(_config(tmp_path, llm, telegram))
    assert code == 0, found
    names = ("config", "database", "schema", "job store", "telegram", "model", "model reply")
    for name in (*names, "disk"):
        assert found[name].startswith("ok "), found
    assert f"@{telegram.bot_username}" in found["telegram"]
    assert found["sandbox"].startswith("skip ")


async def test_a_stopped_database_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    stopped = f"postgresql+asyncpg://minibot:hunter2secret@127.0.0.1:{_free_port()}/minibot"
    code, found = await _doctor(_config(tmp_path, llm, telegram, database=stopped))
    assert code == 1
    assert found["database"].startswith("FAIL database"), found
    assert "cannot connect" in found["database"] and "start the database" in found["database"]
    assert "hunter2secret" not in found["database"]
    assert found["model"].startswith("ok ")  # the other checks still ran


async def test_a_wrong_token_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    wrong = "123456:WRONG-token-abcdefghijklmnopqrstuv"
    code, found = await _doctor(_config(tmp_path, llm, telegram, token=wrong))
    assert code == 1
    assert found["telegram"].startswith("FAIL telegram"), found
    assert "401" in found["telegram"] and "bot_token" in found["telegram"]
    assert wrong not in "".join(found.values())


async def test_a_wrong_key_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    llm.api_key = "sk-another-key-0123456789abcdef"
    code, found = await _doctor(_config(tmp_path, llm, telegram))
    assert code == 1
    assert found["model"].startswith("FAIL model") and "401" in found["model"], found


async def test_a_schema_behind_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    older = sorted(schema.known_revisions() - {schema.head_revision()})[0]
    url = f"sqlite+aiosqlite:///{tmp_path}/minibot.db"
    await on_database(url, lambda conn: schema.upgrade(conn, older), commit=True)
    code, found = await _doctor(_config(tmp_path, llm, telegram, auto_migrate=False))
    assert code == 1
    assert found["schema"].startswith("FAIL schema"), found
    assert f"at {older}" in found["schema"] and "minibot db upgrade" in found["schema"]
    # With auto_migrate the daemon catches up by itself: a warning, not a failure.
    code, found = await _doctor(_config(tmp_path, llm, telegram, auto_migrate=True))
    assert code == 0 and found["schema"].startswith("warn schema"), found


async def test_a_bad_config_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    path = _config(tmp_path, llm, telegram, extra="[llm.surprise]\n")
    code, found = await _doctor(path)
    assert code == 1 and found["config"].startswith("FAIL config"), found
    assert "llm.surprise" in found["config"]


async def test_the_command_exits_non_zero_on_a_failure(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    wrong = "123456:WRONG-token-abcdefghijklmnopqrstuv"
    done = await run_minibot(
        "doctor", "--config", str(_config(tmp_path, llm, telegram, token=wrong))
    )
    assert done.returncode == 1
    assert "FAIL  telegram" in done.stdout and "some checks failed" in done.stdout


async def test_an_unreachable_service_is_named_and_a_running_one_passes() -> None:
    from minibot.adapters.first_run.doctor_checks import check_services

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    up = listener.getsockname()[1]
    try:
        found = await check_services(
            {
                "bus": {
                    "backend": "rabbitmq",
                    "url": f"amqp://guest:guest@127.0.0.1:{_free_port()}/",
                },
                "redis": {"url": f"redis://127.0.0.1:{up}/0"},
                "memory": {"url": "sqlite+aiosqlite:///x.db"},  # not a service: not probed
            }
        )
    finally:
        listener.close()
    assert [(f.name, f.status) for f in found] == [
        ("service bus.url", "FAIL"),
        ("service redis.url", "ok"),
    ]
    assert "does not answer" in found[0].detail and "guest:guest" not in found[0].detail


async def test_a_model_that_does_not_answer_is_named(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    from tests.fakes.openai_server import Script

    llm.script(Script.error(500))
    code, found = await _doctor(_config(tmp_path, llm, telegram))
    assert code == 1
    assert found["model"].startswith("ok "), found
    assert found["model reply"].startswith("FAIL model reply"), found


async def test_the_job_store_lock_of_a_running_daemon_is_reported(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    import filelock

    (tmp_path / "tasks").mkdir()
    held = filelock.FileLock(tmp_path / "tasks" / "lock", thread_local=False)
    held.acquire(timeout=0)
    try:
        code, found = await _doctor(_config(tmp_path, llm, telegram))
    finally:
        held.release()
    assert code == 0
    assert (
        found["job store"].startswith("ok ") and "locked by a running minibot" in found["job store"]
    )
    code, found = await _doctor(_config(tmp_path, llm, telegram))
    assert "not locked" in found["job store"]
