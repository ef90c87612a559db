"""[metrics], [tracing], [alerts]: off by default, bad values refused naming the key,
the alert webhook's URL kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.adapters.config.loader import load_settings
from minibot.core.errors import ConfigError


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, {})


def refused(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value


def test_everything_is_off_by_default(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {})
    assert not settings.metrics.enabled
    assert not settings.tracing.enabled and settings.tracing.service_name == "minibot"
    assert not settings.alerts.enabled
    assert settings.alerts.model_failures == 3 and settings.alerts.window_seconds == 300


def test_bad_values_are_refused_by_key(tmp_path: Path) -> None:
    assert refused(tmp_path, "[tracing]\nsample_ratio = 1.5\n").key == "tracing.sample_ratio"
    error = refused(tmp_path, '[tracing]\notlp_endpoint = "collector:4317"\n')
    assert error.key == "tracing.otlp_endpoint" and "http" in str(error)
    assert refused(tmp_path, "[metrics]\nlisten_port = 70000\n").key == "metrics.listen_port"
    assert refused(tmp_path, "[alerts]\nmodel_failures = 0\n").key == "alerts.model_failures"
    assert refused(tmp_path, "[metrics]\nenable = true\n").key == "metrics.enable"


def test_alerts_need_somewhere_to_go(tmp_path: Path) -> None:
    error = refused(tmp_path, "[alerts]\nenabled = true\n")
    assert "telegram_chat_id or webhook_url" in str(error)
    error = refused(tmp_path, "[alerts]\nenabled = true\ntelegram_chat_id = 5\n")
    assert "alerts.telegram_chat_id" in str(error) and "channels.telegram" in str(error)


def test_the_webhook_url_is_a_secret(tmp_path: Path) -> None:
    url = "https://hooks.example.com/services/T0/B0/s3cr3t"
    settings = load(tmp_path, f'[alerts]\nenabled = true\nwebhook_url = "{url}"\n')
    assert "s3cr3t" not in repr(settings)
    error = refused(tmp_path, '[alerts]\nwebhook_url = "ftp://s3cr3t@host"\n')
    assert "s3cr3t" not in str(error)
