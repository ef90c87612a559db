"""Checks every deployment file offline with the pinned tools in .tools/ (scripts/install_tools.sh):
hadolint, the Compose schema, `systemd-analyze verify`, `helm lint --strict`, the rendered chart
against the Kubernetes schemas (strict), the release workflow against its schema.

Usage: python scripts/check_deploy.py   (exit 1 if any check failed; one line per check)
Each check takes its file as an argument, so tests run it on broken copies too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools" / "deploy" / "bin"
HELM = ROOT / ".tools" / "helm" / "helm"
COMPOSE_SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
CHART = ROOT / "deploy" / "helm" / "minibot"
# The unit's ExecStart, present in the scratch root that `systemd-analyze verify` checks.
UNIT_EXEC = "opt/minibot/bin/minibot"
SYSTEM_UNITS = Path("/lib/systemd/system")


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    output: str


def _run(name: str, argv: list[str], *, clean: bool = False) -> Result:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    output = (done.stdout + done.stderr).strip()
    # `clean`: the tool warns without failing (systemd-analyze), so any word is a failure.
    ok = done.returncode == 0 and not (clean and output)
    return Result(name, ok, output)


def hadolint(dockerfile: Path) -> Result:
    # No threshold below "info": every finding fails, unless the Dockerfile explains an ignore.
    argv = [str(TOOLS / "hadolint"), "--no-color", "--failure-threshold", "info", str(dockerfile)]
    return _run(f"hadolint {dockerfile.name}", argv)


def compose(path: Path) -> Result:
    digest = hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest()
    if digest != COMPOSE_SCHEMA_SHA256:
        return Result(f"compose {path.name}", False, f"{COMPOSE_SCHEMA} changed: sha256 {digest}")
    argv = [str(TOOLS / "check-jsonschema"), "--schemafile", str(COMPOSE_SCHEMA), str(path)]
    return _run(f"compose schema {path.name}", argv)


def systemd_unit(unit: Path) -> Result:
    """`systemd-analyze verify` in a scratch root holding the system's units, this unit and
    a stand-in for its ExecStart (verify checks that the command exists)."""
    with tempfile.TemporaryDirectory() as root_dir:
        root = Path(root_dir)
        shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
        (root / "etc/systemd/system").mkdir(parents=True)
        shutil.copy(unit, root / "etc/systemd/system/minibot.service")
        stand_in = root / UNIT_EXEC
        stand_in.parent.mkdir(parents=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
        argv = ["systemd-analyze", "verify", f"--root={root}", "minibot.service"]
        result = _run(f"systemd-analyze verify {unit.name}", argv, clean=True)
    return Result(result.name, result.ok, result.output.replace(str(root), ""))


def helm_lint(chart: Path, values: Path) -> Result:
    argv = [str(HELM), "lint", "--strict", str(chart), "-f", str(values)]
    result = _run(f"helm lint --strict {values.name}", argv)
    return result if not result.ok else Result(result.name, True, "")


def helm_render(chart: Path, values: Path) -> Result:
    """`helm template`, then every rendered object against the Kubernetes schemas, strict."""
    name = f"kubernetes-validate --strict {values.name}"
    rendered = subprocess.run(
        [str(HELM), "template", "minibot", str(chart), "-f", str(values)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if rendered.returncode != 0:
        return Result(name, False, rendered.stderr.strip())
    if "kind:" not in rendered.stdout:
        return Result(name, False, "the chart rendered no objects")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(rendered.stdout)
    try:
        argv = [str(TOOLS / "kubernetes-validate"), "--strict", "--quiet", handle.name]
        return _run(name, argv)
    finally:
        os.unlink(handle.name)


def workflow(path: Path) -> Result:
    argv = [str(TOOLS / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    return _run(f"workflow schema {path.name}", [*argv, str(path)])


def all_checks() -> list[Result]:
    deploy = ROOT / "deploy"
    return [
        hadolint(ROOT / "Dockerfile"),
        compose(deploy / "compose.yaml"),
        compose(deploy / "compose.replicas.yaml"),
        systemd_unit(deploy / "systemd" / "minibot.service"),
        *(helm_lint(CHART, CHART / v) for v in ("values.yaml", "values-replicas.yaml")),
        *(helm_render(CHART, CHART / v) for v in ("values.yaml", "values-replicas.yaml")),
        *(workflow(path) for path in sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))),
    ]


def main() -> int:
    failed = 0
    for result in all_checks():
        print(f"{'ok' if result.ok else 'FAIL':<4}  {result.name}", flush=True)
        if not result.ok:
            failed += 1
            print("      " + result.output.replace("\n", "\n      "), flush=True)
    print(f"deploy checks: {failed} failed" if failed else "deploy checks: all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
