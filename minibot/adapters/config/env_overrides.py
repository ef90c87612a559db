"""MINIBOT_<SECTION>__<KEY> environment variables, laid over the values read from the TOML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from minibot.adapters.config.field_paths import annotation_at, is_structured
from minibot.core.errors import ConfigError

PREFIX = "MINIBOT_"
DELIMITER = "__"

KeyPath = tuple[str, ...]


def apply_overrides(
    data: dict[str, Any], environ: Mapping[str, str], model: type[BaseModel]
) -> tuple[dict[str, Any], dict[KeyPath, str]]:
    """`data` with every override merged in, and the variable that set each overridden path.

    A variable whose first part names no section (MINIBOT_CONFIG) is not an override. Values
    of sections, lists and tables are JSON; the rest stay text for the schema to convert.
    Raises ConfigError naming the key for a value that cannot be read.
    """
    found: list[tuple[KeyPath, str, str]] = []
    for name, text in environ.items():
        if not name.upper().startswith(PREFIX):
            continue
        path = tuple(name[len(PREFIX) :].lower().split(DELIMITER))
        if path[0] not in model.model_fields:
            continue
        if not all(path):
            raise ConfigError(".".join(path), f"{name} has an empty key between its '__'")
        found.append((path, name, text))
    origins: dict[KeyPath, str] = {}
    # A whole section first, its single keys after: the narrower override wins.
    for path, name, text in sorted(found, key=lambda item: len(item[0])):
        _merge(data, path, _value(path, name, text, model))
        origins[path] = name
    return data, origins


def origin_of(parts: KeyPath, origins: Mapping[KeyPath, str]) -> str | None:
    """The variable that set `parts`, the nearest section above it, or a key below it."""
    for end in range(len(parts), 0, -1):
        name = origins.get(parts[:end])
        if name is not None:
            return name
    below = [name for path, name in origins.items() if path[: len(parts)] == parts]
    return below[0] if below else None


def _value(path: KeyPath, name: str, text: str, model: type[BaseModel]) -> Any:
    annotation = annotation_at(model, path)
    if annotation is None:
        _check_parent_has_keys(path, name, model)
        return text  # an unknown key: the schema names it
    if not is_structured(annotation):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # The message and position only: the text itself may be a secret.
        raise ConfigError(
            ".".join(path),
            f"{name} is not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}); "
            'write a list as [1, 2] and a table as {"key": "value"}',
        ) from None


def _check_parent_has_keys(path: KeyPath, name: str, model: type[BaseModel]) -> None:
    for end in range(len(path) - 1, 0, -1):
        parent = annotation_at(model, path[:end])
        if parent is not None:
            if not is_structured(parent):
                raise ConfigError(
                    ".".join(path[:end]), f"is a single value, but {name} sets a key inside it"
                )
            return


def _merge(data: dict[str, Any], path: KeyPath, value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    current = node.get(path[-1])
    if isinstance(current, dict) and isinstance(value, dict):
        _merge_tables(current, value)
    else:
        node[path[-1]] = value


def _merge_tables(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge_tables(into[key], value)
        else:
            into[key] = value
