"""Workflows an owner creates with `save_workflow`: nothing is stored until the owner
presses Approve, nothing after Deny; bad steps are refused naming the field, before
anyone is asked; `/run` and workflow jobs find them, scoped by owner, config first."""

from __future__ import annotations

import json

from minibot.app.tools.workflow_tools import WorkflowTools
from minibot.app.workflows.workflow_catalog import WorkflowCatalog
from minibot.core.conversation import ConversationKey, Role
from minibot.core.workflows import workflow_from_fields
from tests.app.harness import AppHarness, build_app
from tests.fakes.memory import InMemoryApprovalStore, InMemoryWorkflowStore

OWNER = "test:7"
STEPS = [
    {"kind": "ask", "name": "joke", "prompt": "A joke about {topic}"},
]
GOOD = {
    "name": "cheer",
    "description": "a joke to start the day",
    "steps": [
        {"kind": "ask", "name": "joke", "prompt": "Tell a short joke."},
        {"kind": "send", "text": "Morning! {joke}"},
    ],
}
CONFIGURED = {"digest": workflow_from_fields("digest", "", [{"kind": "send", "text": "news"}])}


class World:
    def __init__(self) -> None:
        self.store = InMemoryWorkflowStore()
        self.app: AppHarness = build_app(
            tools=WorkflowTools(self.store, CONFIGURED).tools(),
            approvals=InMemoryApprovalStore(),
        )

    async def say(self, text: str) -> None:
        await self.app.say(text)
        await self.app.settle()

    async def press(self, label: str) -> None:
        [button] = [b for b in self.app.channel.delivered[-1].buttons if b.label == label]
        await self.app.press(button.action)
        await self.app.settle()

    def tool_results(self) -> list[dict[str, object]]:
        stored = self.app.memory.messages[ConversationKey("test", "1")]
        return [json.loads(m.content) for m in stored if m.role is Role.TOOL]


async def test_save_workflow_stores_nothing_until_approve_is_pressed() -> None:
    world = World()
    await world.app.start()
    try:
        world.app.model.then_tool("save_workflow", json.dumps(GOOD))
        await world.say("make me a morning workflow")
        assert world.store.workflows == {}, "nothing is saved before the press"
        request = world.app.channel.delivered[-1]
        assert request.text.count("save_workflow") >= 1
        assert "save_workflow is set to confirm" in request.text
        assert "Morning! {joke}" in request.text, "the owner sees the steps in full"
        assert [b.label for b in request.buttons] == ["Approve", "Deny"]
        world.app.model.then_text("Saved: /run cheer.")
        await world.press("Approve")
        [(owner, name)] = world.store.workflows
        assert name == "cheer"
        saved = world.store.workflows[(owner, name)]
        assert [s.name for s in saved.steps] == ["joke", "step2"]
        assert saved.steps[1].fields == {"text": "Morning! {joke}"}
        assert world.app.channel.delivered[-1].text == "Saved: /run cheer."
        result = world.tool_results()[-1]
        assert result["ok"] is True
        assert result["result"] == {
            "saved": "cheer",
            "replaced": False,
            "steps": 2,
            "run_with": "/run cheer",
        }
    finally:
        await world.app.stop()


async def test_save_workflow_stores_nothing_after_deny() -> None:
    world = World()
    await world.app.start()
    try:
        world.app.model.then_tool("save_workflow", json.dumps(GOOD))
        await world.say("make me a morning workflow")
        world.app.model.then_text("Not saved.")
        await world.press("Deny")
        assert world.store.workflows == {}
        assert world.tool_results()[-1] == {"ok": False, "error": "not run: denied by the speaker"}
    finally:
        await world.app.stop()


async def test_bad_steps_are_refused_naming_the_field_and_nobody_is_asked() -> None:
    cases = [
        ({**GOOD, "steps": [{"kind": "fetch"}]}, "steps[0].url: is required for a fetch step"),
        ({**GOOD, "steps": STEPS}, "steps[0].prompt: {topic} names no earlier step"),
        (
            {**GOOD, "steps": [{"kind": "send", "name": "a", "text": "x"}] * 2},
            "steps[1].name: 'a' is used by an earlier step",
        ),
        ({**GOOD, "name": "9 lives"}, "name: '9 lives' is not a workflow name"),
        ({**GOOD, "name": "digest"}, "name: 'digest' is a workflow in the configuration"),
        ({**GOOD, "steps": [{"kind": "email", "text": "x"}]}, "invalid arguments at steps/0/kind"),
    ]
    for arguments, error in cases:
        world = World()
        await world.app.start()
        try:
            world.app.model.then_tool("save_workflow", json.dumps(arguments))
            world.app.model.then_text("Let me fix that.")
            await world.say("save it")
            [result] = world.tool_results()
            assert result["ok"] is False
            assert str(result["error"]).startswith(error), (arguments, result)
            assert world.store.workflows == {}
            assert all(not m.buttons for m in world.app.channel.delivered), "nobody was asked"
            assert world.app.channel.delivered[-1].text == "Let me fix that."
        finally:
            await world.app.stop()


async def test_list_and_delete_see_only_the_owners_own() -> None:
    store = InMemoryWorkflowStore()
    steps: list[dict[str, str]] = GOOD["steps"]  # type: ignore[assignment]
    await store.save(OWNER, workflow_from_fields("cheer", "", steps))
    theirs = workflow_from_fields("theirs", "", steps)
    await store.save("test:8", theirs)
    world = build_app(tools=WorkflowTools(store, CONFIGURED).tools())
    await world.start()
    try:
        world.model.then_tool("list_workflows", "{}")
        world.model.then_tool_calls(
            ("delete_workflow", json.dumps({"name": "theirs"})),
            ("delete_workflow", json.dumps({"name": "digest"})),
            ("delete_workflow", json.dumps({"name": "cheer"})),
        )
        world.model.then_text("Done.")
        await world.say("list my workflows, then delete them")
        await world.settle()
        stored = world.memory.messages[ConversationKey("test", "1")]
        listed, *deleted = [json.loads(m.content) for m in stored if m.role is Role.TOOL]
        names = [(w["name"], w["source"]) for w in listed["result"]["workflows"]]
        assert names == [("cheer", "saved"), ("digest", "config")]
        assert deleted == [
            {"ok": False, "error": "there is no saved workflow named 'theirs'"},
            {
                "ok": False,
                "error": "'digest' is a workflow in the configuration; it cannot be deleted",
            },
            {"ok": True, "result": {"deleted": "cheer"}},
        ]
        assert list(store.workflows.values()) == [theirs]
    finally:
        await world.stop()


async def test_the_catalog_puts_config_first_and_scopes_saved_ones_by_owner() -> None:
    store = InMemoryWorkflowStore()
    steps: list[dict[str, str]] = GOOD["steps"]  # type: ignore[assignment]
    mine = workflow_from_fields("cheer", "", steps)
    clash = workflow_from_fields("digest", "mine", steps)
    await store.save(OWNER, mine)
    await store.save(OWNER, clash)
    catalog = WorkflowCatalog(CONFIGURED, store)
    assert await catalog.find(OWNER, "cheer") == mine
    assert await catalog.find("test:8", "cheer") is None
    assert await catalog.find(OWNER, "digest") == CONFIGURED["digest"]
    assert await catalog.names(OWNER) == ["cheer", "digest"]
    assert await catalog.names("test:8") == ["digest"]
    assert await WorkflowCatalog(CONFIGURED, None).find(OWNER, "cheer") is None
