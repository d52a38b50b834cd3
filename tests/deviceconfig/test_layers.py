"""Config layers: merge order, applicability, revisions and validation (pure, no services)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from devicecare.contracts import CollectorName
from deviceconfig.layers import ConfigError, Layer, Scope, effective, merge, validate


def _layers() -> list[Layer]:
    return [
        Layer(
            1,
            Scope.FLEET,
            {"upload_interval_s": 900, "collectors": {"battery": {"interval_s": 60}}},
        ),
        Layer(2, Scope.COHORT, {"collectors": {"battery": {"interval_s": 30}}}, model="Pixel 7"),
        Layer(3, Scope.COHORT, {"upload_interval_s": 600}, model="Pixel 7", os_version="15"),
        Layer(4, Scope.DEVICE, {"collectors": {"crash": {"enabled": False}}}, device_id="a"),
        Layer(5, Scope.FLEET, {"upload_interval_s": 1200}),
    ]


def test_the_specific_layer_wins_and_unset_fields_come_from_broader_ones() -> None:
    config = effective(_layers(), "a", "Pixel 7", "15")
    assert config is not None
    assert config.revision == 5
    assert config.upload_interval_s == 600, "the cohort's OS-version layer beats a later fleet one"
    assert config.collectors[CollectorName.BATTERY].interval_s == 30
    assert config.collectors[CollectorName.CRASH].enabled is False


def test_layers_apply_only_to_their_scope() -> None:
    other = effective(_layers(), "b", "Galaxy S23", "14")
    assert other is not None
    assert (other.revision, other.upload_interval_s) == (5, 1200)
    assert CollectorName.CRASH not in other.collectors
    older_os = effective(_layers(), "c", "Pixel 7", "14")
    assert older_os is not None and older_os.upload_interval_s == 1200
    assert older_os.collectors[CollectorName.BATTERY].interval_s == 30


def test_no_layer_means_no_config() -> None:
    assert effective([], "a", "Pixel 7", "15") is None


def test_later_revisions_of_the_same_scope_win() -> None:
    layers = [
        Layer(7, Scope.DEVICE, {"upload_interval_s": 60}, device_id="a"),
        Layer(3, Scope.DEVICE, {"upload_interval_s": 30}, device_id="a"),
    ]
    assert merge(layers) == {"upload_interval_s": 60}


@pytest.mark.parametrize(
    "settings",
    [
        {"upload_interval_s": 5},
        {"upload_interval_s": "often"},
        {"collectors": {"gps": {"interval_s": 10}}},
        {"collectors": {"battery": {"interval_s": 0}}},
        {"high_res": {"interval_s": 5}},
    ],
)
def test_invalid_settings_are_refused_naming_the_field(settings: dict) -> None:
    with pytest.raises(ConfigError, match=r"invalid config|unknown collectors"):
        validate(settings)


def test_an_expired_or_ended_layer_stops_applying_and_its_end_is_a_new_revision() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fast = {"high_res": {"until": 1_767_312_000_000, "interval_s": 10}}
    raised = Layer(7, Scope.DEVICE, fast, device_id="a", expires_at=start + timedelta(hours=24))
    layers = [*_layers(), raised]
    during = effective(layers, "a", "Pixel 7", "15", start)
    assert during is not None and during.high_res is not None and during.revision == 7
    expired = effective(layers, "a", "Pixel 7", "15", start + timedelta(hours=25))
    assert expired is not None and expired.high_res is None
    assert expired.collectors[CollectorName.CRASH].enabled is False, "the others still apply"
    ended = replace(raised, ended_revision=9)
    after = effective([*_layers(), ended], "a", "Pixel 7", "15", start)
    assert after is not None and after.high_res is None and after.revision == 9
    alone = effective([ended], "a", None, None, start)
    assert alone is not None and (alone.revision, alone.high_res) == (9, None), "defaults"
