"""config.example.toml stays complete: it loads, and it names every key of the schema."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from minibot.adapters.config.loader import load_settings
from minibot.adapters.config.schema import Settings

EXAMPLE = Path(__file__).resolve().parents[3] / "config.example.toml"


def schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= schema_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def example_keys(text: str) -> set[str]:
    # Optional keys are shown commented out ("# temperature = 0.7"): count them too.
    keys: set[str] = set()
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.split("]")[0].strip("[]")
            keys.add(section)
        elif "=" in line:
            key = line.lstrip("# ").split("=")[0].strip().strip('"')
            keys.add(f"{section}.{key}")
    return keys


def test_the_example_loads() -> None:
    settings = load_settings(EXAMPLE, {"OPENAI_API_KEY": "sk-x", "TELEGRAM_BOT_TOKEN": "1:x"})
    assert settings.llm.prices["gpt-4o-mini"].prompt_per_million == 0.15


def test_the_example_names_every_key_of_the_schema() -> None:
    missing = schema_keys(Settings) - example_keys(EXAMPLE.read_text())
    assert missing == set()


def test_every_key_has_a_comment() -> None:
    data: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())
    assert data
    for line in EXAMPLE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"no comment: {line}"
