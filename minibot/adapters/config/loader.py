"""Loads config.toml, interpolates ${VAR}, applies MINIBOT_* overrides and validates."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minibot.adapters.config.env_overrides import KeyPath, apply_overrides, origin_of
from minibot.adapters.config.field_paths import annotation_at, holds_secret
from minibot.adapters.config.schema import Settings
from minibot.adapters.logging.redaction import MASK, looks_like_secret
from minibot.core.errors import ConfigError

# Any "${", so that a reference mistyped is an error rather than literal text in a value.
_REFERENCE = re.compile(r"\$\{([^}]*)(\}?)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def find_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """`--config`, else MINIBOT_CONFIG, else ./config.toml."""
    environ = os.environ if environ is None else environ
    return Path(cli_path or environ.get("MINIBOT_CONFIG") or "config.toml")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; a missing file means all defaults.

    Raises ConfigError naming the key path for anything invalid; its message never shows a
    value that is, holds or looks like a secret.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path.exists():
        data = _interpolate(_read_toml(path), environ, "")
    data, origins = apply_overrides(data, environ, Settings)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, origins) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "not valid TOML: the file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _interpolate(value: Any, environ: Mapping[str, str], key: str) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, closed = match.groups()
            if not closed:
                raise ConfigError(key, "has a ${ without its closing }")
            if not _NAME.fullmatch(name):
                # Not echoed: what sits between the braces may be a secret pasted there.
                raise ConfigError(key, "has ${...} around something that is not a variable name")
            if name not in environ:
                raise ConfigError(key, f"refers to ${{{name}}}, but the variable {name} is not set")
            return environ[name]

        return _REFERENCE.sub(substitute, value)
    return value


def _config_error(exc: ValidationError, origins: Mapping[KeyPath, str]) -> ConfigError:
    problems = [_describe(error, origins) for error in exc.errors(include_url=False)]
    key, message = problems[0]
    if len(problems) > 1:
        message += "; also " + "; ".join(f"{k}: {m}" for k, m in problems[1:])
    return ConfigError(key, message)


def _describe(error: Any, origins: Mapping[KeyPath, str]) -> tuple[str, str]:
    key, message = _explain(error)
    origin = origin_of(tuple(str(part) for part in error["loc"]), origins)
    return key, f"{message} (set by {origin})" if origin else message


def _explain(error: Any) -> tuple[str, str]:
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
        if sep and all(part.isidentifier() for part in field.split(".")):
            return ".".join([*parts, field]), rest
        return ".".join(parts), text
    value = error.get("input")
    shown = repr(value)
    if _is_secret(error["loc"]) or looks_like_secret(shown):
        shown = MASK
    elif len(shown) > 60:
        shown = shown[:57] + "..."
    expected = error["msg"].rstrip(".")
    return ".".join(parts), f"{expected}; got {type(value).__name__} {shown}"


def _is_secret(loc: tuple[str | int, ...]) -> bool:
    # A path the schema does not know may still be a secret put in the wrong place: judge
    # by what was declared at its nearest known ancestor.
    for end in range(len(loc), -1, -1):
        annotation = annotation_at(Settings, loc[:end])
        if annotation is not None:
            return holds_secret(annotation)
    return False
