"""The scheduler's strategy for a workflow job: its steps run, their outcomes in the ledger."""

from __future__ import annotations

from minibot.app.workflows.workflow_catalog import WorkflowCatalog
from minibot.app.workflows.workflow_runner import WorkflowRun, WorkflowRunner
from minibot.core.errors import RunFailed
from minibot.core.jobs import Job
from minibot.core.workflows import StepStatus


class WorkflowStrategy:
    """A job whose action names a workflow, looked up when it fires (a saved workflow
    changed since runs as it is now; one deleted fails the run). The run is for the
    job's owner, in the job's conversation; the ledger note lists every step's outcome.
    A failed step fails the run (retried as any run is); a step denied or unanswered
    ends it quietly, as its owner decided."""

    def __init__(self, runner: WorkflowRunner, workflows: WorkflowCatalog) -> None:
        self._runner = runner
        self._workflows = workflows

    async def perform(self, job: Job, key: str) -> str | None:
        workflow = await self._workflows.find(job.owner_id, job.action.text)
        if workflow is None:
            raise RunFailed(f"there is no workflow named {job.action.text!r} any more")
        outcomes = await self._runner.run(workflow, WorkflowRun(job.owner_id, job.target, key))
        note = f"workflow {workflow.name}: " + "; ".join(o.line() for o in outcomes)
        if any(o.status is StepStatus.FAILED for o in outcomes):
            raise RunFailed(note)
        return note
