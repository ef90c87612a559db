"""The workflow tools: save, list and delete the owner's own workflows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.app.tools.registry import Tool, ToolAccess, ToolContext, object_spec
from minibot.core.errors import ToolError
from minibot.core.ports.workflow_store import WorkflowStore
from minibot.core.tool_permissions import PermissionLevel
from minibot.core.workflows import (
    LANGUAGES,
    STEP_FIELDS,
    StepKind,
    Workflow,
    WorkflowInvalid,
    workflow_fields,
    workflow_from_fields,
)

MAX_STEPS = 20
MAX_FIELD_CHARS = 20_000
MAX_DESCRIPTION_CHARS = 500


def workflow_view(workflow: Workflow, source: str) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "description": workflow.description,
        "source": source,
        "steps": workflow_fields(workflow),
    }


class WorkflowTools:
    """`save_workflow` is `confirm` by default: the owner sees the whole workflow and
    presses Approve before it is stored (its steps run later under their own
    permissions). The owner comes from the ToolContext, never from the arguments. A name
    `[workflows]` in config already uses is refused: config wins on a clash."""

    def __init__(self, store: WorkflowStore, configured: Mapping[str, Workflow]) -> None:
        self._store = store
        self._configured = configured

    def tools(self) -> list[Tool]:
        text = {"type": "string", "maxLength": MAX_FIELD_CHARS}
        name = {"type": "string", "minLength": 1, "maxLength": 64}
        step = {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": [k.value for k in StepKind]},
                "name": {"type": "string", "maxLength": 64},
                **{field: text for fields in STEP_FIELDS.values() for field in fields},
                "language": {"type": "string", "enum": list(LANGUAGES)},
            },
            "required": ["kind"],
            "additionalProperties": False,
        }
        kinds = "; ".join(f"{k}: {', '.join(f)}" for k, f in STEP_FIELDS.items())
        return [
            Tool(
                object_spec(
                    "save_workflow",
                    "Save a named workflow for the user: steps run in order, on /run <name> "
                    f"or on a schedule. Each step has a kind and its field ({kinds}); "
                    "steps may be named, and later steps may use `{name}` or "
                    "`{name.field}` (e.g. `{page.text}`) of earlier results. Saving under "
                    "an existing name replaces that workflow. The user approves it first.",
                    {
                        "name": name,
                        "description": {"type": "string", "maxLength": MAX_DESCRIPTION_CHARS},
                        "steps": {
                            "type": "array",
                            "items": step,
                            "minItems": 1,
                            "maxItems": MAX_STEPS,
                        },
                    },
                    ["name", "steps"],
                ),
                self.save_workflow,
                ToolAccess.CHANGES_OWNER,
                PermissionLevel.CONFIRM,
                check=self._problem,
            ),
            Tool(
                object_spec(
                    "list_workflows",
                    "List the workflows the user can run: configured ones and their own.",
                    {},
                    [],
                ),
                self.list_workflows,
                ToolAccess.READS_OWNER,
            ),
            Tool(
                object_spec(
                    "delete_workflow",
                    "Delete one of the user's own saved workflows by its exact name.",
                    {"name": name},
                    ["name"],
                ),
                self.delete_workflow,
                ToolAccess.CHANGES_OWNER,
            ),
        ]

    def _problem(self, args: Mapping[str, Any]) -> str | None:
        try:
            self._workflow(args)
        except ToolError as exc:
            return str(exc)
        return None

    def _workflow(self, args: Mapping[str, Any]) -> Workflow:
        name = str(args["name"])
        if name in self._configured:
            raise ToolError(
                f"name: {name!r} is a workflow in the configuration; choose another name"
            )
        try:
            return workflow_from_fields(name, str(args.get("description", "")), args["steps"])
        except WorkflowInvalid as exc:
            raise ToolError(str(exc)) from None

    async def save_workflow(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        workflow = self._workflow(args)
        replaced = await self._store.get(context.owner_id, workflow.name) is not None
        await self._store.save(context.owner_id, workflow)
        return {
            "saved": workflow.name,
            "replaced": replaced,
            "steps": len(workflow.steps),
            "run_with": f"/run {workflow.name}",
        }

    async def list_workflows(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        found = [workflow_view(w, "config") for w in self._configured.values()]
        for workflow in await self._store.list_for(context.owner_id):
            if workflow.name not in self._configured:
                found.append(workflow_view(workflow, "saved"))
        return {"workflows": sorted(found, key=lambda w: w["name"])}

    async def delete_workflow(
        self, args: Mapping[str, Any], context: ToolContext
    ) -> dict[str, Any]:
        name = str(args["name"])
        if await self._store.delete(context.owner_id, name):
            return {"deleted": name}
        if name in self._configured:
            raise ToolError(f"{name!r} is a workflow in the configuration; it cannot be deleted")
        raise ToolError(f"there is no saved workflow named {name!r}")
