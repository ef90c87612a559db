"""Every way a configuration can be wrong ends the real CLI the same way: exit 2, one line
naming the key, no traceback, and no secret, whether the value sits in a secret field or
merely looks like one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.process import run_minibot

API_KEY = "sk-live-" + "Q7vKp2mZ" * 4
BOT_TOKEN = "987654321:" + "AAHk3Jq9" * 5
PLAIN_SECRET = "hunter2-correct-horse"  # a secret field's value need not look like one
# Pieces that must not leak either, e.g. from a value cut to fit the line.
SECRET_CORES = ("Q7vKp2mZ", "AAHk3Jq9", "hunter2")

_RABBIT = f'[bus]\nbackend = "rabbitmq"\nurl = "amqp://guest:{PLAIN_SECRET}@127.0.0.1:5672/"\n'
_POSTGRES = '[memory]\nurl = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"\n'


@dataclass(frozen=True)
class Case:
    key: str
    env: dict[str, str] = field(default_factory=dict)
    toml: str | bytes = ""


CASES = {
    # environment overrides: the value of a section, list or table is JSON
    "int holding an api key": Case("llm.max_attempts", {"MINIBOT_LLM__MAX_ATTEMPTS": API_KEY}),
    "int holding a bot token": Case(
        "daemon.max_restarts", {"MINIBOT_DAEMON__MAX_RESTARTS": BOT_TOKEN}
    ),
    "optional float holding a key": Case("llm.temperature", {"MINIBOT_LLM__TEMPERATURE": API_KEY}),
    "bool holding a key": Case("llm.stream", {"MINIBOT_LLM__STREAM": API_KEY}),
    "bool that is not one": Case(
        "channels.telegram.open_mode", {"MINIBOT_CHANNELS__TELEGRAM__OPEN_MODE": "maybe"}
    ),
    "list with broken JSON": Case(
        "channels.telegram.allowed_user_ids",
        {"MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS": "[1, 2"},
    ),
    "list holding a bot token": Case(
        "channels.telegram.allowed_chat_ids",
        {"MINIBOT_CHANNELS__TELEGRAM__ALLOWED_CHAT_IDS": BOT_TOKEN},
    ),
    "list item of the wrong type": Case(
        "channels.telegram.allowed_user_ids.1",
        {"MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS": f'[1, "{API_KEY}"]'},
    ),
    "table with broken JSON": Case("llm.prices", {"MINIBOT_LLM__PRICES": '{"gpt": '}),
    "table of text that is not JSON": Case(
        "kv_memory.identities", {"MINIBOT_KV_MEMORY__IDENTITIES": PLAIN_SECRET}
    ),
    "table entry with broken JSON": Case(
        "llm.prices.gpt", {"MINIBOT_LLM__PRICES__GPT": '{"prompt_per_million": '}
    ),
    "section with broken JSON": Case("llm", {"MINIBOT_LLM": f'{{"api_key": "{API_KEY}"'}),
    "nested section with broken JSON": Case(
        "channels.telegram", {"MINIBOT_CHANNELS__TELEGRAM": f'{{"bot_token": "{BOT_TOKEN}"'}
    ),
    "section holding a secret given as a list": Case(
        "channels.telegram", {"MINIBOT_CHANNELS__TELEGRAM": f'["{PLAIN_SECRET}"]'}
    ),
    "secret field of the wrong type": Case(
        "llm.api_key", {"MINIBOT_LLM": f'{{"api_key": ["{PLAIN_SECRET}"]}}'}
    ),
    "key inside a single value": Case("llm.model", {"MINIBOT_LLM__MODEL__NAME": API_KEY}),
    "empty key": Case("llm..model", {"MINIBOT_LLM____MODEL": "x"}),
    "unknown key": Case("llm.api_kee", {"MINIBOT_LLM__API_KEE": API_KEY}),
    # the file
    "TOML syntax": Case("config.toml", toml=f'[llm\napi_key = "{API_KEY}"\n'),
    "TOML that is not UTF-8": Case("config.toml", toml=b'[llm]\nmodel = "\xff\xfe"\n'),
    "TOML secret-shaped value in the wrong field": Case(
        "llm.max_attempts", toml=f'[llm]\nmax_attempts = "{API_KEY}"\n'
    ),
    "unset ${VAR}": Case("llm.api_key", toml='[llm]\napi_key = "${MINIBOT_TEST_UNSET}"\n'),
    "${VAR} bringing a secret to the wrong field": Case(
        "llm.max_attempts",
        {"MINIBOT_TEST_KEY": API_KEY},
        '[llm]\nmax_attempts = "${MINIBOT_TEST_KEY}"\n',
    ),
    "${ without its }": Case("llm.model", toml='[llm]\nmodel = "${MINIBOT_TEST_KEY"\n'),
    "${...} around a secret": Case("llm.api_key", toml=f'[llm]\napi_key = "${{{API_KEY}}}"\n'),
    "unknown time zone": Case("scheduler.timezone", toml='[scheduler]\ntimezone = "Mars/Base"\n'),
    # replicas on RabbitMQ must share the database, the job store and the flood limits
    "rabbitmq without its url": Case("bus.url", toml='[bus]\nbackend = "rabbitmq"\n'),
    "rabbitmq on sqlite": Case("memory.url", toml=_RABBIT),
    "rabbitmq with the file job store": Case(
        "scheduler.store", toml=_RABBIT + _POSTGRES + '[scheduler]\nstore = "file"\n'
    ),
    "rabbitmq and telegram without redis": Case(
        "redis.url",
        toml=_RABBIT
        + _POSTGRES
        + '[scheduler]\nstore = "sql"\n'
        + f'[channels.telegram]\nenabled = true\nbot_token = "{BOT_TOKEN}"\n',
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_config_error_is_exit_2_with_one_line_naming_the_key_and_no_secret(
    tmp_path: Path, case: Case
) -> None:
    config = tmp_path / "config.toml"
    if isinstance(case.toml, bytes):
        config.write_bytes(case.toml)
    else:
        config.write_text(case.toml)
    result = await run_minibot("check-config", "--config", str(config), env=case.env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{case.key}: " in lines[0], f"the line should name {case.key}: {lines[0]}"
    for secret in (API_KEY, BOT_TOKEN, PLAIN_SECRET, *SECRET_CORES):
        assert secret not in result.stderr, f"{secret} leaked: {lines[0]}"
    assert result.stdout == ""


async def test_a_config_path_that_is_a_directory_is_exit_2_with_one_line(tmp_path: Path) -> None:
    result = await run_minibot("check-config", "--config", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"minibot: invalid configuration: {tmp_path}: cannot be read: Is a directory"
    ]


async def test_the_line_says_which_variable_set_the_bad_value(tmp_path: Path) -> None:
    result = await run_minibot(
        "check-config",
        "--config",
        str(tmp_path / "absent.toml"),
        env={"MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS": "[11, 12"},
    )
    assert result.returncode == 2
    assert "MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS is not valid JSON" in result.stderr
