"""`make release`: the sdist and wheel are built and pass twine's check, and the wheel,
installed with the locked dependencies into a fresh venv, runs `minibot --version` and
`minibot check-config`."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.deploy.test_deploy_checks import _tools  # noqa: F401  (skips without the tools)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_make_release_builds_a_wheel_that_runs_from_a_fresh_venv() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run(
        ["make", "release"], cwd=ROOT, capture_output=True, text=True, timeout=880, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"release: minibot {version}" in done.stdout
    assert "PASSED" in done.stdout  # twine check, once per file
    wheel = ROOT / "dist" / f"minibot-{version}-py3-none-any.whl"
    assert (ROOT / "dist" / f"minibot-{version}.tar.gz").exists()
    names = zipfile.ZipFile(wheel).namelist()
    # The migrations travel with the package: a wheel without them cannot create a schema.
    assert any(name.startswith("minibot/adapters/sql/migrations/versions/") for name in names)
    assert f"minibot-{version}.dist-info/entry_points.txt" in names
