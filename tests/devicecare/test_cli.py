"""The command line: help everywhere, configuration errors at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from cli.app import app


def _commands(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


def test_every_expected_command_exists() -> None:
    for expected in [("stack", "up"), ("stack", "down"), ("stack", "status"), ("db", "migrate")]:
        assert expected in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "devicecare")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_a_configuration_error_stops_the_program_naming_the_variable() -> None:
    env = os.environ | {"DEVICECARE_LOG_LEVEL": "LOUD"}
    result = subprocess.run(
        [sys.executable, "-m", "cli", "stack", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "DEVICECARE_LOG_LEVEL" in result.stderr


def test_contracts_schema_prints_json_schema() -> None:
    result = CliRunner().invoke(app, ["contracts", "schema", "telemetry"])
    assert result.exit_code == 0, result.output
    assert '"TelemetryBatch"' in result.output
