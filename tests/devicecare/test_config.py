"""Settings: defaults, nesting, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from devicecare.config import load_settings
from devicecare.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEVICECARE_DATABASE_URL", "DEVICECARE_MQTT_URL", "DEVICECARE_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url is None
    assert settings.mqtt_url is None
    assert settings.state_dir == Path(".devicecare")
    assert settings.stack.host == "127.0.0.1"


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICECARE_DATABASE_URL", "postgresql://u:p@db.example:5433/dc")
    monkeypatch.setenv("DEVICECARE_STACK__START_TIMEOUT_S", "12.5")
    settings = load_settings()
    assert str(settings.database_url) == "postgresql://u:p@db.example:5433/dc"
    assert settings.stack.start_timeout_s == 12.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEVICECARE_DATABASE_URL", "mysql://x@y/z"),
        ("DEVICECARE_MQTT_URL", "http://broker"),
        ("DEVICECARE_LOG_LEVEL", "LOUD"),
        ("DEVICECARE_STACK__START_TIMEOUT_S", "-1"),
        ("DEVICECARE_STACK__HOST", "192.0.2.1"),
    ],
)
def test_a_wrong_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
