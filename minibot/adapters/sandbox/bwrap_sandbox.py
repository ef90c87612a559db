"""The bubblewrap sandbox: namespaces, a read-only runtime, a tmpfs scratch, rlimits."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import random
import resource
import shutil
import signal
import time
from collections.abc import Callable

from minibot.core.sandbox import CodeRun, SandboxLimits

log = logging.getLogger(__name__)

# Each run gets its own unprivileged host uid (no account needed): bwrap then makes an
# unprivileged user namespace, and RLIMIT_NPROC counts only that run's processes.
_UIDS = itertools.count(random.randrange(1_000_000, 2_000_000, 1000))
_SANDBOX_UID = 65534  # "nobody" inside
_READ_CHUNK = 65536
# After the sandbox ended (every process of its uid killed), its pipes end at once.
_DRAIN_SECONDS = 2.0


class BwrapSandbox:
    """Runs Python in bubblewrap: every namespace unshared (no network: only a loopback
    of its own; its own pids, so killing bwrap ends every process it made), `/usr`
    bound read-only and nothing else of the host, a fresh tmpfs at /tmp as scratch and
    working directory, a cleared environment, an unprivileged uid inside and out.
    rlimits (set between fork and exec) cap CPU time, address space, processes, file
    size and open files; the wall time and the output size are enforced from here."""

    languages: tuple[str, ...] = ("python",)

    def __init__(
        self,
        limits: SandboxLimits,
        *,
        bwrap_path: str = "bwrap",
        python_path: str = "/usr/bin/python3",
    ) -> None:
        self._limits = limits
        self._bwrap = bwrap_path
        self._python = python_path

    async def unavailable(self) -> str | None:
        bwrap = shutil.which(self._bwrap)
        if bwrap is None:
            return f"bubblewrap ({self._bwrap}) is not installed (apt-get install bubblewrap)"
        if shutil.which(self._python) is None:
            return f"the sandbox's Python ({self._python}) does not exist"
        probe = await self.run("python", "print('ok')")
        if probe.exit_status != 0 or probe.stdout.strip() != "ok":
            detail = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"bubblewrap cannot start a sandbox here: {detail[0]}"
        return None

    def argv(self) -> list[str]:
        runtime = [
            *("--ro-bind", "/usr", "/usr"),
            *("--symlink", "usr/lib", "/lib"),
            *("--symlink", "usr/lib64", "/lib64"),
            *("--symlink", "usr/bin", "/bin"),
        ]
        return [
            self._bwrap,
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            *("--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID)),
            *runtime,
            *("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp"),
            "--clearenv",
            *("--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp"),
            *("--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1"),
            *(self._python, "-I", "-S", "-"),
        ]

    async def run(self, language: str, code: str) -> CodeRun:
        if language not in self.languages:
            return CodeRun("", f"language {language!r} is not supported", 2, None, 0.0)
        started = time.monotonic()
        uid = next(_UIDS)
        process = await asyncio.create_subprocess_exec(
            *self.argv(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_limiter(self._limits, uid),
            start_new_session=True,
        )
        output = _Output(self._limits.max_output_chars)
        limit: str | None = None
        try:
            async with asyncio.timeout(self._limits.timeout_seconds):
                limit = await self._communicate(process, code.encode(), output)
        except TimeoutError:
            limit = "wall_time"
        finally:
            if process.returncode is None:
                await _kill(process, uid)
            status = await process.wait()
            await _drain(process)
        limit = limit or _limit_from(status, output.stderr_text())
        return CodeRun(
            stdout=output.stdout_text(),
            stderr=output.stderr_text(),
            exit_status=status,
            limit=limit,
            duration_seconds=time.monotonic() - started,
        )

    async def _communicate(
        self, process: asyncio.subprocess.Process, code: bytes, output: _Output
    ) -> str | None:
        assert process.stdin and process.stdout and process.stderr
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(code)
            await process.stdin.drain()
        process.stdin.close()
        full = asyncio.Event()
        readers: list[asyncio.Task[None]] = [
            asyncio.create_task(_pump(process.stdout, output.stdout, output, full)),
            asyncio.create_task(_pump(process.stderr, output.stderr, output, full)),
        ]
        try:
            # Both streams end when the sandbox exits; a full output ends it sooner.
            while not full.is_set() and not all(task.done() for task in readers):
                await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in readers:
                task.cancel()
        return "output" if full.is_set() else None


class _Output:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.stdout = bytearray()
        self.stderr = bytearray()

    def room(self) -> int:
        return self.max_chars - len(self.stdout) - len(self.stderr)

    def stdout_text(self) -> str:
        return self.stdout.decode(errors="replace")

    def stderr_text(self) -> str:
        return self.stderr.decode(errors="replace")


async def _pump(
    stream: asyncio.StreamReader, into: bytearray, output: _Output, full: asyncio.Event
) -> None:
    while chunk := await stream.read(_READ_CHUNK):
        room = output.room()
        into.extend(chunk[: max(room, 0)])
        if len(chunk) > room:
            full.set()
            return


def _limiter(limits: SandboxLimits, uid: int) -> Callable[[], None]:
    cpu = max(1, math.ceil(limits.timeout_seconds))
    memory = limits.memory_mb * 1024 * 1024
    files = limits.max_file_mb * 1024 * 1024

    def apply() -> None:
        # Runs in the child between fork and exec: only async-signal-safe-ish calls.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.geteuid() == 0:
            _become(uid)

    return apply


async def _kill(process: asyncio.subprocess.Process, uid: int) -> None:
    """Ends the sandbox and everything in it. As root, every process of the run's own
    uid is killed (`kill -9 -1` run as that uid reaches exactly those): a program
    blocked writing to a pipe nobody reads would otherwise keep it open."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if os.geteuid() != 0:
        return
    with contextlib.suppress(OSError):
        killer = await asyncio.create_subprocess_exec(
            "kill",
            "-KILL",
            "-1",
            preexec_fn=functools.partial(_become, uid),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await killer.wait()


async def _drain(process: asyncio.subprocess.Process) -> None:
    """Reads what is left in the ended sandbox's pipes, to their end: a pipe whose output
    was cut at the cap stops being read, and one left unread stays open after the run
    (a file descriptor held until the collector finds it)."""
    for stream in (process.stdout, process.stderr):
        if stream is None:
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_SECONDS):
                while await stream.read(_READ_CHUNK):
                    pass


def _become(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _limit_from(status: int, stderr: str) -> str | None:
    if status in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        return "cpu_time"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    if "Resource temporarily unavailable" in stderr and ("fork" in stderr or "Errno 11" in stderr):
        return "processes"
    if status in (128 + signal.SIGXFSZ, -signal.SIGXFSZ) or "File too large" in stderr:
        return "file_size"
    return None
