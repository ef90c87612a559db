"""KV memory end to end: the daemon (console) with the fake OpenAI server scripting calls."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import run_minibot, write_config


def tool_results(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


async def test_a_note_saved_in_one_conversation_is_found_after_a_restart_in_another(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = str(write_config(tmp_path, fake_llm.base_url))
    fake_llm.script(
        Script.tool_call("save_note", json.dumps({"title": "locker code", "content": "4711"})),
        Script.reply("Noted: your locker code is saved."),
    )
    first = await run_minibot(
        "console", "--config", config, stdin="remember that my locker code is 4711\n"
    )
    assert "minibot> Noted" in first.stdout, first.stderr
    offered = {t["function"]["name"] for t in fake_llm.requests[0].body["tools"]}
    notes = {"save_note", "get_note", "search_notes", "list_notes", "delete_note"}
    assert notes <= offered and not {n for n in offered - notes if "note" in n}

    fake_llm.script(
        Script.tool_call("search_notes", json.dumps({"query": "locker code"})),
        Script.reply("Your locker code is 4711."),
    )
    second = await run_minibot(
        "console",
        "--config",
        config,
        stdin="what is my locker code?\n/memory\n/memory forget all\n/memory forget all confirm\n"
        "/memory\n",
        env={"MINIBOT_CHANNELS__CONSOLE__CHAT_ID": "another-chat"},
    )
    # A new conversation: the earlier exchange is not in its history...
    search_request = fake_llm.requests[2].body
    assert all("4711" not in str(m["content"]) for m in search_request["messages"])
    # ...but the search tool found the note, and its result went back to the model.
    [result] = tool_results(fake_llm.requests[3].body)
    assert "4711" in result and "locker code" in result
    replies = second.stdout.split("minibot> ")[1:]
    assert replies[0].strip() == "Your locker code is 4711."
    assert "locker code: 4711" in replies[1] and "console:another-chat" not in replies[1]
    assert "console:console" in replies[1], "provenance names the conversation that saved it"
    assert "Really forget all 1" in replies[2]
    assert "Forgot all your notes (1)" in second.stdout
    assert "I keep no notes for you yet" in second.stdout


async def test_with_kv_memory_disabled_no_tools_are_offered(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = str(write_config(tmp_path, fake_llm.base_url, "[kv_memory]\nenabled = false\n"))
    result = await run_minibot(
        "console",
        "--config",
        config,
        stdin="hi\n/help\n",
        # The scheduler's and media's tools (generate_image) are off too.
        env={"MINIBOT_SCHEDULER__ENABLED": "false", "MINIBOT_MEDIA__ENABLED": "false"},
    )
    assert "minibot> echo: hi" in result.stdout
    assert "tools" not in fake_llm.requests[0].body
    assert "/memory" not in result.stdout
