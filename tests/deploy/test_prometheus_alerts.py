"""deploy/prometheus/alerts.yml: valid for Prometheus (promtool), every rule with a
summary and a runbook line, on the contract's series only; a broken copy is refused."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
SERIES = {
    "minibot_messages_received_total",
    "minibot_replies_sent_total",
    "minibot_turn_duration_seconds",
    "minibot_llm_requests_total",
    "minibot_llm_tokens_total",
    "minibot_llm_cost_usd_total",
    "minibot_llm_retries_total",
    "minibot_channel_flood_waits_total",
    "minibot_jobs_fired_total",
    "minibot_job_delivery_lag_seconds",
    "minibot_inbox_pending",
    "minibot_duplicates_prevented_total",
    "minibot_service_up",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is not None:
        return found
    reason = "promtool is not installed (apt-get install prometheus)"
    if os.environ.get("MINIBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; MINIBOT_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(reason)


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )


def test_promtool_accepts_the_rules() -> None:
    result = check(RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout + result.stderr


def test_a_broken_copy_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    text = RULES.read_text()
    broken.write_text(text.replace("minibot_service_up == 0", "minibot_service_up == = 0", 1))
    result = check(broken)
    assert result.returncode != 0
    assert "parse error" in (result.stdout + result.stderr)
    unindented = tmp_path / "unindented.yml"
    unindented.write_text(text.replace("    rules:", "  rules:", 1).replace("- alert", "alert", 1))
    assert check(unindented).returncode != 0


def test_every_rule_has_a_summary_and_a_runbook_on_the_contract_series() -> None:
    text = RULES.read_text()
    alerts = re.findall(r"^\s*- alert: (\w+)", text, re.M)
    assert len(alerts) == 8
    assert len(re.findall(r"^\s+summary: ", text, re.M)) == len(alerts)
    assert len(re.findall(r"^\s+runbook: ", text, re.M)) == len(alerts)
    used = set(re.findall(r"minibot_[a-z_]+", text))
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for name in used}
    assert used <= SERIES, used - SERIES
    wanted = {"late": "lag", "failed": "failed", "missed": "missed", "model": "llm_requests"}
    for what, needle in wanted.items():
        assert needle in text, what
