"""docker-compose.yml, Dockerfile and .env.example hold together, without Docker: the
file validates against the Compose specification's schema, every service command is a
real `devicecare` command, every setting a real setting, every mounted file exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from devicecare.stack.mosquitto import acl_text

from dashboards.builder import DATASOURCE_UID
from devicecare.config import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parent / "compose_spec" / "compose-spec.json"
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if s.get("image") == "devicecare:local"}
ONE_SHOT = {"migrate", "mosquitto-init"}
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
        [sys.executable, "-m", "devicecare", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{name}: devicecare {' '.join(command)}: {result.stderr}"
    check = OURS[name].get("healthcheck", {}).get("test", [])
    if check[:2] == ["CMD", "devicecare"]:
        probe = subprocess.run(
            [sys.executable, "-m", "devicecare", *check[2:-1], "--help"],
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
    env = OURS[name]["environment"]
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


def test_broker_has_the_local_stack_acl() -> None:
    assert (ROOT / "deploy" / "mosquitto" / "acl").read_text() == acl_text()


def test_dockerfile_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", text, flags=re.M))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    assert set(packages) <= copied
    assert all((ROOT / c).exists() for c in copied)
