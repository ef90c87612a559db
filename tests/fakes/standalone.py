"""Running a loopback fake as its own process: print its port, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from typing import Protocol


class Fake(Protocol):
    port: int

    async def start(self) -> object: ...

    async def stop(self) -> None: ...


async def serve_until_signalled(fake: Fake) -> None:
    """Start `fake`, print its port on one line (the parent reads it), stop on a signal."""
    await fake.start()
    print(fake.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()
