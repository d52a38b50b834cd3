"""The committed dashboard JSON is what the code generates, and its structure holds."""

from __future__ import annotations

import sys
from pathlib import Path

import grafana_client
import urllib3
import yaml

from dashboards import catalog, checks
from dashboards.builder import DATASOURCE_UID

PROVISIONING = catalog.PROVISIONING_DIR


def test_committed_json_matches_the_code() -> None:
    assert catalog.stale() == [], "run `devicecare dashboards build` and commit dashboards/json"


def test_at_least_four_dashboards_with_unique_uids() -> None:
    dashboards = catalog.load()
    assert len(dashboards) >= 4
    assert checks.structure(dashboards) == []


def test_structure_names_a_bad_panel() -> None:
    dashboard = catalog.all_dashboards()[0].to_json()
    dashboard["panels"][1]["gridPos"]["x"] = 20
    dashboard["panels"][2]["id"] = dashboard["panels"][1]["id"]
    dashboard["panels"][3]["targets"][0]["datasource"] = {"uid": "other"}
    found = [str(p) for p in checks.structure({"a.json": dashboard, "b.json": dashboard})]
    assert any("outside 24 columns" in p for p in found)
    assert any("duplicate panel id" in p for p in found)
    assert any("is not devicecare-timescaledb" in p for p in found)
    assert any("also used by a.json" in p for p in found)


def test_invalid_json_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    try:
        catalog.load(tmp_path)
    except catalog.DashboardError as exc:
        assert "broken.json" in str(exc)
    else:
        raise AssertionError("invalid JSON was accepted")


def test_provisioned_data_source_is_the_one_panels_use() -> None:
    source = yaml.safe_load((PROVISIONING / "datasources" / "devicecare.yml").read_text())
    (entry,) = source["datasources"]
    assert entry["uid"] == DATASOURCE_UID
    assert entry["jsonData"]["timescaledb"] is True
    assert entry["secureJsonData"]["password"].startswith("${")
    for dashboard in catalog.load().values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == DATASOURCE_UID


def test_real_urllib3_beside_grafana_client() -> None:
    """urllib3-future (pulled in by grafana-client) must not shadow urllib3 (see
    scripts/setup: it is installed with URLLIB3_NO_OVERRIDE=1)."""
    assert urllib3.__version__.startswith("2.")
    assert "urllib3_future" not in urllib3.__file__
    assert hasattr(urllib3, "PoolManager")
    assert "urllib3_future" not in sys.modules["urllib3"].__file__
    assert grafana_client.GrafanaApi
