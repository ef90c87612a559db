"""Port: the workflows owners created through `save_workflow`, kept per owner."""

from __future__ import annotations

from typing import Protocol

from minibot.core.workflows import Workflow


class WorkflowStore(Protocol):
    """Workflows scoped by owner: one owner never sees, runs or deletes another's.
    `save` replaces a workflow of the same name; `delete` says whether there was one."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def save(self, owner_id: str, workflow: Workflow) -> None: ...

    async def get(self, owner_id: str, name: str) -> Workflow | None: ...

    async def list_for(self, owner_id: str) -> list[Workflow]: ...

    async def delete(self, owner_id: str, name: str) -> bool: ...
