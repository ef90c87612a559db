"""[tools] and [workflows]: bad values are refused with the key that holds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.adapters.config.loader import load_settings
from minibot.adapters.container import configured_workflows, tool_permissions
from minibot.core.errors import ConfigError
from minibot.core.tool_permissions import PermissionLevel
from minibot.core.workflows import StepKind


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, {})


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    return str(error.value)


def test_permissions_and_per_owner_overrides_are_read(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[tools.permissions]\nrun_code = "confirm"\n'
        '[tools.permissions.owners."telegram:1"]\nsave_note = "deny"\n',
    )
    permissions = tool_permissions(settings.tools)
    allow = PermissionLevel.ALLOW
    assert permissions.level("telegram:1", "run_code", allow) is PermissionLevel.CONFIRM
    assert permissions.level("telegram:1", "save_note", allow) is PermissionLevel.DENY
    assert permissions.level("telegram:2", "save_note", allow) is PermissionLevel.ALLOW


def test_an_unknown_permission_level_names_the_tool(tmp_path: Path) -> None:
    message = refused(tmp_path, '[tools.permissions]\nrun_code = "sometimes"\n')
    assert "tools.permissions" in message and "run_code" in message


def test_a_bad_allowed_hosts_entry_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, '[tools.web]\nallowed_hosts = ["nas:http"]\n')
    assert "tools.web.allowed_hosts" in message


def test_brave_needs_its_key(tmp_path: Path) -> None:
    message = refused(tmp_path, '[tools.search]\nenabled = true\nprovider = "brave"\n')
    assert "api_key" in message


def test_a_workflow_is_read_with_default_step_names(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[[workflows.w.steps]]\nkind = "search"\nquery = "x"\n'
        '[[workflows.w.steps]]\nkind = "send"\ntext = "{step1}"\n',
    )
    [step1, step2] = configured_workflows(settings)["w"].steps
    assert (step1.kind, step1.name, dict(step1.fields)) == (
        StepKind.SEARCH,
        "step1",
        {"query": "x"},
    )
    assert step2.name == "step2"


def test_a_step_without_its_field_names_it(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[workflows.w.steps]]\nkind = "fetch"\n')
    assert "workflows.w" in message and "steps[0].url: is required" in message


def test_a_step_referring_to_a_later_step_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        '[[workflows.w.steps]]\nkind = "send"\ntext = "{later.text}"\n'
        '[[workflows.w.steps]]\nkind = "fetch"\nname = "later"\nurl = "https://e.com"\n',
    )
    assert "steps[0].text" in message and "{later} names no earlier step" in message
