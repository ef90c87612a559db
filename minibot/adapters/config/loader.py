"""Loads config.toml, interpolates ${VAR}, applies MINIBOT_* overrides and validates."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minibot.adapters.config.schema import Settings
from minibot.core.errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def find_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """`--config`, else MINIBOT_CONFIG, else ./config.toml."""
    environ = os.environ if environ is None else environ
    return Path(cli_path or environ.get("MINIBOT_CONFIG") or "config.toml")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; a missing file means all defaults.

    Raises ConfigError naming the key path for anything invalid.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        data = _interpolate(data, environ, "")
    try:
        return _build(data, environ)
    except ValidationError as exc:
        raise _config_error(exc) from None


def _build(data: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    # pydantic-settings reads os.environ; an explicit mapping (tests) is swapped in for
    # the duration of the build.
    if environ is os.environ:
        return Settings(**data)
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(environ)
        return Settings(**data)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _interpolate(value: Any, environ: Mapping[str, str], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(key, f"refers to ${{{name}}}, but the variable {name} is not set")
            return environ[name]

        return _VARIABLE.sub(substitute, value)
    return value


def _config_error(exc: ValidationError) -> ConfigError:
    problems = [_describe(error) for error in exc.errors(include_url=False)]
    key, message = problems[0]
    if len(problems) > 1:
        message += "; also " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return ConfigError(key, message)


def _describe(error: Any) -> tuple[str, str]:
    parts = [str(part) for part in error["loc"]]
    kind = error["type"]
    if kind == "extra_forbidden":
        return ".".join(parts), "unknown key (check the spelling against config.example.toml)"
    if kind == "missing":
        return ".".join(parts), "is required"
    if kind == "value_error":
        # Our model validators name the field first ("secret_token: ..."); the input is a
        # whole section that may hold secrets, so it is never shown.
        text = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        field, sep, rest = text.partition(": ")
        if sep and field.isidentifier():
            return ".".join([*parts, field]), rest
        return ".".join(parts), text
    value = error.get("input")
    shown = "***" if _looks_secret(parts) else repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    expected = error["msg"].rstrip(".")
    return ".".join(parts), f"{expected}; got {type(value).__name__} {shown}"


def _looks_secret(parts: list[str]) -> bool:
    return any(part in {"bot_token", "api_key", "secret_token"} for part in parts)
