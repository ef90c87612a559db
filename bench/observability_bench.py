"""Observability's cost: scenario (b) at 0 ms LLM latency with metrics and tracing both
off, then both on (spans exported to a loopback OTLP collector, /metrics scraped every
second), alternating in the same run. Target: "on" keeps >= 85% of "off"'s throughput.
Reports replies per second and CPU per message for both."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e_bench import FULL, SHORT, Harness
from bench.harness.procs import Bot
from tests.fakes.otlp_collector import FakeOtlpCollector

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SHARE = 0.85


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def observability_config(collector: FakeOtlpCollector, metrics_port: int) -> str:
    return f"""
[metrics]
enabled = true
listen_port = {metrics_port}

[tracing]
enabled = true
otlp_endpoint = "{collector.endpoint}"
"""


class ObservedHarness(Harness):
    """The end-to-end harness, waiting longer for the bot to start."""

    async def _wait_first_poll(self, bot: Bot, limit_seconds: float = 120.0) -> float:
        # Start-up is not what is measured here, and on a loaded machine it can be slow.
        return await super()._wait_first_poll(bot, limit_seconds)


async def scrape_every_second(url: str, stop: asyncio.Event, counts: list[int]) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(url) as response:
                    if response.status == 200 and b"minibot_messages_received_total" in (
                        await response.read()
                    ):
                        counts.append(1)
            except aiohttp.ClientError:
                pass  # not listening yet
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    scenario = next(s for s in (FULL if args.full else SHORT) if s.name == "b")
    collector = await FakeOtlpCollector().start()
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    scrapes: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix="obs-bench-", dir=args.workdir) as tmp:
            async with ObservedHarness(Path(tmp), stall_seconds=15.0, profile_dir=None) as h:
                for _ in range(args.rounds):
                    for mode in ("off", "on"):
                        stop = asyncio.Event()
                        scraper = None
                        if mode == "on":
                            port = free_port()
                            h.extra = observability_config(collector, port)
                            url = f"http://127.0.0.1:{port}/metrics"
                            scraper = asyncio.create_task(scrape_every_second(url, stop, scrapes))
                        else:
                            h.extra = ""
                        try:
                            row = await h.run("minibot", scenario, 0)
                        finally:
                            stop.set()
                            if scraper is not None:
                                await scraper
                        rows[mode].append(row)
                        print(
                            f"  {mode}: {row['replies_per_s']:.0f} replies/s, "
                            f"{row['cpu_ms_per_msg']:.2f} ms CPU/msg, "
                            f"{row['minstr_per_msg'] or 0:.2f} M instructions/msg, "
                            f"lost {row['lost']}",
                            file=sys.stderr,
                        )
            await asyncio.sleep(1.5)  # the last batch of spans
    finally:
        await collector.stop()
    return {
        "scenario": {"name": scenario.name, "chats": scenario.chats, "per_chat": scenario.per_chat},
        "rows": rows,
        "spans_received": len(collector.spans),
        "traces_received": len(collector.traces()),
        "scrapes": len(scrapes),
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in result["rows"][mode])

    off, on = median("off", "replies_per_s"), median("on", "replies_per_s")
    return {
        "off_replies_per_s": off,
        "on_replies_per_s": on,
        "on_share_of_off": on / off if off else float("nan"),
        "off_cpu_ms_per_msg": median("off", "cpu_ms_per_msg"),
        "on_cpu_ms_per_msg": median("on", "cpu_ms_per_msg"),
        # User-space instructions per message (perf stat; None without it): the cost
        # figure least moved by other load on the machine.
        "off_minstr_per_msg": _median_or_none(result, "off", "minstr_per_msg"),
        "on_minstr_per_msg": _median_or_none(result, "on", "minstr_per_msg"),
        "lost": sum(r["lost"] for rows in result["rows"].values() for r in rows),
    }


def _median_or_none(result: dict[str, Any], mode: str, key: str) -> float | None:
    values = [r[key] for r in result["rows"][mode] if r.get(key) is not None]
    return statistics.median(values) if values else None


async def main_async(args: argparse.Namespace) -> int:
    load_before = os.getloadavg()
    result = await measure(args)
    figures = summary(result)
    met = figures["on_share_of_off"] >= TARGET_SHARE
    print(
        f"  scenario b, 0 ms: off {figures['off_replies_per_s']:.0f}/s "
        f"({figures['off_cpu_ms_per_msg']:.2f} ms CPU/msg), on {figures['on_replies_per_s']:.0f}/s "
        f"({figures['on_cpu_ms_per_msg']:.2f} ms CPU/msg): {figures['on_share_of_off']:.0%} of off"
    )
    if figures["off_minstr_per_msg"] and figures["on_minstr_per_msg"]:
        print(
            f"  instructions: off {figures['off_minstr_per_msg']:.2f} M/msg, "
            f"on {figures['on_minstr_per_msg']:.2f} M/msg "
            f"({figures['off_minstr_per_msg'] / figures['on_minstr_per_msg']:.0%} of off's cost)"
        )
    print(
        f"  [{'ok' if met else 'MISS'}] on keeps >= {TARGET_SHARE:.0%} of off's throughput"
        f"{'' if args.full else ' (short sizes: indicative only)'}"
    )
    print(
        f"  spans received {result['spans_received']} in {result['traces_received']} traces; "
        f"{result['scrapes']} scrapes; load average {load_before[0]:.2f} -> "
        f"{os.getloadavg()[0]:.2f} on {psutil.cpu_count()} cores"
    )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"observability-{'full' if args.full else 'short'}-{stamp}.json"
    out.write_text(json.dumps({"date": stamp, **result, "summary": figures}, indent=2))
    print(f"  written {out}")
    return 0 if figures["lost"] == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="scenario (b) at the issue's size")
    parser.add_argument("--rounds", type=int, default=1, help="off/on pairs, alternated")
    parser.add_argument("--workdir", help="where the scratch directory goes (default: /tmp)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
