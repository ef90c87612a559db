"""The project's tool settings hold the line: strict typing, a complexity cap, strict markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=50, check=False)


def test_mypy_rejects_an_untyped_function_in_core_and_app(tmp_path: Path) -> None:
    for layer in ("core", "app"):
        package = tmp_path / "minibot" / layer
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "probe.py").write_text('"""Probe."""\n\n\ndef untyped(x):\n    return x\n')
    (tmp_path / "minibot" / "__init__.py").write_text("")

    result = run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(PYPROJECT),
            "--cache-dir",
            str(tmp_path / "cache"),
            "minibot/core/probe.py",
            "minibot/app/probe.py",
        ],
        tmp_path,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    for layer in ("core", "app"):
        assert f"minibot/{layer}/probe.py:4: error: Function is missing a type annotation" in (
            result.stdout
        ), result.stdout


def test_ruff_reports_a_function_over_the_complexity_cap(tmp_path: Path) -> None:
    branches = "".join(f"    if x == {n}:\n        return {n}\n" for n in range(10))
    (tmp_path / "probe.py").write_text(
        f'"""Probe."""\n\n\ndef tangled(x: int) -> int:\n{branches}    return -1\n'
    )
    ruff = Path(sys.executable).parent / "ruff"

    result = run(
        [str(ruff), "check", "--no-cache", "--config", str(PYPROJECT), "probe.py"], tmp_path
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "C901 `tangled` is too complex (11 > 10)" in result.stdout, result.stdout


def test_a_misspelt_marker_fails_collection_even_with_warnings_allowed(tmp_path: Path) -> None:
    # Warnings are errors too, but a developer may pass -W default while debugging; the
    # misspelt marker must still not let a slow test slip into the fast suite.
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\n\n@pytest.mark.slwo\ndef test_probe() -> None:\n    pass\n"
    )

    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(PYPROJECT),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-W",
            "default",
            "test_probe.py",
        ],
        tmp_path,
    )

    assert result.returncode != 0, result.stdout
    assert "'slwo' not found in `markers` configuration option" in result.stdout, result.stdout
