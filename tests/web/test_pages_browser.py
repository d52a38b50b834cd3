"""The owner's self-care page and the support console in Debian's Chromium (Playwright),
against the real database and broker: every flow the pages offer, both languages, without
JavaScript, an axe-core accessibility check, and the console seeing the owner's change
without a reload. Screenshots of each page go to `build/screenshots/` (see README)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from axe_playwright_python.sync_playwright import Axe
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect

from api.app import create_app
from api.auth import Role
from devicecare.config import Settings
from devicecare.contracts import Channel, DeviceConfig, decode, topics
from devicecare.contracts.vocabulary import FaultKind, OfferStatus, Severity
from devicecare.endpoints import mqtt_endpoint
from devstack.local import provision_devices
from notifier.signing import answer_token
from notifier.store import NewOffer, insert_offer
from tests.support.browser import chromium, live_server, offline_page
from tests.support.care_fleet import END, CareFleet, add_device, care_fleet
from tests.support.mqtt_clients import connect
from tests.support.notifier_support import LINK_SECRET, add_finding, notifier_settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DEVICECARE_SCREENSHOTS", ROOT / "build" / "screenshots"))
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
AXE_TOLERATED = frozenset({"minor", "moderate"})
"""axe-core's two lower impact levels; the two higher ones (serious and above) fail a page."""


@dataclass
class World:
    fleet: CareFleet
    base: str
    check: uuid.UUID  # battery check on the worn phone: accept with a store slot
    callback: uuid.UUID  # call-back about the healthy phone: accept with a phone number
    tip: uuid.UUID  # a tip on Bob's phone (German): "this was wrong"
    tip_finding: int


def _offer(
    db: psycopg.Connection,
    *,
    device: str,
    kind: str,
    fault: FaultKind,
    owner: uuid.UUID,
    locale: str = "en",
) -> tuple[uuid.UUID, int]:
    finding = add_finding(db, device, fault, detected_at=END - timedelta(days=1))
    row = insert_offer(
        db,
        NewOffer(
            device_id=device,
            finding_id=finding,
            fault_kind=fault.value,
            kind=kind,
            severity=Severity.MEDIUM,
            locale=locale,
            title=f"Offer {kind} for {device}",
            body=f"Because of {fault.value}.",
            created_at=END - timedelta(hours=2),
            expires_at=END + timedelta(days=7),
            customer_id=owner,
            rule="test",
        ),
    )
    assert row is not None
    return row.offer_id, finding


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def app(stack: Settings, db_url: str) -> FastAPI:
    return create_app(notifier_settings(stack), database=db_url, clock=lambda: END)


@pytest.fixture
def world(app: FastAPI, db: psycopg.Connection) -> Iterator[World]:
    fleet = care_fleet(db)
    db.execute("UPDATE customers SET locale = 'de' WHERE customer_id = %s", (fleet.bob,))
    check, _ = _offer(
        db, device=fleet.worn, kind="battery_check", fault=FaultKind.BATTERY_FADE, owner=fleet.alice
    )
    callback, _ = _offer(
        db,
        device=fleet.healthy,
        kind="support_callback",
        fault=FaultKind.COOLING_FAILURE,
        owner=fleet.alice,
    )
    tip, tip_finding = _offer(
        db,
        device=fleet.bobs,
        kind="self_help",
        fault=FaultKind.STORAGE_RUNAWAY,
        owner=fleet.bob,
        locale="de",
    )
    with live_server(app) as base:
        yield World(fleet, base, check, callback, tip, tip_finding)


def _link(offer_id: uuid.UUID) -> str:
    return f"/care/offer/{offer_id}?token={answer_token(LINK_SECRET.encode(), str(offer_id))}"


def _page(browser: Browser, world: World, viewport: dict[str, int], **options: object) -> Page:
    blocked: list[tuple[str, str]] = []
    context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
    page = offline_page(context, world.base, blocked)  # type: ignore[arg-type]
    page.blocked = blocked  # type: ignore[attr-defined]
    return page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation; every field has a label."""
    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"])
        for v in results.response["violations"]
        if v["impact"] not in AXE_TOLERATED
    ]
    assert bad == [], bad
    assert page.locator("html").get_attribute("lang") in {"en", "de"}
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length))
            .map(e => e.name)"""
    )
    assert unlabelled == []


def _login(page: Page, world: World, role: Role = Role.SUPPORT) -> None:
    page.goto(world.base + "/console/login")
    page.get_by_label("API key").fill(world.fleet.keys[role])
    page.get_by_role("button", name="Sign in").click()


def _accept_with_slot(page: Page, world: World, db: psycopg.Connection) -> None:
    offer = page.locator(f"#offer-{world.check}")
    offer.get_by_label("Time for your store visit").select_option(index=1)
    slot = offer.get_by_label("Time for your store visit").input_value()
    offer.get_by_role("button", name="Yes, please").dblclick()
    expect(page.get_by_role("status").first).to_be_visible()
    assert db.execute(
        "SELECT status FROM offers WHERE offer_id = %s", (world.check,)
    ).fetchone() == (OfferStatus.ACCEPTED.value,)
    answers = db.execute(
        "SELECT kind FROM interactions WHERE offer_id = %s AND kind LIKE 'offer_%%'",
        (world.check,),
    ).fetchall()
    assert answers == [("offer_accepted",)], "a double click records one answer"
    assert db.execute(
        "SELECT touchpoint, summary FROM interactions WHERE kind = 'store_appointment'"
    ).fetchall() == [("store", f"Store visit booked for {slot}")]


def _accept_call_back(page: Page, world: World, db: psycopg.Connection) -> None:
    callback = page.locator(f"#offer-{world.callback}")
    callback.get_by_label("Phone number for the call-back").fill("not a number")
    callback.get_by_role("button", name="Yes, please").click()
    expect(page.get_by_role("alert")).to_contain_text("phone number")
    callback = page.locator(f"#offer-{world.callback}")
    callback.get_by_label("Phone number for the call-back").fill("+49 30 1234567")
    callback.get_by_role("button", name="Yes, please").click()
    expect(page.get_by_role("status").first).to_be_visible()
    assert db.execute(
        "SELECT touchpoint, summary FROM interactions WHERE kind = 'callback_requested'"
    ).fetchall() == [("hotline", "Call back on +49 30 1234567")]


def _withdraw_consent(page: Page, db: psycopg.Connection, stack: Settings, device_id: str) -> None:
    mine = page.locator(f"#device-{device_id}")
    mine.get_by_label("collect health data from the device").uncheck()
    mine.get_by_role("button", name="Save consent").click()
    expect(page.get_by_text("Your consent is saved.")).to_be_visible()
    assert db.execute(
        "SELECT consent_telemetry FROM devices WHERE device_id = %s", (device_id,)
    ).fetchone() == (False,)
    device = connect(mqtt_endpoint(stack, device_id), device_id)
    try:
        assert device.subscribe(topics.topic(device_id, Channel.CONFIG)) == "Granted QoS 1"
        received = device.drain(2.0)
    finally:
        device.close()
    config = decode(topics.parse(received[0].topic), received[0].payload)
    assert isinstance(config, DeviceConfig)
    assert not any(c.enabled for c in config.collectors.values())


def _report_problem(page: Page, world: World, db: psycopg.Connection) -> None:
    worn = page.locator(f"#device-{world.fleet.worn}")
    worn.get_by_label("What is the problem?").select_option("battery")
    worn.get_by_label("Describe it in your words (optional)").fill("<script>x()</script>")
    worn.get_by_role("button", name="Check my device").click()
    expect(page.locator(f"#device-{world.fleet.worn} .verdict")).to_be_visible()
    row = db.execute(
        "SELECT touchpoint, note FROM triages WHERE device_id = %s", (world.fleet.worn,)
    ).fetchone()
    assert row == ("web", "<script>x()</script>")
    assert db.execute(
        "SELECT count(*) FROM interactions WHERE kind = 'triage_verdict' AND touchpoint = 'web'"
    ).fetchone() == (1,)
    text = page.locator(f"#device-{world.fleet.worn}").get_by_label(
        "Describe it in your words (optional)"
    )
    text.evaluate("e => e.removeAttribute('maxlength')")
    text.fill("x" * 2001)
    page.locator(f"#device-{world.fleet.worn}").get_by_role(
        "button", name="Check my device"
    ).click()
    expect(page.get_by_role("alert")).to_contain_text("too long")


def test_owner_accepts_with_a_slot_or_a_number_changes_consent_and_asks_triage(
    browser: Browser, world: World, db: psycopg.Connection, stack: Settings, device_id: str
) -> None:
    """The owner opens an offer link on a phone: health with charts, then every action."""
    add_device(db, device_id, world.fleet.alice)
    provision_devices(stack, [device_id])
    page = _page(browser, world, PHONE)
    token = answer_token(LINK_SECRET.encode(), str(world.check))
    page.goto(world.base + f"/offers/{world.check}/answer?token={token}")
    page.get_by_role("link", name="Your device's health, consent and help").click()
    assert page.url.startswith(world.base + "/care") and "token" not in page.url
    assert page.locator("html").get_attribute("lang") == "en"
    worn = page.locator(f"#device-{world.fleet.worn}")
    expect(worn.get_by_text("Battery health:", exact=True)).to_be_visible()
    expect(worn).to_contain_text("lower than in 94% of devices of the same model")
    assert worn.locator("svg.chart").count() == 4
    _shot(page, "care-phone")
    _accessible(page)
    _accept_with_slot(page, world, db)
    _accept_call_back(page, world, db)
    _withdraw_consent(page, db, stack, device_id)
    _report_problem(page, world, db)
    desktop = _page(browser, world, DESKTOP)
    desktop.goto(world.base + f"/care?token={world.fleet.alice_token}")
    _shot(desktop, "care-desktop")
    assert page.blocked == [] and desktop.blocked == []  # type: ignore[attr-defined]


def test_german_owner_reports_wrong_without_javascript_and_cannot_reach_others(
    browser: Browser, world: World, db: psycopg.Connection
) -> None:
    page = _page(browser, world, PHONE, java_script_enabled=False)
    page.goto(world.base + f"/care?token={world.fleet.bob_token}")
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hallo Bob")
    expect(page.get_by_text("Akkuzustand:", exact=True).first).to_be_visible()
    _shot(page, "care-de-phone-nojs")
    offer = page.locator(f"#offer-{world.tip}")
    offer.get_by_role("button", name="Das stimmt nicht").click()
    expect(page.get_by_text("Danke, Ihre Antwort ist gespeichert.")).to_be_visible()
    assert db.execute(
        "SELECT status FROM findings WHERE finding_id = %s", (world.tip_finding,)
    ).fetchone() == ("false_alarm",)
    refused = page.request.post(
        world.base + f"/care/offers/{world.check}", form={"answer": "dismiss"}
    )
    assert refused.status == 404, "Bob cannot answer Alice's offer"
    forged = page.goto(world.base + _link(world.check)[:-3] + "AAA")
    assert forged is not None and forged.status == 403
    expect(page.get_by_role("heading", level=1)).to_contain_text("no longer valid")
    assert db.execute(
        "SELECT status FROM offers WHERE offer_id = %s", (world.check,)
    ).fetchone() == ("created",), "the tampered link changed nothing"
    stranger = _page(browser, world, DESKTOP)
    assert stranger.goto(world.base + "/care").status == 401  # type: ignore[union-attr]
    assert (
        stranger.goto(  # type: ignore[union-attr]
            world.base + "/care?token=dcc_" + str(world.fleet.alice) + "_forged"
        ).status
        == 403
    )


def _console_work(page: Page, world: World, db: psycopg.Connection) -> None:
    """Triage the caller's complaint, record the call, filter the timeline."""
    page.get_by_label("What is the problem?").select_option("battery")
    page.get_by_label("What the caller says").fill("Empty by noon")
    page.get_by_role("button", name="Run triage").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_be_visible()
    assert verdict.locator(".evidence li").count() >= 1
    stored = db.execute(
        "SELECT touchpoint FROM triages WHERE device_id = %s", (world.fleet.worn,)
    ).fetchone()
    assert stored == ("hotline",)

    page.get_by_label("Summary").fill("<script>alert(1)</script> caller upset")
    page.get_by_role("button", name="Save contact").click()
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("<script>alert(1)</script> caller upset")
    assert timeline.locator("script").count() == 0, "free text is shown as text"
    assert db.execute(
        "SELECT touchpoint, actor FROM interactions WHERE kind = 'call'"
    ).fetchall() == [("hotline", "support:support key")]

    page.get_by_label("Hotline", exact=True).check()
    page.get_by_role("button", name="Apply filter").click()
    shown = page.locator("ol.timeline .tp").all_inner_texts()
    assert shown and set(shown) == {"Hotline"}
    page.get_by_label("Hotline", exact=True).uncheck()
    page.get_by_role("button", name="Apply filter").click()


def test_support_agent_searches_triages_records_and_sees_the_owner_live(
    browser: Browser, world: World, db: psycopg.Connection
) -> None:
    refused = _page(browser, world, DESKTOP)
    _login(refused, world, Role.ENGINEER)
    expect(refused.get_by_role("alert")).to_contain_text("not a support key")

    page = _page(browser, world, DESKTOP)
    _login(page, world)
    page.get_by_label("Customer, e-mail or device").fill("alice")
    page.get_by_role("button", name="Search").click()
    _accessible(page)
    page.get_by_role("link", name=world.fleet.worn).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.fleet.worn)
    assert page.locator("table.health svg.chart").count() == 8  # vs cohort and over time
    _shot(page, "console-device-desktop")
    _accessible(page)
    _console_work(page, world, db)

    page.evaluate("window.stillTheSamePage = true")
    owner = _page(browser, world, PHONE)
    owner.goto(world.base + _link(world.check))
    owner.locator(f"#offer-{world.check}").get_by_role("button", name="No, thanks").click()
    expect(owner.get_by_text("Thank you, your answer is recorded.")).to_be_visible()
    expect(page.locator("#live ol.timeline")).to_contain_text("offer_declined")
    expect(page.locator("#live .status").first).to_contain_text("declined")
    assert page.evaluate("window.stillTheSamePage") is True, "no reload"

    page.locator("#live").get_by_role("button", name="Resend link").first.click()
    expect(page.get_by_text("Give the owner this link:")).to_be_visible()
    assert db.execute(
        "SELECT count(*) FROM interactions WHERE kind = 'offer_resent'"
    ).fetchone() == (1,)

    german = _page(browser, world, PHONE)
    _login(german, world)
    german.goto(world.base + f"/console/devices/{world.fleet.worn}?lang=de")
    assert german.locator("html").get_attribute("lang") == "de"
    expect(german.get_by_role("heading", name="Verlauf", exact=True)).to_be_visible()
    _shot(german, "console-device-de-phone")
    german.get_by_role("button", name="Filter anwenden").click()
    assert german.locator("html").get_attribute("lang") == "de", "the language is kept"
    assert page.blocked == [] and german.blocked == []  # type: ignore[attr-defined]
