"""The domain stays free of I/O and of outer layers: a scan of core's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import minibot

ROOT = Path(minibot.__file__).parent
FORBIDDEN_IN_CORE = (
    "minibot.app",
    "minibot.adapters",
    "aiogram",
    "aiohttp",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "llm_async",
    "aiosonic",
    "redis",
    "filelock",
    "socket",
    "subprocess",
)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_outward_and_no_io_library() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imports_of(path) if name.startswith(FORBIDDEN_IN_CORE)
        )
        for path in (ROOT / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_app_never_imports_adapters() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if any(name.startswith("minibot.adapters") for name in imports_of(path))
    ]
    assert offenders == []
