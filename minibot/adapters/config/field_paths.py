"""What the schema declares at a key path: its type, and whether a secret lives there."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, SecretStr

_CONTAINERS = (list, tuple, set, frozenset, dict)


def annotation_at(model: type[BaseModel], parts: Sequence[str | int]) -> Any | None:
    """The declared type at `parts` below `model`; None where the schema declares nothing."""
    annotation: Any = model
    for part in parts:
        annotation = _unwrap_optional(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
            annotation = typing.get_args(annotation)[0]
        else:
            return None
    return annotation


def is_structured(annotation: Any) -> bool:
    """A section, list or table: given in one environment variable, it is written as JSON."""
    annotation = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return typing.get_origin(annotation) in _CONTAINERS or annotation in _CONTAINERS


def holds_secret(annotation: Any) -> bool:
    """True for a secret, and for anything that may contain one (its section, a list of them)."""
    annotation = _unwrap_optional(annotation)
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(holds_secret(field.annotation) for field in annotation.model_fields.values())
    return any(holds_secret(arg) for arg in typing.get_args(annotation))


def _unwrap_optional(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation
