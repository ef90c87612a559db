"""The image's files without a Docker daemon: every COPY source is let through
.dockerignore, and the HEALTHCHECK script answers for /healthz or for check-config."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import sys
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/container/healthcheck.sh"


def _ignored(path: str, patterns: list[str]) -> bool:
    # .dockerignore semantics for the patterns used there: the last match wins, `!` re-includes.
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_every_copied_file_reaches_the_build_context() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources: list[str] = []
    for match in re.finditer(r"^COPY (?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.M):
        sources += match.group(1).split()[:-1]
    assert "minibot" in sources and "poetry.lock" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    assert _ignored("tests/fakes/openai_server.py", patterns)  # the context stays small
    assert _ignored(".venv/bin/python", patterns)


async def _health(env: dict[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        "sh",
        str(SCRIPT),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 60)


async def test_the_healthcheck_asks_healthz_when_the_control_plane_is_on() -> None:
    status = {"code": 200}

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=status["code"], text="ok")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    env = {
        "MINIBOT_CONTROL_PLANE__ENABLED": "true",
        "MINIBOT_CONTROL_PLANE__LISTEN_PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    try:
        assert await _health(env) == 0
        status["code"] = 503
        assert await _health(env) != 0
    finally:
        await runner.cleanup()


async def test_the_healthcheck_runs_check_config_otherwise(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    minibot = bin_dir / "minibot"
    minibot.write_text(f'#!/bin/sh\nexec {sys.executable} -m minibot.adapters.cli "$@"\n')
    minibot.chmod(0o755)
    config = tmp_path / "config.toml"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MINIBOT_CONFIG": str(config),
        "PYTHONPATH": str(ROOT),
    }
    config.write_text('[llm]\napi_key = "sk-test"\n')
    assert await _health(env) == 0
    config.write_text("[llm]\nunknown_key = 1\n")
    assert await _health(env) != 0
