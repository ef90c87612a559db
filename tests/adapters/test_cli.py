"""The `minibot` command run as a real subprocess: check-config, console, daemon signals."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import MINIBOT, child_env, reap, run_minibot, write_config


async def test_check_config_prints_the_effective_config_with_secrets_masked(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1")
    result = await run_minibot("check-config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert 'model = "fake-model"' in result.stdout and "[channels.telegram]" in result.stdout
    assert "sk-test-key" not in result.stdout and "**********" in result.stdout


async def test_check_config_says_saved_workflows_need_the_scheduler(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", "[tools.workflows]\nenabled = true\n")
    result = await run_minibot(
        "check-config", "--config", str(config), env={"MINIBOT_SCHEDULER__ENABLED": "false"}
    )
    assert result.returncode == 0, result.stderr
    assert "# save_workflow: NOT offered: [scheduler] enabled is false" in result.stdout


async def test_invalid_config_exits_2_with_one_readable_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[bus]\nqueue_size = "lots"\n')
    result = await run_minibot("--config", str(config), "check-config")
    assert result.returncode == 2
    assert "bus.queue_size" in result.stderr and "str" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_console_chats_through_the_pipeline_and_exits_on_end_of_input(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    result = await run_minibot("console", "--config", str(config), stdin="hello\nsecond line\n")
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("minibot> ")]
    assert replies == ["minibot> echo: hello", "minibot> echo: second line"]
    assert "sk-test-key" not in result.stderr


async def test_history_survives_a_restart_and_retries_recover_from_429_and_500(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    first = await run_minibot("console", "--config", str(config), stdin="my locker is 4711\n")
    assert first.returncode == 0, first.stderr
    fake_llm.script(
        Script.error(429, retry_after="0"), Script.error(500), Script.reply("it is 4711")
    )
    second = await run_minibot("console", "--config", str(config), stdin="what is my locker?\n")
    assert "minibot> it is 4711" in second.stdout
    last = fake_llm.requests[-1].body["messages"]
    contents = [m["content"] for m in last]
    assert "my locker is 4711" in contents and "echo: my locker is 4711" in contents
    assert len(fake_llm.requests) == 4


async def test_a_turn_that_fails_for_good_says_so_and_keeps_the_message(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    fake_llm.script(*[Script.error(503)] * 3)
    failed = await run_minibot("console", "--config", str(config), stdin="are you up?\n")
    assert "model is unavailable" in failed.stdout
    assert "correlation_id=" in failed.stderr and "turn failed" in failed.stderr
    later = await run_minibot("console", "--config", str(config), stdin="again\n")
    contents = [m["content"] for m in fake_llm.requests[-1].body["messages"]]
    assert "are you up?" in contents
    assert "minibot> echo: again" in later.stdout


async def test_the_daemon_stops_on_sigterm_with_exit_0_in_reverse_order(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    process = await asyncio.create_subprocess_exec(
        *MINIBOT,
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    assert process.stderr is not None
    seen = ""
    while "minibot started" not in seen:
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        assert line, f"daemon exited early: {seen}"
        seen += line.decode()
    process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stderr.read(), 20)
    code = await reap(process, 5)
    log = seen + rest.decode()
    assert code == 0, log
    stopped = [
        line.split("service=")[1].split()[0]
        for line in log.splitlines()
        if "service stopped" in line
    ]
    # Approval deadlines and the scheduler stop firing first; the task store closes
    # after the dispatcher's last command could have used it.
    assert stopped == [
        "approvals",
        "scheduler",
        "jobs",
        "dispatcher",
        "reply-router",
        "bus",
        # The media clients ([media] is on by default) close beside the model's.
        "media-image",
        "media-speech",
        "media-transcription",
        "llm",
        "retention",
        "database",
    ]
    assert "minibot stopped" in log and "exit_code=0" in log
