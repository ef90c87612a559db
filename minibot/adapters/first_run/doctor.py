"""`minibot doctor`: everything a running bot needs, one line per check, exit 1 if any failed."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from minibot.adapters.config.loader import load_settings
from minibot.adapters.first_run import doctor_checks as checks
from minibot.adapters.first_run.doctor_checks import Finding
from minibot.adapters.logging.redaction import Redactor
from minibot.core.errors import ConfigError

NAME_WIDTH = 12


async def run_doctor(path: Path, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    source = str(path) if path.exists() else f"defaults ({path} does not exist)"  # noqa: ASYNC240
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        where = "" if exc.key == str(path) else f" in {path}"
        _print(
            out,
            Redactor(),
            [
                Finding(
                    "config",
                    "FAIL",
                    f"invalid{where}: {exc}",
                    "fix the key it names (`minibot init` writes a fresh one)",
                )
            ],
        )
        print("some checks failed (the others need a valid config)", file=out, flush=True)
        return 1
    redact = Redactor(
        secret.get_secret_value()
        for secret in (
            settings.llm.api_key,
            settings.channels.telegram.bot_token,
            settings.channels.slack.bot_token,
        )
        if secret.get_secret_value()
    )
    failed = False
    for batch in (
        [Finding("config", "ok", f"{source} is valid")],
        await checks.check_databases(settings),
        [checks.check_job_store(settings)],
        await checks.check_channels(settings),
        await checks.check_model(settings),
        await checks.check_services(settings.model_dump(mode="json")),
        checks.check_disk(settings),
        [checks.check_sandbox(settings)],
    ):
        _print(out, redact, batch)
        failed = failed or any(finding.status == "FAIL" for finding in batch)
    print("some checks failed" if failed else "all checks passed", file=out, flush=True)
    return 1 if failed else 0


def _print(out: TextIO, redact: Redactor, findings: Iterable[Finding]) -> None:
    for finding in findings:
        line = f"{finding.status:<4}  {finding.name:<{NAME_WIDTH}}  {finding.detail}"
        if finding.fix:
            line += f"  -> {finding.fix}"
        print(redact(" ".join(line.split(" \n"))), file=out, flush=True)
