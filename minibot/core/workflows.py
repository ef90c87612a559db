"""Workflows: named sequences of steps, each able to use earlier steps' results."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class StepKind(enum.StrEnum):
    FETCH = "fetch"  # fetch_url: `url`
    SEARCH = "search"  # web_search: `query`
    RUN_CODE = "run_code"  # run_code: `code` (and `language`, python by default)
    ASK = "ask"  # the model, without tools: `prompt`
    SEND = "send"  # a message to the conversation the workflow runs for: `text`


# The tool each kind of step calls, and so the permission that applies to it.
STEP_TOOLS = {
    StepKind.FETCH: "fetch_url",
    StepKind.SEARCH: "web_search",
    StepKind.RUN_CODE: "run_code",
}
# The fields a step of each kind must have.
STEP_FIELDS = {
    StepKind.FETCH: ("url",),
    StepKind.SEARCH: ("query",),
    StepKind.RUN_CODE: ("code",),
    StepKind.ASK: ("prompt",),
    StepKind.SEND: ("text",),
}


@dataclass(frozen=True, slots=True)
class WorkflowStep:
    """One step. `name` is how later steps refer to its result: `{name}` is the whole
    result as text, `{name.field}` one field of it (`{page.text}`, `{page.title}`)."""

    kind: StepKind
    name: str
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    steps: tuple[WorkflowStep, ...]
    description: str = ""


class StepStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    DENIED = "denied"  # by a permission, or by the owner's press
    EXPIRED = "expired"  # no answer to the confirmation in time
    SKIPPED = "skipped"  # an earlier step stopped the workflow


@dataclass(frozen=True, slots=True)
class StepOutcome:
    index: int
    name: str
    kind: StepKind
    status: StepStatus
    detail: str = ""

    def line(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.index + 1}. {self.name} [{self.kind}]: {self.status}{detail}"


_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}")


def render(template: str, results: Mapping[str, Any]) -> str:
    """Fills `{step}` and `{step.field}` from earlier results. A reference to a step
    that has no result yet is an error; an unknown field is empty. No other
    expression is evaluated (this is not str.format)."""

    def value(match: re.Match[str]) -> str:
        step, field = match[1], match[2]
        if step not in results:
            raise KeyError(f"{{{step}}} names no earlier step")
        result = results[step]
        if field is not None:
            result = result.get(field, "") if isinstance(result, Mapping) else ""
        return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)

    return _REFERENCE.sub(value, template)


def step_names(steps: tuple[WorkflowStep, ...]) -> list[str]:
    return [step.name for step in steps]
