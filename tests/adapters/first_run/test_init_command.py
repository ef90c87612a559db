"""`minibot init` against the loopback OpenAI and Telegram fakes, from flags and through a
pseudo-terminal: a refused key or token writes nothing; a good setup passes check-config."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer
from tests.process import MINIBOT, child_env, run_minibot
from tests.pty_session import PtySession

GOOD_KEY = "sk-good-0123456789abcdefghij"
WRONG_KEY = "sk-wrong-0123456789abcdefghij"
WRONG_TOKEN = "123456:WRONG-token-abcdefghijklmnopqrstuv"


@pytest.fixture
async def llm() -> AsyncIterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(api_key=GOOD_KEY)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


def _flags(llm: FakeOpenAIServer, telegram: FakeTelegramServer, config: Path) -> list[str]:
    return [
        "init",
        "--non-interactive",
        "--config",
        str(config),
        "--provider",
        "openai",
        "--base-url",
        llm.base_url,
        "--telegram-api-base",
        telegram.base_url,
        "--owner-id",
        "4242",
    ]


def _env_file_values(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


async def test_a_wrong_key_is_refused_before_anything_is_written(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    args = [
        *_flags(llm, telegram, config),
        "--api-key",
        WRONG_KEY,
        "--telegram-token",
        DEFAULT_TOKEN,
    ]
    done = await run_minibot(*args)
    assert done.returncode == 1
    assert "llm.api_key" in done.stdout and "401" in done.stdout
    assert "nothing was written" in done.stdout
    assert WRONG_KEY not in done.stdout + done.stderr
    assert not config.exists() and not (tmp_path / "minibot.env").exists()
    assert telegram.calls_of("getMe") == []  # stopped at the first refusal


async def test_a_wrong_token_is_refused_before_anything_is_written(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    args = [*_flags(llm, telegram, config), "--api-key", GOOD_KEY, "--telegram-token", WRONG_TOKEN]
    done = await run_minibot(*args)
    assert done.returncode == 1
    assert "channels.telegram.bot_token" in done.stdout and "401" in done.stdout
    assert not config.exists() and not (tmp_path / "minibot.env").exists()


async def test_good_flags_give_a_config_that_check_config_accepts(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    args = [
        *_flags(llm, telegram, config),
        "--api-key",
        GOOD_KEY,
        "--telegram-token",
        DEFAULT_TOKEN,
    ]
    done = await run_minibot(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"@{telegram.bot_username}" in done.stdout
    assert f"https://t.me/{telegram.bot_username}" in done.stdout
    text = config.read_text()
    assert GOOD_KEY not in text and DEFAULT_TOKEN not in text  # ${VAR} references by default
    assert 'api_key = "${OPENAI_API_KEY}"' in text and "allowed_user_ids = [4242]" in text
    env_file = tmp_path / "minibot.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = _env_file_values(env_file)
    assert values == {"OPENAI_API_KEY": GOOD_KEY, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN}
    checked = await run_minibot("check-config", "--config", str(config), env=values)
    assert checked.returncode == 0, checked.stderr
    assert "enabled = true" in checked.stdout and "4242" in checked.stdout
    # Without the variables the config is refused, naming the key: they are really used.
    unset = await run_minibot("check-config", "--config", str(config))
    assert unset.returncode == 2 and "OPENAI_API_KEY" in unset.stderr


async def test_secrets_in_the_file_on_request_and_an_existing_config_is_kept(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    args = [*_flags(llm, telegram, config), "--api-key", GOOD_KEY, "--secrets", "file"]
    assert (await run_minibot(*args)).returncode == 0
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert (await run_minibot("check-config", "--config", str(config))).returncode == 0
    again = await run_minibot(*args)
    assert again.returncode == 1 and "--force" in again.stdout
    assert (await run_minibot(*args, "--force")).returncode == 0


async def test_init_through_its_prompts_in_a_terminal(
    llm: FakeOpenAIServer, telegram: FakeTelegramServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    argv = [*MINIBOT, "init", "--config", str(config), "--telegram-api-base", telegram.base_url]
    env = child_env()

    def converse() -> tuple[int, str]:
        session = PtySession(argv, env)
        try:
            session.expect(r"LLM provider .*: ")
            session.send_line("")  # the default, openai
            session.expect(r"server URL .*: ")
            session.send_line(llm.base_url)
            session.expect(r"Model \[gpt-4o-mini\]: ")
            session.send_line("gpt-4o")
            session.expect(r"API key \(hidden\): ")
            session.send_line(WRONG_KEY)
            session.expect(r"refused: llm.api_key: .*401")
            session.expect(r"API key \(hidden\): ")
            session.send_line(GOOD_KEY)
            session.expect(r"ok: llm.api_key")
            session.expect(r"bot token .*: ")
            session.send_line(WRONG_TOKEN)
            session.expect(r"refused: channels.telegram.bot_token")
            session.expect(r"bot token .*: ")
            session.send_line(DEFAULT_TOKEN)
            session.expect(r"https://t.me/")
            session.expect(r"user id.*: ")
            session.send_line("not a number")
            session.expect(r"a user id is a number")
            session.expect(r"user id.*: ")
            session.send_line("777")
            session.expect(r"\[Y/n\] ")
            session.send_line("")
            return session.wait(), session.output
        finally:
            session.kill()

    code, output = await asyncio.to_thread(converse)
    assert code == 0, output
    # Hidden answers are not echoed to the terminal.
    assert GOOD_KEY not in output and WRONG_KEY not in output and DEFAULT_TOKEN not in output
    values = _env_file_values(tmp_path / "minibot.env")
    assert values == {"OPENAI_API_KEY": GOOD_KEY, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN}
    checked = await run_minibot("check-config", "--config", str(config), env=values)
    assert checked.returncode == 0, checked.stderr
    assert '"gpt-4o"' in checked.stdout and "777" in checked.stdout


async def test_a_refused_key_three_times_in_a_terminal_writes_nothing(
    llm: FakeOpenAIServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    argv = [*MINIBOT, "init", "--config", str(config), "--provider", "openai", "--model", "gpt-4o"]
    argv += ["--base-url", llm.base_url]

    def converse() -> int:
        session = PtySession(argv, child_env())
        try:
            for _ in range(3):
                session.expect(r"API key \(hidden\): ")
                session.send_line(WRONG_KEY)
            session.expect("nothing was written")
            return session.wait()
        finally:
            session.kill()

    assert await asyncio.to_thread(converse) == 1
    assert not config.exists()


def test_the_version_is_the_package_version() -> None:
    import subprocess
    from importlib.metadata import version

    done = subprocess.run(
        [*MINIBOT, "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "MINIBOT_CONFIG": "/nonexistent/config.toml"},
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"minibot {version('minibot')}"
    assert sys.executable
