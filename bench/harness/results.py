"""Where a benchmark's figures go: bench/results/<name>-<mode>-<UTC stamp>.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "results"


def write_result(name: str, mode: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{name}-{mode}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    return out
