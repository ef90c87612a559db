"""Each offline check of the deployment files passes the real file and objects to a broken
copy of it, so a validator that passes everything is caught. The tools come from
scripts/install_tools.sh (.ci/run installs them; without them these tests skip, or fail
under MINIBOT_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_deploy", ROOT / "scripts/check_deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_deploy"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checks = _load()


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [
        path
        for path in (checks.TOOLS / "hadolint", checks.TOOLS / "kubernetes-validate", checks.HELM)
        if not path.exists()
    ]
    if shutil.which("systemd-analyze") is None:
        missing.append(Path("systemd-analyze"))
    if missing:
        message = (
            f"deploy tools missing ({', '.join(map(str, missing))}): bash scripts/install_tools.sh"
        )
        if os.environ.get("MINIBOT_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _broken(tmp_path: Path, original: Path, old: str, new: str, *, count: int = 1) -> Path:
    text = original.read_text()
    assert old in text, f"{old!r} is not in {original}: the test must break a real line"
    copy = tmp_path / original.name
    copy.write_text(text.replace(old, new, count))
    return copy


def _passes_and_breaks(check: Callable[[Path], object], good: Path, bad: Path) -> None:
    ok = check(good)
    assert ok.ok, ok.output  # type: ignore[attr-defined]
    broken = check(bad)
    assert not broken.ok, f"{broken.name} accepted a broken copy"  # type: ignore[attr-defined]


pytestmark = pytest.mark.timeout(300)


def test_hadolint_objects_to_a_broken_dockerfile(tmp_path: Path) -> None:
    dockerfile = ROOT / "Dockerfile"
    # An unpinned apt install in the final stage: DL3008/DL3009/DL3015.
    bad = _broken(
        tmp_path,
        dockerfile,
        "COPY --from=build",
        "RUN apt-get update && apt-get install -y curl\nCOPY --from=build",
    )
    _passes_and_breaks(checks.hadolint, dockerfile, bad)
    assert "DL3008" in checks.hadolint(bad).output


@pytest.mark.parametrize("name", ["compose.yaml", "compose.replicas.yaml"])
def test_the_compose_schema_objects_to_a_broken_file(tmp_path: Path, name: str) -> None:
    original = ROOT / "deploy" / name
    bad = _broken(tmp_path, original, "restart: unless-stopped", "restart_policy: unless-stopped")
    _passes_and_breaks(checks.compose, original, bad)


def test_the_replicas_wait_for_the_migration_and_healthy_services() -> None:
    text = (ROOT / "deploy/compose.replicas.yaml").read_text()
    assert "condition: service_completed_successfully" in text
    assert 'command: ["db", "upgrade"]' in text and "replicas: 3" in text
    assert text.count("condition: service_healthy") >= 4


def test_systemd_analyze_objects_to_a_broken_unit(tmp_path: Path) -> None:
    unit = ROOT / "deploy/systemd/minibot.service"
    bad = _broken(tmp_path, unit, "ProtectSystem=strict", "ProtectSystem=everything")
    _passes_and_breaks(checks.systemd_unit, unit, bad)
    unknown = _broken(tmp_path, unit, "TimeoutStopSec=45s", "TimeoutStopSecs=45s")
    assert not checks.systemd_unit(unknown).ok


def test_the_unit_outlasts_the_shutdown_budget() -> None:
    from minibot.adapters.config.schema import DaemonSettings

    text = (ROOT / "deploy/systemd/minibot.service").read_text()
    stop = re.search(r"^TimeoutStopSec=(\d+)s$", text, re.MULTILINE)
    assert stop is not None
    assert int(stop.group(1)) > DaemonSettings().shutdown_timeout_seconds
    for option in (
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=minibot",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=",
        "Restart=on-failure",
    ):
        assert option in text


@pytest.mark.parametrize("values", ["values.yaml", "values-replicas.yaml"])
def test_helm_lint_objects_to_a_broken_chart(tmp_path: Path, values: str) -> None:
    chart = tmp_path / "minibot"
    shutil.copytree(checks.CHART, chart)
    assert checks.helm_lint(checks.CHART, checks.CHART / values).ok
    chart_yaml = chart / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: one"))
    assert not checks.helm_lint(chart, chart / values).ok


@pytest.mark.parametrize("values", ["values.yaml", "values-replicas.yaml"])
def test_the_rendered_chart_is_strictly_valid_and_a_broken_one_is_not(
    tmp_path: Path, values: str
) -> None:
    assert checks.helm_render(checks.CHART, checks.CHART / values).ok
    chart = tmp_path / "minibot"
    shutil.copytree(checks.CHART, chart)
    deployment = chart / "templates/deployment.yaml"
    # A misspelt field: only strict validation (no unknown properties) catches it.
    deployment.write_text(
        deployment.read_text().replace("terminationGracePeriodSeconds:", "terminationGracePeriod:")
    )
    broken = checks.helm_render(chart, chart / values)
    assert not broken.ok and "terminationGracePeriod" in broken.output


def test_the_replicated_chart_has_its_hook_budget_and_probes() -> None:
    import subprocess

    rendered = subprocess.run(
        [
            str(checks.HELM),
            "template",
            "minibot",
            str(checks.CHART),
            "-f",
            str(checks.CHART / "values-replicas.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "kind: PodDisruptionBudget" in rendered and "kind: Secret" in rendered
    assert (
        "helm.sh/hook: pre-install,pre-upgrade" in rendered
        and 'args: ["db", "upgrade"]' in rendered
    )
    assert "path: /healthz" in rendered and "path: /readyz" in rendered
    assert "readOnlyRootFilesystem: true" in rendered and "runAsNonRoot: true" in rendered
    assert "replicas: 3" in rendered and "requests:" in rendered


def test_the_workflow_schema_objects_to_a_broken_workflow(tmp_path: Path) -> None:
    workflow = ROOT / ".github/workflows/release.yml"
    bad = _broken(tmp_path, workflow, "runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04")
    _passes_and_breaks(checks.workflow, workflow, bad)
