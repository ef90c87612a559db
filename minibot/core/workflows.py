"""Workflows: named sequences of steps, each able to use earlier steps' results."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
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


WORKFLOW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LANGUAGES = ("python",)


class WorkflowInvalid(ValueError):
    """A workflow that cannot be run; the message names the field (`steps[1].url: ...`)."""


def check_steps(steps: tuple[WorkflowStep, ...]) -> None:
    """The rules `[workflows.<name>]` and `save_workflow` share: at least one step, unique
    step names, every field the kind needs present, references only to earlier steps."""
    if not steps:
        raise WorkflowInvalid("steps: a workflow needs at least one step")
    names: list[str] = []
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not STEP_NAME.match(step.name):
            raise WorkflowInvalid(f"{where}.name: {step.name!r} is not a name (letters, digits, _)")
        if step.name in names:
            raise WorkflowInvalid(f"{where}.name: {step.name!r} is used by an earlier step")
        for field in STEP_FIELDS[step.kind]:
            value = step.fields.get(field, "")
            if not value.strip():
                raise WorkflowInvalid(f"{where}.{field}: is required for a {step.kind} step")
            try:
                render(value, dict.fromkeys(names, ""))
            except KeyError as exc:
                raise WorkflowInvalid(f"{where}.{field}: {exc.args[0]}") from None
        names.append(step.name)


def workflow_from_fields(
    name: str, description: str, steps: Sequence[Mapping[str, Any]]
) -> Workflow:
    """A workflow from plain values (a tool's arguments, a stored row), checked as config
    is. Raises WorkflowInvalid naming the field."""
    if not WORKFLOW_NAME.match(name):
        raise WorkflowInvalid(
            f"name: {name!r} is not a workflow name (a letter or _, then letters, digits, _ or -)"
        )
    return Workflow(name, steps_from_fields(steps), description)


def steps_from_fields(steps: Sequence[Mapping[str, Any]]) -> tuple[WorkflowStep, ...]:
    """Steps from plain values, checked (`check_steps`); a step without a name is `step<n>`."""
    built: list[WorkflowStep] = []
    for index, raw in enumerate(steps):
        where = f"steps[{index}]"
        try:
            kind = StepKind(str(raw.get("kind", "")))
        except ValueError:
            kinds = ", ".join(k.value for k in StepKind)
            raise WorkflowInvalid(
                f"{where}.kind: {raw.get('kind')!r} is not one of {kinds}"
            ) from None
        fields = {f: str(raw.get(f) or "") for f in STEP_FIELDS[kind]}
        if kind is StepKind.RUN_CODE:
            language = str(raw.get("language") or "python")
            if language not in LANGUAGES:
                raise WorkflowInvalid(f"{where}.language: {language!r} is not one of python")
            fields["language"] = language
        built.append(WorkflowStep(kind, str(raw.get("name") or f"step{index + 1}"), fields))
    check_steps(tuple(built))
    return tuple(built)


def workflow_fields(workflow: Workflow) -> list[dict[str, str]]:
    """The steps as plain values, the inverse of `workflow_from_fields`."""
    return [{"kind": str(s.kind), "name": s.name, **s.fields} for s in workflow.steps]
