"""Where `/run` and the scheduler find a workflow: the configuration, then the owner's own."""

from __future__ import annotations

from collections.abc import Mapping

from minibot.core.ports.workflow_store import WorkflowStore
from minibot.core.workflows import Workflow


class WorkflowCatalog:
    """`[workflows.<name>]` from config, then the workflows the owner saved (none without
    a store). Config wins on a name clash; an owner finds only their own saved ones."""

    def __init__(self, configured: Mapping[str, Workflow], store: WorkflowStore | None) -> None:
        self.configured = configured
        self._store = store

    async def find(self, owner_id: str, name: str) -> Workflow | None:
        workflow = self.configured.get(name)
        if workflow is None and self._store is not None:
            workflow = await self._store.get(owner_id, name)
        return workflow

    async def names(self, owner_id: str) -> list[str]:
        names = set(self.configured)
        if self._store is not None:
            names.update(w.name for w in await self._store.list_for(owner_id))
        return sorted(names)
