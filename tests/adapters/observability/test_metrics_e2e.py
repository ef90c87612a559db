"""/metrics after messages, a failing model and a fired job: the contract's series with
the right values, read with Prometheus' own text parser."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.adapters.observability.harness import OWNER, running, telegram_config, until, value
from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.fakes.telegram_server import FakeTelegramServer

METRICS = """
[metrics]
enabled = true
listen_port = 0
inbox_poll_seconds = 0.2

[llm.prices.fake-model]
prompt_per_million = 1000000
completion_per_million = 2000000
"""


async def test_metrics_count_messages_replies_model_failures_retries_and_a_fired_job(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    async with FakeTelegramServer() as tg:
        config = telegram_config(tmp_path, fake_llm, tg, extra=METRICS)
        async with running(config) as app:
            before = await app.scrape()
            assert value(before, "minibot_messages_received_total", channel="telegram") == 0
            assert value(before, "minibot_service_up", service="telegram") == 1
            assert value(before, "minibot_service_up", service="database") == 1

            # Two answered messages; the second reply meets one 429 first.
            tg.enqueue_text(OWNER, OWNER, "first")
            await until(lambda: len(tg.messages_to(OWNER)) >= 1)
            tg.rate_limit("sendMessage", retry_after=1)
            update = tg.enqueue_text(OWNER, OWNER, "second")
            await until(lambda: len(tg.messages_to(OWNER)) >= 2)
            # The same update again (a redelivery): dropped by the inbox.
            tg.enqueue(update, assign_id=False)

            # The model fails for good (3 attempts, 2 retries): one failed turn.
            fake_llm.script(Script.error(500), Script.error(500), Script.error(500))
            tg.enqueue_text(OWNER, OWNER, "third")
            await until(lambda: len(tg.messages_to(OWNER)) >= 3)

            # A reminder fires a second later and is delivered.
            tg.enqueue_text(OWNER, OWNER, "/remind in 1 second stretch")
            await until(lambda: any("stretch" in m.text for m in tg.messages_to(OWNER)[4:]))

            samples = await app.scrape()
            try:
                async with asyncio.timeout(10):
                    # The last reply's fact and the reminder's run may trail its message.
                    while not (
                        value(samples, "minibot_jobs_fired_total", outcome="delivered") == 1
                        and value(samples, "minibot_replies_sent_total", channel="telegram") == 5
                    ):
                        await asyncio.sleep(0.1)
                        samples = await app.scrape()
            except TimeoutError:
                raise AssertionError(samples) from None

    s = samples
    assert value(s, "minibot_messages_received_total", channel="telegram") == 4
    # first, second, the apology for third, the /remind answer, the reminder itself.
    assert value(s, "minibot_replies_sent_total", channel="telegram") == 5
    assert value(s, "minibot_turn_duration_seconds_count") == 3
    assert value(s, "minibot_turn_duration_seconds_sum") > 0
    assert value(s, "minibot_llm_requests_total", model="fake-model", outcome="ok") == 2
    assert value(s, "minibot_llm_requests_total", model="fake-model", outcome="unavailable") == 1
    assert value(s, "minibot_llm_retries_total", reason="server_error") == 2
    answers = fake_llm.answers
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    assert prompt > 0 and completion > 0
    assert value(s, "minibot_llm_tokens_total", model="fake-model", kind="prompt") == prompt
    assert value(s, "minibot_llm_tokens_total", model="fake-model", kind="completion") == completion
    assert value(s, "minibot_llm_cost_usd_total", model="fake-model") == (
        prompt * 1.0 + completion * 2.0
    )
    assert value(s, "minibot_channel_flood_waits_total", channel="telegram") == 1
    assert value(s, "minibot_jobs_fired_total", outcome="delivered") == 1
    assert value(s, "minibot_jobs_fired_total", outcome="failed") == 0
    assert value(s, "minibot_jobs_fired_total", outcome="missed") == 0
    assert value(s, "minibot_job_delivery_lag_seconds_count") == 1
    assert 0 <= value(s, "minibot_job_delivery_lag_seconds_sum") < 10
    assert value(s, "minibot_inbox_pending", channel="telegram") == 0
    assert value(s, "minibot_duplicates_prevented_total", channel="telegram") == 1
    assert value(s, "minibot_service_up", service="llm") == 1
    # Bounded labels: no chat or user id anywhere.
    assert not [key for key in s if any(str(OWNER) == v for _, v in key[1])]
