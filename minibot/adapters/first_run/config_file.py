"""The config.toml `minibot init` writes, and the env file beside it for `${VAR}` secrets."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TELEGRAM_API = "https://api.telegram.org"

# The variable each provider's key is referred to by when secrets stay out of the file.
KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "openai_responses": "OPENAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "claude": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
}
PROVIDERS = tuple(KEY_VARIABLES)
TOKEN_VARIABLE = "TELEGRAM_BOT_TOKEN"


@dataclass(frozen=True, slots=True)
class Answers:
    """Everything `minibot init` asked, checked."""

    provider: str
    model: str
    api_key: str
    base_url: str = ""
    telegram_token: str = ""
    telegram_api_base: str = DEFAULT_TELEGRAM_API
    owner_id: int | None = None
    # "env": secrets as ${VAR} references, their values in the env file; "file": inline.
    secrets: str = "env"


@dataclass(frozen=True, slots=True)
class Written:
    config: Path
    env_file: Path | None
    variables: tuple[str, ...]


def env_file_for(config: Path) -> Path:
    return config.with_name("minibot.env")


def write_config(answers: Answers, path: Path) -> Written:
    """Writes config.toml (and minibot.env with mode 0600 when secrets are references)."""
    secrets: dict[str, str] = {}

    def secret(variable: str, value: str) -> str:
        if answers.secrets == "file" or not value:
            return _string(value)
        secrets[variable] = value
        return _string(f"${{{variable}}}")

    lines = [
        "# minibot configuration written by `minibot init`. Every other key keeps its default;",
        "# config.example.toml lists them all with what each does.",
        "",
        "[llm]",
        f"provider = {_string(answers.provider)}",
        f"model = {_string(answers.model)}",
        f"api_key = {secret(KEY_VARIABLES[answers.provider], answers.api_key)}",
        f"base_url = {_string(answers.base_url)}",
    ]
    if answers.telegram_token:
        lines += [
            "",
            "[channels.telegram]",
            "enabled = true",
            f"bot_token = {secret(TOKEN_VARIABLE, answers.telegram_token)}",
            f"api_base = {_string(answers.telegram_api_base)}",
            f"allowed_user_ids = [{'' if answers.owner_id is None else answers.owner_id}]",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    env_file = None
    if secrets:
        env_file = env_file_for(path)
        text = "".join(f"{name}={value}\n" for name, value in secrets.items())
        _write_private(env_file, "# secrets for minibot's config.toml\n" + text)
    if answers.secrets == "file":
        _write_private(path, "\n".join(lines) + "\n")
    else:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Written(path, env_file, tuple(secrets))


def _write_private(path: Path, text: str) -> None:
    # Created 0600 from the start: a secret is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _string(value: str) -> str:
    # A JSON string is a valid TOML basic string (the same escapes).
    return json.dumps(value, ensure_ascii=False)
