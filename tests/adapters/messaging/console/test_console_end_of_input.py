"""`minibot console` with a slow model: end of input waits for the answers, a signal does not."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import MINIBOT, child_env, run_minibot, write_config

# A budget shorter than the model's answers, which stay well within its own deadline.
SHUTDOWN_BUDGET_SECONDS = 1.0
MODEL_DELAY_SECONDS = 2.0
SLOW = {
    "MINIBOT_DAEMON__SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_BUDGET_SECONDS),
    "MINIBOT_LLM__REQUEST_TIMEOUT_SECONDS": "6",
    "MINIBOT_LLM__TOTAL_DEADLINE_SECONDS": "10",
}


def replies(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("minibot> ")]


async def test_end_of_input_waits_for_a_slow_model_to_answer_every_line(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    fake_llm.script(Script.slow(MODEL_DELAY_SECONDS), Script.slow(MODEL_DELAY_SECONDS))
    result = await run_minibot(
        "console",
        "--config",
        str(config),
        stdin="Say hello in French.\nAnd in German.\n",
        env=SLOW,
        limit_seconds=40,
    )
    assert result.returncode == 0, result.stderr
    assert replies(result.stdout) == [
        "minibot> echo: Say hello in French.",
        "minibot> echo: And in German.",
    ], result.stderr
    assert "gave up waiting" not in result.stderr, result.stderr


async def test_a_line_the_model_fails_for_good_gets_a_short_line_and_the_next_is_answered(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    # Three slow failures: the retries together outlast the shutdown budget.
    failing = Script(status=503, delay_seconds=MODEL_DELAY_SECONDS / 2)
    fake_llm.script(failing, failing, failing)
    result = await run_minibot(
        "console",
        "--config",
        str(config),
        stdin="are you up?\nstill there?\n",
        env=SLOW,
        limit_seconds=40,
    )
    assert result.returncode == 0, result.stderr
    answered = replies(result.stdout)
    assert len(answered) == 2, result.stdout + result.stderr
    assert "model is unavailable" in answered[0]
    assert answered[1] == "minibot> echo: still there?"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_while_waiting_for_answers_stops_within_the_budget_and_counts_the_rest(
    tmp_path: Path, fake_llm: FakeOpenAIServer, signum: signal.Signals
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    # Far longer than the test: only the signal can end the wait.
    fake_llm.script(Script.slow(60), Script.slow(60))
    process = await asyncio.create_subprocess_exec(
        *MINIBOT,
        "console",
        "--config",
        str(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**child_env(), **SLOW},
    )
    assert process.stdin is not None
    process.stdin.write(b"first question\nsecond question\n")
    await process.stdin.drain()
    process.stdin.close()  # end of input
    for _ in range(400):
        if fake_llm.in_flight:
            break
        await asyncio.sleep(0.05)
    assert fake_llm.in_flight, "the first question never reached the model"
    # Still running well past the budget: end of input alone does not end the wait.
    exited = asyncio.ensure_future(process.wait())
    done, _ = await asyncio.wait({exited}, timeout=SHUTDOWN_BUDGET_SECONDS * 2)
    assert not done, "the console exited before its lines were answered"
    began = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signum)
    out, err = await asyncio.wait_for(process.communicate(), 20)
    took = time.monotonic() - began
    log = err.decode()
    assert process.returncode == 0, log
    # The budget, plus the one second the last stopping services may each still have.
    assert took < SHUTDOWN_BUDGET_SECONDS + 3, f"took {took:.1f} s\n{log}"
    assert replies(out.decode()) == []
    assert "unanswered=2" in log, log
