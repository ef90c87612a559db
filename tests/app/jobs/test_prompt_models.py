"""A scheduled prompt may name the model that answers it."""

from __future__ import annotations

from minibot.app.model_lineup import ModelLineup, ModelOption
from minibot.core.events import JobCompleted
from minibot.core.prices import Price
from tests.app.jobs.job_harness import build_tasks
from tests.fakes.language_model import ScriptedLanguageModel


async def test_a_scheduled_prompt_naming_a_model_is_answered_by_it() -> None:
    main, cheap = ScriptedLanguageModel("main-model"), ScriptedLanguageModel("cheap-model")
    lineup = ModelLineup(
        [ModelOption("default", main, Price(1, 1)), ModelOption("cheap", cheap, Price(0, 0))],
        default_alias="default",
    )
    h = build_tasks(lineup=lineup, job_models=("default", "cheap"))
    await h.start()
    try:
        made = await h.tool("schedule_prompt", when="in 1 hour", prompt="news", model="cheap")
        assert made["ok"] and made["result"]["model"] == "cheap", made
        await h.advance(3600)
        await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
        await h.settle()
        assert main.calls == [] and len(cheap.calls) == 1
        assert h.app.channel.texts() == ["echo: news"]
        refused = await h.tool("schedule_prompt", when="in 1 hour", prompt="x", model="nope")
        assert not refused["ok"], "only configured aliases are accepted"
    finally:
        await h.stop()
