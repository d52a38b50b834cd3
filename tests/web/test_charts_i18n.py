"""The inline SVG charts and the translation table, without a browser or a database."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from api.web import charts, health
from api.web.i18n import LOCALES, TABLE, pick, translator
from care.triage import Complaint, Verdict
from devicecare.contracts.vocabulary import Answer, FaultKind, OfferStatus, TouchPoint

TEMPLATES = Path(health.__file__).parent / "templates"
SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(  # noqa: S314 - our own markup
        str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


def test_gauge_draws_the_value_the_median_and_the_normal_band() -> None:
    svg = _parse(
        charts.gauge(75, low=50, high=100, label="Battery 75%", median=90, normal=(80, 100))
    )
    assert svg.get("role") == "img" and svg.get("aria-label") == "Battery 75%"
    assert svg.find(f"{SVG}title").text == "Battery 75%"
    rects = {r.get("class"): r for r in svg.iter(f"{SVG}rect")}
    assert float(rects["good"].get("width")) == 120.0  # (75 - 50) / 50 of 240
    assert float(rects["normal"].get("x")) == 144.0 and float(rects["normal"].get("width")) == 96.0
    assert float(svg.find(f"{SVG}line").get("x1")) == 192.0


def test_gauge_clamps_marks_alarms_and_escapes_its_label() -> None:
    svg = _parse(charts.gauge(130, low=0, high=100, label="<b>&", alarming=True))
    bar = next(r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bad")
    assert float(bar.get("width")) == 240.0
    assert svg.get("aria-label") == "<b>&"
    empty = _parse(charts.gauge(None, low=0, high=10, label="none"))
    assert [r.get("class") for r in empty.iter(f"{SVG}rect")] == ["scale"]


def test_series_breaks_the_line_at_missing_days() -> None:
    svg = _parse(charts.series([1, 2, None, 4, None, None, 3], label="x"))
    lines = list(svg.iter(f"{SVG}polyline"))
    dots = list(svg.iter(f"{SVG}circle"))
    assert [len(p.get("points").split()) for p in lines] == [2]
    assert len(dots) == 2  # the lone days 4 and 3
    flat = _parse(charts.series([5, 5, 5], label="flat"))
    assert len(next(flat.iter(f"{SVG}polyline")).get("points").split()) == 3
    assert list(_parse(charts.series([None, None], label="none")).iter(f"{SVG}polyline")) == []


def test_every_key_has_every_language_and_the_same_placeholders() -> None:
    for key, texts in TABLE.items():
        assert set(texts) == set(LOCALES), key
        assert all(texts.values()), key
        holes = {tuple(sorted(re.findall(r"{(\w+)}", text))) for text in texts.values()}
        assert len(holes) == 1, f"{key}: placeholders differ between languages"


def test_every_shown_value_has_its_key() -> None:
    wanted = (
        [f"complaint.{c.value}" for c in Complaint]
        + [f"verdict.{v.value}" for v in Verdict]
        + [f"tp.{tp.value}" for tp in TouchPoint]
        + [f"status.{s.value}" for s in OfferStatus]
        + [f"answer.{a.value}" for a in Answer]
        + [f"steps.{k.value}" for k in FaultKind]
        + [f"fig.{g.figure}" for g in health.GAUGES]
        + [f"explain.{g.figure}" for g in health.GAUGES]
    )
    assert [k for k in wanted if k not in TABLE] == []


def test_every_literal_key_in_the_templates_is_in_the_table() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_.]+)["']""", path.read_text()))
    literal = {k for k in used if not k.endswith(".")}  # "fig." ~ name is built
    assert literal and sorted(k for k in literal if k not in TABLE) == []


def test_locales_fall_back_to_english() -> None:
    assert pick("de-AT") == "de" and pick("fr") == "en" and pick(None) == "en"
    assert translator("de")("care.hello", name="Eva").startswith("Hallo Eva")
