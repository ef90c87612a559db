"""Control plane benchmark: scenario (b) with the control plane off, then on with 20 SSE
clients (same run); and GET /api/v1/tasks over 10,000 jobs (p50 / p99)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e_bench import FULL, SHORT, Harness, percentile
from bench.harness.results import write_result

TOKEN = "bench-token-0123456789"
SSE_CLIENTS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def sse_clients(port: int, count: int, received: list[int]) -> None:
    """`count` SSE clients held open on the daemon's control plane (reconnecting until it
    listens); each counts the events it receives. Read in chunks, as a browser does."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    marker = b"\nevent: "

    async def client(index: int) -> None:
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/v1/events") as resp:
                        tail = b""
                        async for chunk in resp.content.iter_any():
                            data = tail + chunk
                            received[index] += data.count(marker)
                            # A marker cut in two is counted in the next chunk.
                            tail = data[-(len(marker) - 1) :]
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(client(i) for i in range(count)))


async def _listen_until_stopped(port: int, count: int) -> None:
    """The `--sse-listen` child: clients until SIGTERM, then the fewest events seen."""
    received = [0] * count
    clients = asyncio.create_task(sse_clients(port, count, received))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("listening", flush=True)
    await stop.wait()
    clients.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clients
    print(min(received), flush=True)


@contextlib.asynccontextmanager
async def sse_listeners(port: int, count: int) -> AsyncIterator[list[int]]:
    """The SSE clients in a process of their own (as browsers are): the bench process
    runs the fake Bot API and LLM, whose pace the clients must not set. Yields a list
    that holds the fewest events one client saw once the block ends."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--sse-listen",
        f"{port}:{count}",
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    await child.stdout.readline()
    fewest: list[int] = []
    try:
        yield fewest
    finally:
        child.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(child.communicate(), 30)
        fewest.append(int(out.decode().split()[-1]))


async def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    scenario = next(s for s in (FULL if args.full else SHORT) if s.name == "b")
    rows: dict[str, list[float]] = {"off": [], "on": []}
    # CPU per message of the daemon: what the streams cost it, less swayed by the load
    # other processes put on the machine than replies per second.
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    events: list[int] = []
    profile_dir = Path(args.profile) if args.profile else None
    async with Harness(work, stall_seconds=15.0, profile_dir=profile_dir) as harness:
        for _ in range(args.rounds):
            harness.extra = ""
            off = await harness.run("minibot", scenario, 0)
            rows["off"].append(off["replies_per_s"])
            cpu["off"].append(off["cpu_ms_per_msg"])
            port = free_port()
            harness.extra = (
                f'[control_plane]\nenabled = true\nlisten_port = {port}\ntoken = "{TOKEN}"\n'
            )
            async with sse_listeners(port, SSE_CLIENTS) as fewest:
                on = await harness.run("minibot", scenario, 0)
            rows["on"].append(on["replies_per_s"])
            cpu["on"].append(on["cpu_ms_per_msg"])
            events.append(fewest[0])
            print(
                f"  (b) 0 ms: off {off['replies_per_s']:.0f}/s "
                f"({off['cpu_ms_per_msg']:.2f} ms CPU/msg), on + {SSE_CLIENTS} SSE "
                f"{on['replies_per_s']:.0f}/s ({on['cpu_ms_per_msg']:.2f} ms CPU/msg; "
                f"fewest events one client saw: {fewest[0]})",
                file=sys.stderr,
            )
    off_best, on_best = max(rows["off"]), max(rows["on"])
    # Each round's on / off too: a spell of load from other processes can land on either
    # run of a pair, so the spread says how far to trust the ratio of the bests.
    pairs = [on / off for off, on in zip(rows["off"], rows["on"], strict=True) if off]
    print(
        "  rounds on/off: "
        + ", ".join(f"{r:.0%}" for r in pairs)
        + f"; CPU per message off {statistics.fmean(cpu['off']):.2f} ms, "
        f"on {statistics.fmean(cpu['on']):.2f} ms (means)",
        file=sys.stderr,
    )
    return {
        "round_ratios": pairs,
        "scenario": scenario.name,
        "messages": scenario.messages,
        "off_replies_per_s": rows["off"],
        "on_replies_per_s": rows["on"],
        "off_cpu_ms_per_msg": cpu["off"],
        "on_cpu_ms_per_msg": cpu["on"],
        "sse_events_fewest": events,
        "ratio": on_best / off_best if off_best else float("nan"),
    }


async def tasks_latency(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from minibot.adapters.config.schema import Settings
    from minibot.adapters.container import Container
    from minibot.core.conversation import ConversationKey
    from minibot.core.jobs import ActionKind
    from minibot.core.schedule import OneShot

    port = free_port()
    settings = Settings.model_validate(
        {
            "llm": {"api_key": "sk-bench", "base_url": "http://127.0.0.1:9/v1"},
            "memory": {"url": f"sqlite+aiosqlite:///{work}/tasks-bench.db"},
            "scheduler": {"store": "sql", "max_jobs_per_owner": 10_000},
            "control_plane": {"enabled": True, "listen_port": port, "token": TOKEN},
            "logging": {"level": "WARNING"},
        }
    )
    container = Container(settings)
    daemon = container.build()
    run = asyncio.create_task(daemon.run())
    url = f"http://127.0.0.1:{port}/api/v1/tasks"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                        if ready.status == 200:
                            break
                await asyncio.sleep(0.05)
            # Straight through the job service the API uses: 10,000 HTTP posts would
            # measure the set-up, not the listing.
            jobs = container._jobs
            assert jobs is not None
            began = time.monotonic()
            at = jobs.now().replace(microsecond=0).replace(year=jobs.now().year + 1)
            await asyncio.gather(
                *(
                    jobs.create(
                        f"telegram:{n % 100}",
                        ConversationKey("telegram", str(n % 100)),
                        ActionKind.REMINDER,
                        f"reminder {n}",
                        OneShot(at, "UTC"),
                    )
                    for n in range(args.jobs)
                )
            )
            created_s = time.monotonic() - began
            figures: dict[str, Any] = {"jobs": args.jobs, "create_s": created_s}
            # The first listing after start waits for the index of active jobs to load
            # (once per process); measured apart from the steady state.
            start = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
            figures["first_ms"] = (time.perf_counter() - start) * 1000
            for label, query in (("default page (100)", ""), ("limit=1000", "?limit=1000")):
                times = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    async with http.get(url + query) as response:
                        body = await response.json()
                    times.append((time.perf_counter() - start) * 1000)
                assert body["total"] == args.jobs, body["total"]
                figures[label] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}
                print(
                    f"  GET /api/v1/tasks{query} over {args.jobs} jobs: "
                    f"p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms",
                    file=sys.stderr,
                )
    finally:
        daemon.request_stop()
        await run
    return figures


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        listing = await tasks_latency(args, Path(tmp)) if "listing" in args.parts else None
        stream = await throughput(args, Path(tmp)) if "stream" in args.parts else None
    checks = []
    if stream is not None:
        checks.append(
            (
                f"(b) 0 ms with the control plane on and {SSE_CLIENTS} SSE clients >= 90% of off",
                stream["ratio"] >= 0.9,
                f"{stream['ratio']:.0%}",
            )
        )
    if listing is not None:
        checks.append(
            (
                f"GET /api/v1/tasks over {listing['jobs']} jobs p99 <= 50 ms",
                listing["default page (100)"]["p99_ms"] <= 50,
                f"{listing['default page (100)']['p99_ms']:.1f} ms",
            )
        )
    if not args.full:
        print("  (short sizes: indicative only; --full measures them)")
    for name, ok, detail in checks:
        print(f"  [{'ok' if ok else 'MISS'}] {name}: {detail}")
    mode = "full" if args.full else "short"
    out = write_result("control-plane", mode, {"listing": listing, "stream": stream})
    print(f"  written {out}")
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--sse-listen":
        port, count = sys.argv[2].split(":")
        asyncio.run(_listen_until_stopped(int(port), int(count)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--rounds", type=int, default=1, help="off/on pairs of scenario (b)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument(
        "--parts", default="listing,stream", help="which to run: listing, stream or both"
    )
    parser.add_argument("--requests", type=int, default=100, help="GETs per listing measured")
    parser.add_argument("--profile", help="directory for cProfile output of each minibot run")
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    if args.full:
        args.rounds = max(args.rounds, 3)
        args.requests = max(args.requests, 500)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
