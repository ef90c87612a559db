"""Benchmark of the external tools: run_code of print(1), and fetch_url of a 1 MB page."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.results import write_result
from minibot.adapters.sandbox.bwrap_sandbox import BwrapSandbox
from minibot.adapters.web.pinned_fetcher import PinnedFetcher
from minibot.adapters.web.web_reader import PinnedWebReader
from minibot.app.tools.code_tools import CodeTools
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.app.tools.web_tools import WebTools
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.sandbox import SandboxLimits
from minibot.core.web import WebRules
from tests.fakes.web_server import LoopbackSite, ScriptedResolver

SIZES = {"short": {"runs": 20, "fetches": 5}, "full": {"runs": 200, "fetches": 30}}
TARGET_RUN_CODE_P50_MS = 150.0
PAGE_BYTES = 1_000_000
CONTEXT = ToolContext("bench:1", ConversationKey("bench", "1"))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples_ms), 2),
        "p99_ms": round(percentile(samples_ms, 0.99), 2),
        "max_ms": round(max(samples_ms), 2),
        "samples": len(samples_ms),
    }


async def run_code(runs: int) -> dict[str, Any]:
    sandbox = BwrapSandbox(SandboxLimits())
    reason = await sandbox.unavailable()
    if reason is not None:
        return {"skipped": reason}
    registry = ToolRegistry(CodeTools(sandbox).tools())
    call = ToolCall("b", "run_code", json.dumps({"language": "python", "code": "print(1)"}))
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await registry.run(call, CONTEXT)
        samples.append((time.perf_counter() - started) * 1000)
        assert '"stdout": "1\\n"' in result, result
    figures = summary(samples)
    figures["target_p50_ms"] = TARGET_RUN_CODE_P50_MS
    return figures


async def fetch_url(fetches: int) -> dict[str, Any]:
    paragraph = b"<p>" + b"minibot fetches pages for its owner. " * 20 + b"</p>\n"
    body = (
        b"<html><title>Big</title><body>"
        + paragraph * (PAGE_BYTES // len(paragraph))
        + b"</body></html>"
    )
    site = LoopbackSite({"/big": (200, {"Content-Type": "text/html"}, body)})
    await site.start()
    try:
        rules = WebRules(
            allowed_hosts=(f"127.0.0.1:{site.port}",), max_response_bytes=2 * PAGE_BYTES
        )
        reader = PinnedWebReader(PinnedFetcher(ScriptedResolver(), rules))
        registry = ToolRegistry(WebTools(reader=reader, search=None, max_text_chars=12_000).tools())
        call = ToolCall("b", "fetch_url", json.dumps({"url": f"{site.url}/big"}))
        await registry.run(call, CONTEXT)  # warm: bs4 imported, connection code paths loaded
        rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        samples: list[float] = []
        for _ in range(fetches):
            started = time.perf_counter()
            result = await registry.run(call, CONTEXT)
            samples.append((time.perf_counter() - started) * 1000)
            assert '"title": "Big"' in result, result[:200]
        # Apart from the timed runs: tracing allocations slows Python down several times.
        tracemalloc.start()
        await registry.run(call, CONTEXT)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        figures = summary(samples)
        figures["page_bytes"] = len(body)
        figures["peak_python_alloc_mb"] = round(peak / 2**20, 1)
        rss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        figures["max_rss_growth_mb"] = round((rss_after_kb - rss_before_kb) / 1024, 1)
        return figures
    finally:
        await site.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sample sizes")
    args = parser.parse_args()
    mode = "full" if args.full else "short"
    size = SIZES[mode]
    result = {
        "mode": mode,
        "run_code_print_1": await run_code(size["runs"]),
        "fetch_url_1mb": await fetch_url(size["fetches"]),
    }
    print(json.dumps(result, indent=2))
    print(f"written to {write_result('tools', mode, result)}")


if __name__ == "__main__":
    asyncio.run(main())
