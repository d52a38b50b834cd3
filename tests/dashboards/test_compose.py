"""docker-compose.yml, Dockerfile and .env.example hold together, without Docker: the
file validates against the Compose specification's schema, every service command is a
real `devicecare` command, every setting a real setting, every mounted file exists."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dashboards.builder import DATASOURCE_UID
from devicecare.config import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings, load_settings
from devicecare.contracts.accounts import ServiceAccount
from devicecare.mqttclient import MqttEndpoint, probe
from devstack import processes
from devstack.mosquitto import LocalMosquitto, find_binary, find_plugin, password_variable

pytestmark = pytest.mark.integration  # a `devicecare` subprocess per service, and a real Mosquitto

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if s.get("image") == "devicecare:local"}
ONE_SHOT = {"migrate", "broker-files", "mosquitto-init"}
_VAR = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")


def test_validates_against_the_compose_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def test_the_devicecare_services_are_all_there() -> None:
    assert set(OURS) >= {"migrate", "ingest", "detect", "notify", "api", "rollups"}
    images = {s["image"] for s in SERVICES.values()}
    assert any(i.startswith("timescale/timescaledb:") for i in images)
    assert any(i.startswith("eclipse-mosquitto:2") for i in images)
    assert any(i.startswith("grafana/grafana") for i in images)
    assert all(":" in i and not i.endswith(":latest") for i in images), "pin every tag"


@pytest.mark.parametrize("name", sorted(OURS))
def test_service_command_is_a_real_devicecare_command(name: str) -> None:
    command = OURS[name]["command"]
    result = subprocess.run(
        [sys.executable, "-m", "cli", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{name}: devicecare {' '.join(command)}: {result.stderr}"
    check = OURS[name].get("healthcheck", {}).get("test", [])
    if check[:2] == ["CMD", "devicecare"]:
        probe = subprocess.run(
            [sys.executable, "-m", "cli", *check[2:-1], "--help"],
            capture_output=True,
            check=False,
        )
        assert probe.returncode == 0, f"{name}: healthcheck {check}"


def _setting_names() -> set[str]:
    names = set()
    for field, info in Settings.model_fields.items():
        names.add(ENV_PREFIX + field.upper())
        model = info.annotation
        for sub in getattr(model, "model_fields", {}):
            names.add(ENV_PREFIX + field.upper() + ENV_NESTED_DELIMITER + sub.upper())
    return names


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_environment_variable_is_a_real_setting(name: str) -> None:
    env = dict(OURS[name]["environment"])
    if OURS[name]["command"][:2] == ["stack", "broker-files"]:
        passwords = {password_variable(a) for a in ServiceAccount}
        assert passwords <= set(env), "broker-files needs every service account's password"
        env = {k: v for k, v in env.items() if k not in passwords}
    unknown = sorted(set(env) - _setting_names())
    assert not unknown, f"{name}: not settings: {unknown}"
    filled = {k: _VAR.sub("example", str(v)) for k, v in env.items()}
    overrides = {k.removeprefix(ENV_PREFIX).lower(): v for k, v in filled.items() if "__" not in k}
    load_settings(**overrides)


def test_long_running_services_have_healthchecks_and_wait_for_health() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service.get("restart", "no") == "no"
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert rule["condition"] == wanted, f"{name} -> {dependency}"


def test_ports_only_where_people_need_them() -> None:
    exposed = {name for name, s in SERVICES.items() if s.get("ports")}
    assert exposed == {"mosquitto", "grafana", "api"}


def test_every_mounted_file_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"


def test_secrets_come_from_the_env_file() -> None:
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    used = set(_VAR.findall((ROOT / "docker-compose.yml").read_text()))
    assert used <= set(example), f"not in .env.example: {used - set(example)}"
    assert "PASSWORD" not in (ROOT / "Dockerfile").read_text()


def test_grafana_gets_the_data_source_the_dashboards_use() -> None:
    grafana = SERVICES["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith(".")}
    sources = ROOT / mounts["/etc/grafana/provisioning/datasources"]
    (entry,) = yaml.safe_load((sources / "devicecare.yml").read_text())["datasources"]
    assert entry["uid"] == DATASOURCE_UID
    provider = ROOT / mounts["/etc/grafana/provisioning/dashboards"] / "devicecare.yml"
    path = yaml.safe_load(provider.read_text())["providers"][0]["options"]["path"]
    assert ROOT / mounts[path] == ROOT / "dashboards" / "json"
    for key in re.findall(r"\$\{(\w+)\}", (sources / "devicecare.yml").read_text()):
        assert key in grafana["environment"], f"grafana lacks {key}"


def test_the_deployed_broker_files_run_a_real_mosquitto() -> None:
    """What `broker-files` writes (with this machine's plugin path and a free port) starts a
    real Mosquitto that admits each service account with its password and nobody else."""
    tmp_path = Path(tempfile.mkdtemp(prefix="devicecare-compose-"))
    tmp_path.chmod(0o755)  # the broker runs as its own account when we are root
    passwords = {password_variable(a): secrets.token_urlsafe(12) for a in ServiceAccount}
    port = _free_port()
    (tmp_path / "data").mkdir()
    written = subprocess.run(
        [
            *[sys.executable, "-m", "cli", "stack", "broker-files", "--out", str(tmp_path)],
            *["--listener", f"{port} 127.0.0.1", "--plugin", str(find_plugin())],
            *["--data", str(tmp_path / "data")],
        ],
        capture_output=True,
        text=True,
        env=os.environ | passwords,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "autosave_on_changes true" in conf and "allow_anonymous false" in conf
    user = processes.service_user("mosquitto")
    processes.give_to(user, tmp_path, tmp_path / "data", tmp_path / "dynamic-security.json")
    broker = LocalMosquitto(tmp_path, find_binary(None), "127.0.0.1")
    pid = processes.spawn([str(broker.binary), "-c", str(tmp_path / "mosquitto.conf")], broker.log)
    try:
        deadline = time.monotonic() + 15
        while not processes.port_open("127.0.0.1", port):
            assert time.monotonic() < deadline, broker.log.read_text()
            time.sleep(0.05)
        for account in ServiceAccount:
            endpoint = MqttEndpoint(
                "127.0.0.1", port, account.value, passwords[password_variable(account)]
            )
            assert probe(endpoint, account.client_id("compose-test")) == "Success", account
        stranger = MqttEndpoint("127.0.0.1", port, "dev-1", "guess")
        assert probe(stranger, "dev-1") != "Success"
    finally:
        processes.stop(pid.pid, "mosquitto", signal.SIGTERM, timeout_s=10)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_broker_files_need_every_service_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MQTT_")}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "stack", "broker-files", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env | {"COLUMNS": "200"},
        check=False,
    )
    assert done.returncode != 0 and "MQTT_ADMIN_PASSWORD" in done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dockerfile_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", text, flags=re.M))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    assert set(packages) <= copied
    assert all((ROOT / c).exists() for c in copied)
