"""The external tools wired by the container, through the console: run_code's limits
reported to the model with the daemon still answering; check-config on the sandbox."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import run_minibot, write_config

CODE = """
[tools.code]
enabled = true
timeout_seconds = 3
memory_mb = 128
max_output_chars = 4000
max_processes = 16
"""
ATTACKS = {
    "fork": "import os\nwhile True:\n    os.fork()",
    "memory": "x = bytearray(1024 * 1024 * 1024)",
    "output": "print('x' * 10_000_000)",
    "loop": "while True:\n    pass",
}


def run_code(code: str) -> tuple[str, str]:
    return ("run_code", json.dumps({"language": "python", "code": code}))


async def test_check_config_says_whether_run_code_is_offered(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", CODE)
    result = await run_minibot("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "# run_code: offered" in result.stdout
    printed = tomllib.loads(result.stdout.split("# run_code:")[0])
    assert printed["tools"]["code"]["enabled"] is True
    broken = write_config(tmp_path, "http://127.0.0.1:9/v1", CODE + 'bwrap_path = "/no/bwrap"\n')
    result = await run_minibot("check-config", "--config", str(broken))
    assert "# run_code: NOT offered: bubblewrap (/no/bwrap) is not installed" in result.stdout


@pytest.mark.slow
async def test_code_that_attacks_its_limits_is_contained_and_the_daemon_keeps_answering(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url, CODE)
    fake_llm.script(
        Script.tool_call(
            *run_code(ATTACKS["fork"]), *(run_code(c) for c in list(ATTACKS.values())[1:])
        ),
        Script.reply("all contained"),
    )
    result = await run_minibot(
        "console", "--config", str(config), stdin="try to break out\nstill there?\n"
    )
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("minibot> ")]
    assert replies == ["minibot> all contained", "minibot> echo: still there?"]
    answered = fake_llm.requests[1].body["messages"]
    results = [m["content"] for m in answered if m["role"] == "tool"]
    limits = [
        json.loads(r.split("\n", 1)[1].rsplit("\n", 1)[0])["result"]["limit"] for r in results
    ]
    assert limits[0] == "processes"
    assert limits[1] == "memory"
    assert limits[2] == "output"
    assert limits[3] in ("wall_time", "cpu_time")


async def test_check_config_prints_workflows_and_owner_overrides_as_toml(tmp_path: Path) -> None:
    extra = (
        '[tools.permissions.owners."telegram:1"]\nsave_note = "deny"\n'
        '[[workflows.w.steps]]\nkind = "search"\nquery = "news"\n'
        '[[workflows.w.steps]]\nkind = "send"\ntext = "{step1}"\n'
    )
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", extra)
    result = await run_minibot("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    printed = tomllib.loads(result.stdout)
    assert printed["tools"]["permissions"]["owners"] == {"telegram:1": {"save_note": "deny"}}
    assert [s["kind"] for s in printed["workflows"]["w"]["steps"]] == ["search", "send"]
