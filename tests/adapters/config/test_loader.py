"""Config: file, environment overrides, ${VAR} interpolation, and readable errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from minibot.adapters.config.loader import find_config_path, load_settings
from minibot.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_values_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\nmodel = "m-1"\nhistory_window = 7\n[bus]\nqueue_size = 5\n')
    settings = load_settings(path, {})
    assert (settings.llm.model, settings.llm.history_window, settings.bus.queue_size) == (
        "m-1",
        7,
        5,
    )


def test_a_missing_file_means_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {})
    assert settings.channels.telegram.enabled is False


def test_environment_overrides_the_file_with_nested_keys(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\nmodel = "from-file"\n')
    env = {
        "MINIBOT_LLM__MODEL": "from-env",
        "MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS": "[11, 12]",
        "MINIBOT_CHANNELS__TELEGRAM__BOT_TOKEN": "123:abc",
        "MINIBOT_REQUIRE_SERVICES": "1",
    }
    settings = load_settings(path, env)
    assert settings.llm.model == "from-env"
    assert settings.channels.telegram.allowed_user_ids == [11, 12]
    assert settings.channels.telegram.bot_token.get_secret_value() == "123:abc"


def test_variables_are_interpolated_in_strings(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\napi_key = "${KEY}"\nbase_url = "http://${HOST}:1/v1"\n')
    settings = load_settings(path, {"KEY": "sk-secret", "HOST": "127.0.0.1"})
    assert settings.llm.api_key.get_secret_value() == "sk-secret"
    assert settings.llm.base_url == "http://127.0.0.1:1/v1"


def test_an_unset_variable_is_an_error_naming_it_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\napi_key = "${NOT_SET_ANYWHERE}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.key == "llm.api_key"
    assert "NOT_SET_ANYWHERE" in str(caught.value)


def test_a_wrong_type_names_the_key_the_type_and_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, '[channels.telegram]\nallowed_user_ids = [1, "abc"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert caught.value.key == "channels.telegram.allowed_user_ids.1"
    assert "integer" in message and "str" in message and "'abc'" in message


def test_an_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\nmodle = "typo"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.key == "llm.modle" and "unknown key" in str(caught.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm\nmodel = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert str(path) in str(caught.value) and "TOML" in str(caught.value)


def test_webhook_without_secret_names_the_key_and_never_prints_the_token(tmp_path: Path) -> None:
    token = "123456:SECRETSECRETSECRETSECRETSECRETSECRET"
    path = write(
        tmp_path,
        f'[channels.telegram]\nenabled = true\nbot_token = "{token}"\nmode = "webhook"\n'
        'url = "https://example.invalid/hook"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.key == "channels.telegram.secret_token"
    assert token not in str(caught.value)


def test_an_invalid_secret_value_is_masked_in_the_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm]\napi_key = 12345678\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "12345678" not in str(caught.value) and caught.value.key == "llm.api_key"


def test_config_path_precedence() -> None:
    assert find_config_path("given.toml", {"MINIBOT_CONFIG": "env.toml"}) == Path("given.toml")
    assert find_config_path(None, {"MINIBOT_CONFIG": "env.toml"}) == Path("env.toml")
    assert find_config_path(None, {}) == Path("config.toml")


def test_a_section_variable_and_a_key_variable_merge_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[llm]\napi_key = "sk-from-file"\nmodel = "from-file"\n')
    env = {
        "MINIBOT_LLM": '{"model": "from-section", "max_attempts": 2}',
        "minibot_llm__model": "from-key",  # names are not case-sensitive
        "MINIBOT_LLM__PRICES__M": '{"prompt_per_million": 1.5}',
    }
    settings = load_settings(path, env)
    assert settings.llm.model == "from-key", "the narrower variable wins"
    assert settings.llm.max_attempts == 2
    assert settings.llm.api_key.get_secret_value() == "sk-from-file"
    assert settings.llm.prices["m"].prompt_per_million == 1.5


def test_variables_naming_no_section_are_not_overrides(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", {"MINIBOT_CONFIG": "x.toml"})
    assert settings.llm.model == "gpt-4o-mini"


def test_broken_json_in_a_list_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    env = {"MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS": "[1, 2"}
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml", env)
    assert caught.value.key == "channels.telegram.allowed_user_ids"
    assert "MINIBOT_CHANNELS__TELEGRAM__ALLOWED_USER_IDS is not valid JSON" in str(caught.value)


def test_a_secret_shaped_value_in_the_wrong_field_is_not_shown(tmp_path: Path) -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwx"
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml", {"MINIBOT_LLM__MAX_ATTEMPTS": key})
    assert caught.value.key == "llm.max_attempts"
    assert "abcdefghij" not in str(caught.value) and "MINIBOT_LLM__MAX_ATTEMPTS" in str(
        caught.value
    )


def test_a_fallback_must_name_a_configured_model(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[llm]\nfallbacks = ["cheap", "nope"]\n[llm.models.cheap]\nmodel = "small"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "fallbacks" in str(caught.value) and "nope" in str(caught.value)
