"""End-to-end benchmark: minibot as a subprocess against the fakes, beside an aiogram echo floor."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.procs import Bot, Fake
from bench.harness.shared_services import SharedServices

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Scenario:
    name: str
    chats: int
    per_chat: int
    burst: bool = False

    @property
    def messages(self) -> int:
        return self.chats * self.per_chat


SHORT = [
    Scenario("a", 1, 20),
    Scenario("b", 10, 5),
    Scenario("c", 50, 2),
    Scenario("d", 20, 10, burst=True),
]
FULL = [
    Scenario("a", 1, 200),
    Scenario("b", 50, 20),
    Scenario("c", 500, 4),
    Scenario("d", 200, 10, burst=True),
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


_SHORT_DRAIN = "[daemon]\nshutdown_timeout_seconds = 0.5\n"
# The fake Bot API has no flood limit; the shared one must not be what is measured.
_NO_SEND_LIMIT = "max_sends_per_second = 100000\n"


class Harness:
    def __init__(self, work: Path, *, stall_seconds: float, profile_dir: Path | None) -> None:
        self.work = work
        self.stall_seconds = stall_seconds
        self.profile_dir = profile_dir
        self.telegram = Fake.start("bot-api", "bench.harness.bot_api")
        self.llm = {
            latency: Fake.start(
                f"openai-{latency}ms",
                "tests.fakes.openai_server",
                "--latency-ms",
                str(latency),
            )
            for latency in (0, 200)
        }
        self.http: aiohttp.ClientSession | None = None
        self.runs = 0
        # Config added to every bot this harness starts (the control plane, observability).
        self.extra = ""

    async def __aenter__(self) -> Harness:
        self.http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        for fake in [self.telegram, *self.llm.values()]:
            fake.stop()

    async def _get(self, url: str) -> Any:
        assert self.http is not None
        async with self.http.get(url) as response:
            return await response.json()

    async def _post(self, url: str, body: Any = None) -> Any:
        assert self.http is not None
        async with self.http.post(url, json=body or {}) as response:
            return await response.json()

    def _start_bot(
        self,
        kind: str,
        latency: int,
        label: str,
        *,
        reuse: bool = False,
        extra_config: str = "",
        shared: SharedServices | None = None,
    ) -> Bot:
        self.runs += 0 if reuse else 1
        extra_config += self.extra
        directory = self.work / f"{self.runs:02d}-{kind}-{label}"
        directory.mkdir(parents=True, exist_ok=True)
        profile = (
            self.profile_dir / f"{kind}-{label}.prof"
            if self.profile_dir is not None and kind == "minibot"
            else None
        )
        llm_base = self.llm[latency].url + "/v1"
        if shared is None:
            return Bot.start(kind, directory, self.telegram.url, llm_base, profile, extra_config)
        return Bot.start(
            "minibot",
            directory,
            self.telegram.url,
            llm_base,
            profile,
            extra_config + shared.extra_config,
            memory_url=shared.memory_url,
            job_store="sql",
            telegram_extra=_NO_SEND_LIMIT,
        )

    async def _wait_first_poll(self, bot: Bot, limit_seconds: float = 120.0) -> float:
        began = time.monotonic()
        while time.monotonic() - began < limit_seconds:
            progress = await self._get(self.telegram.url + "/_bench/progress")
            if progress["first_get_updates_at"] is not None:
                return float(progress["first_get_updates_at"])
            if bot.process.poll() is not None:
                raise RuntimeError(f"{bot.kind} exited with {bot.process.returncode}")
            await asyncio.sleep(0.01)
        raise RuntimeError(f"{bot.kind} never asked for updates")

    async def _wait_answered(self, expected: int) -> tuple[int, float]:
        """Until every message is answered or nothing moved for `stall_seconds`."""
        last_count, last_change = -1, time.monotonic()
        while True:
            progress = await self._get(self.telegram.url + "/_bench/progress")
            answered = int(progress["answered"])
            now = time.monotonic()
            if answered >= expected:
                return answered, now
            if answered != last_count:
                last_count, last_change = answered, now
            elif now - last_change > self.stall_seconds:
                return answered, now
            await asyncio.sleep(0.02)

    async def run(
        self, kind: str, scenario: Scenario, latency: int, shared: SharedServices | None = None
    ) -> dict[str, Any]:
        label = f"{scenario.name}-{latency}ms"
        await self._post(self.telegram.url + "/_bench/reset")
        await self._get(self.llm[latency].url + "/_control/stats?reset=1")
        plan = {"chats": scenario.chats, "per_chat": scenario.per_chat, "burst": scenario.burst}
        if scenario.burst:
            await self._post(self.telegram.url + "/_bench/start", plan)
        bot = self._start_bot(kind, latency, label, shared=shared)
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(bot.sample(stop_sampling))
        outcome: dict[str, Any] = {}
        try:
            first_poll = await self._wait_first_poll(bot)
            startup = first_poll - bot.started_at
            idle_rss = None
            if not scenario.burst:
                await asyncio.sleep(1.0)
                idle_rss = bot.rss()
            bot.start_profile()
            counter = bot.count_instructions()
            cpu_before = bot.cpu_seconds()
            main_before = bot.main_thread_cpu_seconds()
            fake_cpu = self.telegram.cpu_seconds()
            llm_cpu = self.llm[latency].cpu_seconds()
            wall_before = time.monotonic()
            if not scenario.burst:
                await self._post(self.telegram.url + "/_bench/start", plan)
            _, done_at = await self._wait_answered(scenario.messages)
            cpu = bot.cpu_seconds() - cpu_before
            instructions = Bot.instructions(counter)
            main_cpu = bot.main_thread_cpu_seconds() - main_before
            wall = done_at - wall_before
            fake_cpu = self.telegram.cpu_seconds() - fake_cpu
            llm_cpu = self.llm[latency].cpu_seconds() - llm_cpu
            await asyncio.sleep(0.3)  # late duplicates
        finally:
            stop_sampling.set()
            await sampler
            outcome = await bot.terminate()
        result = await self._get(self.telegram.url + "/_bench/result")
        stats = await self._get(self.llm[latency].url + "/_control/stats?reset=1")
        start = result["first_get_updates_at"] if scenario.burst else result["started_at"]
        span = max(1e-9, result["last_reply_at"] - start)
        latencies = [v * 1000 for v in result["latencies"]]
        answered = result["answered"]
        history = stats["history_messages"]
        return {
            "bot": kind if shared is None else "minibot-rabbitmq",
            "scenario": scenario.name,
            "chats": scenario.chats,
            "per_chat": scenario.per_chat,
            "burst": scenario.burst,
            "llm_latency_ms": latency if kind == "minibot" else None,
            "messages": scenario.messages,
            "answered": answered,
            "lost": result["lost"],
            "duplicated": result["duplicated"],
            "other_messages": result["other_messages"],
            "replies_per_s": answered / span,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies, default=float("nan")),
            # From "available" to the getUpdates answer that carried it: the share of
            # the latency spent before the bot even had the update.
            "pickup_p50_ms": percentile([v * 1000 for v in result["pickups"]], 50),
            "pickup_p95_ms": percentile([v * 1000 for v in result["pickups"]], 95),
            "cpu_ms_per_msg": 1000 * cpu / max(1, answered),
            "cpu_util": cpu / max(1e-9, wall),
            "cpu_ms_per_msg_loop_thread": 1000 * main_cpu / max(1, answered),
            # User-space instructions (perf stat) during the load, per answered message:
            # the figure to compare two trees by on a shared machine. None without perf.
            "minstr_per_msg": instructions / 1e6 / max(1, answered) if instructions else None,
            "rss_idle_mb": idle_rss / 2**20 if idle_rss else None,
            "rss_peak_mb": bot.peak_rss / 2**20,
            "startup_s": startup,
            "llm_requests_per_msg": stats["requests"] / max(1, answered)
            if kind == "minibot"
            else None,
            "history_mean": statistics.fmean(history) if history else None,
            "history_max": max(history) if history else None,
            "history_chars_mean": statistics.fmean(stats["history_chars"]) if history else None,
            "llm_max_in_flight": stats["max_in_flight"] if kind == "minibot" else None,
            "fake_bot_api_cpu_util": fake_cpu / max(1e-9, wall),
            "fake_llm_cpu_util": llm_cpu / max(1e-9, wall) if kind == "minibot" else None,
            "api_calls": result["api_calls"],
            **outcome,
        }

    async def rabbitmq_run(self, scenario: Scenario, latency: int) -> dict[str, Any]:
        """One replica on RabbitMQ, PostgreSQL and Redis, measured like the default."""
        shared = await SharedServices.create()
        try:
            return await self.run("minibot", scenario, latency, shared)
        finally:
            await shared.remove()

    async def failover_check(self, latency: int = 0) -> dict[str, Any]:
        """Two replicas; SIGKILL the one that polls, then time the next update's answer."""
        shared = await SharedServices.create()
        bots: list[Bot] = []
        try:
            await self._post(self.telegram.url + "/_bench/reset")
            for name in ("failover-1", "failover-2"):
                bots.append(self._start_bot("minibot", latency, name, shared=shared))
            for bot in bots:
                await self._wait_up(bot)
            plan = {"chats": 1, "per_chat": 1, "burst": False, "first_chat": 1}
            await self._post(self.telegram.url + "/_bench/start", plan)
            await self._wait_answered(1)
            leader = max(bots, key=_took_leadership_at)
            leader.process.kill()
            killed = time.monotonic()
            await self._post(self.telegram.url + "/_bench/start", {**plan, "first_chat": 2})
            answered, done = await self._wait_answered(1)
            return {
                "failover_s": done - killed if answered else None,
                "answered": answered,
            }
        finally:
            for bot in bots:
                await bot.terminate()
            await shared.remove()

    async def _wait_up(self, bot: Bot, limit_seconds: float = 180.0) -> None:
        began = time.monotonic()
        while "minibot started" not in _log_text(bot):
            if bot.process.poll() is not None or time.monotonic() - began > limit_seconds:
                raise RuntimeError(f"replica did not start: {_log_text(bot)[-2000:]}")
            await asyncio.sleep(0.05)

    async def restart_check(self, scenario: Scenario, latency: int) -> dict[str, Any]:
        """SIGTERM minibot while it works through a burst; a second run answers the rest.

        The first run may drain for only half a second (the default is 10 s, in which it
        would answer the whole burst): what it has not answered by then is left in its
        inbox, or with Telegram, for the second run."""
        label = f"restart-{latency}ms"
        await self._post(self.telegram.url + "/_bench/reset")
        await self._get(self.llm[latency].url + "/_control/stats?reset=1")
        plan = {"chats": scenario.chats, "per_chat": scenario.per_chat, "burst": True}
        await self._post(self.telegram.url + "/_bench/start", plan)
        bot = self._start_bot("minibot", latency, label, extra_config=_SHORT_DRAIN)
        await self._wait_first_poll(bot)
        threshold = max(1, scenario.messages // 5)
        while True:
            progress = await self._get(self.telegram.url + "/_bench/progress")
            if progress["answered"] >= threshold or bot.process.poll() is not None:
                break
            await asyncio.sleep(0.005)
        at_signal = progress["answered"]
        first = await bot.terminate()
        progress = await self._get(self.telegram.url + "/_bench/progress")
        before_restart = progress["answered"]
        # Same scratch directory as the first run: the same database.
        second = self._start_bot("minibot", latency, label, reuse=True, extra_config=_SHORT_DRAIN)
        _answered, _ = await self._wait_answered(scenario.messages)
        await asyncio.sleep(0.3)
        second_outcome = await second.terminate()
        result = await self._get(self.telegram.url + "/_bench/result")
        return {
            "bot": "minibot",
            "scenario": "restart",
            "messages": scenario.messages,
            "llm_latency_ms": latency,
            "answered_at_sigterm": at_signal,
            "answered_before_restart": before_restart,
            "answered": result["answered"],
            "lost": result["lost"],
            "duplicated": result["duplicated"],
            "first_stop": first,
            "second_stop": second_outcome,
            "ok": result["lost"] == 0
            and result["duplicated"] == 0
            and first["exit_code"] == 0
            and not first["killed"],
        }


def _log_text(bot: Bot) -> str:
    return Path(bot.log.name).read_text(errors="replace")


def _took_leadership_at(bot: Bot) -> float:
    """When the replica last began polling (its log's line), 0 if never."""
    lines = _log_text(bot).splitlines()
    took = [n for n, line in enumerate(lines) if "this replica polls telegram now" in line]
    return float(took[-1] + 1) if took else 0.0


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.{digits}f}"
    return str(value)


COLUMNS = [
    ("run", None),
    ("msgs", "messages"),
    ("lost", "lost"),
    ("dup", "duplicated"),
    ("rep/s", "replies_per_s"),
    ("p50ms", "p50_ms"),
    ("p95ms", "p95_ms"),
    ("p99ms", "p99_ms"),
    ("maxms", "max_ms"),
    ("cpu ms/msg", "cpu_ms_per_msg"),
    ("Minstr/msg", "minstr_per_msg"),
    ("idleMB", "rss_idle_mb"),
    ("peakMB", "rss_peak_mb"),
    ("start s", "startup_s"),
    ("llm/msg", "llm_requests_per_msg"),
    ("hist", "history_mean"),
    ("fakeCPU", "fake_bot_api_cpu_util"),
]


def table(rows: list[dict[str, Any]], floors: dict[str, dict[str, Any]]) -> str:
    lines = []
    header = [name for name, _ in COLUMNS]
    body: list[list[str]] = []
    for row in rows:
        label = f"{row['bot']} {row['scenario']}"
        if row["bot"].startswith("minibot"):
            label += f" {row['llm_latency_ms']}ms"
        body.append([label] + [_fmt(row.get(key)) for _, key in COLUMNS[1:]])
        floor = floors.get(row["scenario"])
        if row["bot"] == "minibot" and floor is not None:
            ratios = ["  / floor"]
            for _, key in COLUMNS[1:]:
                mine, base = row.get(key), floor.get(key)
                if (
                    (
                        key
                        in {
                            "replies_per_s",
                            "p50_ms",
                            "p95_ms",
                            "p99_ms",
                            "max_ms",
                            "cpu_ms_per_msg",
                            "minstr_per_msg",
                        }
                        or key in {"rss_idle_mb", "rss_peak_mb", "startup_s"}
                    )
                    and isinstance(mine, float)
                    and isinstance(base, float)
                    and base
                ):
                    ratios.append(f"x{mine / base:.2f}")
                else:
                    ratios.append("")
            body.append(ratios)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines.append(
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=False))
        )
    )
    for r in body:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=False))
            )
        )
    return "\n".join(lines)


Check = tuple[str, bool, str]


def targets(
    rows: list[dict[str, Any]], floors: dict[str, dict[str, Any]], restart: dict[str, Any] | None
) -> list[Check]:
    mine = [r for r in rows if r["bot"] == "minibot"]
    bad = [f"{r['scenario']}/{r['llm_latency_ms']}ms" for r in mine if r["lost"] or r["duplicated"]]
    checks: list[Check] = [("0 lost / 0 duplicated", not bad, ", ".join(bad) or "all runs")]
    checks += _speed_checks(mine, floors)
    checks += _footprint_checks(mine, floors)
    if restart is not None:
        checks.append(_restart_check(restart))
    return checks


def _row(mine: list[dict[str, Any]], scenario: str, latency: int) -> dict[str, Any] | None:
    return next(
        (r for r in mine if r["scenario"] == scenario and r["llm_latency_ms"] == latency), None
    )


def _speed_checks(mine: list[dict[str, Any]], floors: dict[str, dict[str, Any]]) -> list[Check]:
    checks: list[Check] = []
    for name in ("b", "c", "d"):
        row, floor = _row(mine, name, 0), floors.get(name)
        if row and floor:
            ratio = row["replies_per_s"] / floor["replies_per_s"]
            checks.append(
                (f"({name}) 0 ms >= 40% of floor throughput", ratio >= 0.4, f"{ratio:.0%}")
            )
    row = _row(mine, "b", 200)
    if row:
        checks.append(
            (
                "(b) 200 ms >= 200 replies/s",
                row["replies_per_s"] >= 200,
                f"{row['replies_per_s']:.0f}/s",
            )
        )
    row, floor = _row(mine, "a", 0), floors.get("a")
    if row and floor:
        ratio = row["p50_ms"] / floor["p50_ms"]
        checks.append(("(a) 0 ms p50 <= 3x floor", ratio <= 3, f"x{ratio:.2f}"))
    row = _row(mine, "b", 0)
    if row:
        checks.append(
            (
                "(b) 0 ms CPU <= 4 ms/msg",
                row["cpu_ms_per_msg"] <= 4,
                f"{row['cpu_ms_per_msg']:.2f} ms",
            )
        )
    return checks


def _footprint_checks(mine: list[dict[str, Any]], floors: dict[str, dict[str, Any]]) -> list[Check]:
    checks: list[Check] = []
    idle = [r["rss_idle_mb"] for r in mine if r["rss_idle_mb"]]
    floor_idle = [r["rss_idle_mb"] for r in floors.values() if r["rss_idle_mb"]]
    if idle and floor_idle:
        extra = statistics.median(idle) - statistics.median(floor_idle)
        checks.append(("idle RSS <= floor + 40 MB", extra <= 40, f"+{extra:.1f} MB"))
    starts = [r["startup_s"] for r in mine]
    floor_starts = [r["startup_s"] for r in floors.values()]
    if starts and floor_starts:
        extra = statistics.median(starts) - statistics.median(floor_starts)
        checks.append(("start-up <= floor + 1 s", extra <= 1, f"+{extra:.2f} s"))
    return checks


def _rabbitmq_checks(rows: list[dict[str, Any]], failover: dict[str, Any] | None) -> list[Check]:
    checks: list[Check] = []
    rabbit = [r for r in rows if r["bot"] == "minibot-rabbitmq"]
    memory = [r for r in rows if r["bot"] == "minibot"]
    bad = [f"b/{r['llm_latency_ms']}ms" for r in rabbit if r["lost"] or r["duplicated"]]
    checks.append(("rabbitmq: 0 lost / 0 duplicated", not bad, ", ".join(bad) or "all runs"))
    row = _row(rabbit, "b", 200)
    if row:
        rate = row["replies_per_s"]
        checks.append(("rabbitmq (b) 200 ms >= 200 replies/s", rate >= 200, f"{rate:.0f}/s"))
    row, base = _row(rabbit, "b", 0), _row(memory, "b", 0)
    if row and base:
        ratio = row["replies_per_s"] / base["replies_per_s"]
        checks.append(("rabbitmq (b) 0 ms >= 50% of in-process", ratio >= 0.5, f"{ratio:.0%}"))
    if failover is not None:
        seconds = failover["failover_s"]
        checks.append(
            (
                "failover (SIGKILL of the poller to the next answer) <= 5 s",
                seconds is not None and seconds <= 5,
                "never answered" if seconds is None else f"{seconds:.2f} s",
            )
        )
    return checks


def _restart_check(restart: dict[str, Any]) -> Check:
    detail = (
        f"{restart['answered_before_restart']}/{restart['messages']} before restart, "
        f"lost {restart['lost']}, dup {restart['duplicated']}, "
        f"exit {restart['first_stop']['exit_code']} "
        f"in {restart['first_stop']['stop_s']} s"
    )
    return ("SIGTERM in burst, answered after restart", bool(restart["ok"]), detail)


async def _rabbitmq_runs(
    harness: Harness, args: argparse.Namespace, latencies: list[int], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Scenario (b) on one replica over RabbitMQ for each latency, then the failover."""
    b = next(s for s in (FULL if args.full else SHORT) if s.name == "b")
    for latency in latencies:
        row = await harness.rabbitmq_run(b, latency)
        rows.append(row)
        print(f"  minibot-rabbitmq b {latency}ms: {row['replies_per_s']:.0f}/s", file=sys.stderr)
    return await harness.failover_check()


async def main_async(args: argparse.Namespace) -> int:
    scenarios = FULL if args.full else SHORT
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]
    latencies = [int(x) for x in args.latencies.split(",")]
    profile_dir = Path(args.profile) if args.profile else None
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    restart = None
    failover: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="e2e-bench-", dir=args.workdir) as tmp:
        async with Harness(Path(tmp), stall_seconds=args.stall, profile_dir=profile_dir) as harness:
            for scenario in scenarios:
                if not args.no_floor:
                    row = await harness.run("floor", scenario, 0)
                    rows.append(row)
                    print(f"  floor {scenario.name}: {row['replies_per_s']:.0f}/s", file=sys.stderr)
                for latency in latencies:
                    row = await harness.run("minibot", scenario, latency)
                    rows.append(row)
                    print(
                        f"  minibot {scenario.name} {latency}ms: {row['replies_per_s']:.0f}/s",
                        file=sys.stderr,
                    )
            if not args.no_restart:
                burst = next(s for s in (FULL if args.full else SHORT) if s.burst)
                restart = await harness.restart_check(burst, 200)
            if args.bus == "rabbitmq":
                failover = await _rabbitmq_runs(harness, args, latencies, rows)
    floors = {r["scenario"]: r for r in rows if r["bot"] == "floor"}
    checks = targets(rows, floors, restart)
    if args.bus == "rabbitmq":
        checks += _rabbitmq_checks(rows, failover)
    load_after = os.getloadavg()
    print(table(rows, floors))
    print()
    if not args.full:
        print("  (short sizes: the targets below are indicative only; --full measures them)")
    for name, ok, detail in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {name}: {detail}")
    print(
        f"\n  load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"{psutil.cpu_count()} cores"
    )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"e2e-{'full' if args.full else 'short'}-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "date": stamp,
                "cores": psutil.cpu_count(),
                "load_before": load_before,
                "load_after": load_after,
                "runs": rows,
                "restart": restart,
                "failover": failover,
                "targets": [{"target": n, "met": ok, "detail": d} for n, ok, d in checks],
            },
            indent=2,
        )
    )
    print(f"  written {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--only", nargs="*", help="scenario names (a b c d)")
    parser.add_argument("--latencies", default="0,200", help="LLM latencies in ms, e.g. 0,200")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument(
        "--bus",
        choices=["memory", "rabbitmq"],
        default="memory",
        help="rabbitmq: also run (b) on one replica over RabbitMQ + PostgreSQL + Redis, "
        "and time a failover between two replicas",
    )
    parser.add_argument(
        "--stall", type=float, default=15.0, help="seconds without progress before a run gives up"
    )
    parser.add_argument("--workdir", help="where the scratch directory goes (default: /tmp)")
    parser.add_argument("--profile", help="directory for cProfile output of each minibot run")
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
