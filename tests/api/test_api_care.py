"""The care API against the real database: every route with every role, the device view
against its cohort, timelines, interactions, triage and its outcome, export and erasure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Role
from care.store import encode_cursor
from devicecare.config import Settings
from devicecare.contracts import Channel, DeviceConfig, decode, topics
from devicecare.contracts.vocabulary import FaultKind
from devicecare.endpoints import mqtt_endpoint
from devstack.local import provision_devices
from tests.support.care_fleet import END, CareFleet, add_device, care_fleet
from tests.support.ingest_process import IngestWorkers, telemetry
from tests.support.mqtt_clients import connect
from tests.support.notifier_support import add_finding, notifier_settings
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

NOBODY = "nobody"
ALICE = "alice"
BOB = "bob"
CALLERS = (NOBODY, Role.SUPPORT, Role.ENGINEER, Role.ADMIN, ALICE, BOB)
STAFF = {Role.SUPPORT, Role.ENGINEER, Role.ADMIN}


@pytest.fixture
def fleet(db: psycopg.Connection) -> CareFleet:
    return care_fleet(db)


@pytest.fixture
def client(stack: Settings, db_url: str) -> Iterator[TestClient]:
    app = create_app(notifier_settings(stack), database=db_url, clock=lambda: END)
    with TestClient(app) as client:
        yield client


def _headers(fleet: CareFleet, caller: object) -> dict[str, str]:
    if caller == NOBODY:
        return {}
    token = {ALICE: fleet.alice_token, BOB: fleet.bob_token}.get(caller)  # type: ignore[call-overload]
    return {"authorization": f"Bearer {token or fleet.keys[caller]}"}  # type: ignore[index]


def test_every_route_admits_exactly_its_roles(client: TestClient, fleet: CareFleet) -> None:
    """Each route with each caller: the set that gets through is exactly the allowed one.
    Alice owns the worn phone; Bob asking for it gets 404, as for a device that does not exist."""
    triage_id = client.post(
        f"/devices/{fleet.worn}/triage",
        json={"complaint": "battery"},
        headers=_headers(fleet, Role.SUPPORT),
    ).json()["triage_id"]
    routes = [
        ("GET", "/devices", None, STAFF | {ALICE, BOB}),
        ("GET", f"/devices/{fleet.worn}", None, STAFF | {ALICE}),
        ("GET", f"/devices/{fleet.worn}/timeline", None, STAFF | {ALICE}),
        ("GET", f"/customers/{fleet.alice}", None, STAFF | {ALICE}),
        ("GET", f"/customers/{fleet.alice}/timeline", None, STAFF | {ALICE}),
        ("GET", f"/customers/{fleet.alice}/export", None, {Role.ADMIN, ALICE}),
        ("GET", "/findings", None, STAFF | {ALICE, BOB}),
        ("GET", "/offers", None, STAFF | {ALICE, BOB}),
        (
            "POST",
            "/interactions",
            {"device_id": fleet.worn, "touchpoint": "hotline", "kind": "call", "summary": "hi"},
            {Role.SUPPORT, Role.ADMIN},
        ),
        (
            "POST",
            f"/devices/{fleet.worn}/triage",
            {"complaint": "heat"},
            {Role.SUPPORT, Role.ADMIN},
        ),
        (
            "PUT",
            f"/devices/{fleet.worn}/consent",
            {"telemetry": True, "care_offers": True, "email": False},
            {Role.SUPPORT, Role.ADMIN, ALICE},
        ),
        (
            "POST",
            f"/triage/{triage_id}/outcome",
            {"outcome": "no_fault_found"},
            {Role.SUPPORT, Role.ADMIN},
        ),
        ("GET", f"/triage/{triage_id}", None, STAFF),
        ("GET", "/stats/triage", None, STAFF),
        ("POST", "/fleet-alerts/999/release", None, {Role.ENGINEER, Role.ADMIN}),
        ("GET", "/tasks?status=open", None, {Role.SUPPORT, Role.ADMIN}),
        ("POST", "/tasks/999/close", {"result": "fault_found"}, {Role.SUPPORT, Role.ADMIN}),
        ("DELETE", f"/customers/{uuid.uuid4()}", None, {Role.ADMIN}),
    ]
    for method, path, body, allowed in routes:
        admitted = set()
        for caller in CALLERS:
            response = client.request(method, path, json=body, headers=_headers(fleet, caller))
            if caller == NOBODY:
                assert response.status_code == 401, (method, path)
                assert response.headers["content-type"] == "application/problem+json"
            elif response.status_code not in {401, 403} and not (
                caller in {ALICE, BOB} and response.status_code == 404
            ):
                admitted.add(caller)
        assert admitted == allowed, (method, path, admitted)
    bob = _headers(fleet, BOB)
    for path in (
        f"/devices/{fleet.worn}",
        f"/devices/{fleet.worn}/timeline",
        f"/customers/{fleet.alice}",
        f"/customers/{fleet.alice}/timeline",
        f"/customers/{fleet.alice}/export",
    ):
        assert client.get(path, headers=bob).status_code == 404, path
    listed = client.get("/devices", headers=bob).json()["items"]
    assert [d["device_id"] for d in listed] == [fleet.bobs]
    assert client.get("/findings", headers=bob).json()["items"] == []
    wrong = {"authorization": "Bearer dck_not-a-key"}
    assert client.get("/devices", headers=wrong).status_code == 401
    forged = fleet.alice_token[:-3] + "AAA"
    assert client.get("/devices", headers={"authorization": f"Bearer {forged}"}).status_code == 401


def test_device_view_timeline_and_triage(
    client: TestClient, fleet: CareFleet, db: psycopg.Connection
) -> None:
    support = _headers(fleet, Role.SUPPORT)
    add_finding(db, fleet.worn, FaultKind.BATTERY_FADE, detected_at=END.replace(day=2))
    view = client.get(f"/devices/{fleet.worn}", headers=support)
    assert view.status_code == 200
    health = view.json()["health"]
    assert health["cohort_devices"] == 8
    battery = health["figures"]["battery_health_pct"]
    assert battery["value"] < battery["cohort_median"]
    assert battery["cohort_percentile"] < 10
    assert health["figures"]["crash_free_hours_7d"]["value"] == pytest.approx(168, abs=1)

    contact = client.post(
        "/interactions",
        json={"device_id": fleet.worn, "touchpoint": "store", "kind": "visit", "summary": "Drains"},
        headers=support,
    )
    assert contact.status_code == 201
    verdict = client.post(
        f"/devices/{fleet.worn}/triage", json={"complaint": "battery"}, headers=support
    )
    assert verdict.status_code == 201, verdict.text
    triage = verdict.json()
    assert triage["verdict"] == "confirmed_fault"
    assert any("cohort median" in e["text"] for e in triage["evidence"])
    outcome = client.post(
        f"/triage/{triage['triage_id']}/outcome", json={"outcome": "fault_found"}, headers=support
    )
    assert outcome.json()["outcome"] == "fault_found"
    again = client.post(
        f"/triage/{triage['triage_id']}/outcome", json={"outcome": "fault_found"}, headers=support
    )
    assert again.status_code == 409
    stats = client.get("/stats/triage", headers=support).json()
    assert stats["nff_rate"] == 0.0 and stats["repairs_with_outcome"] == 1

    timeline = client.get(f"/devices/{fleet.worn}/timeline", headers=support).json()["items"]
    kinds = [e["kind"] for e in timeline]
    assert kinds == ["repair_outcome", "triage_verdict", "visit", "finding_opened"]
    stores = client.get(
        f"/customers/{fleet.alice}/timeline", params={"touchpoint": "store"}, headers=support
    ).json()["items"]
    assert [e["kind"] for e in stores] == ["repair_outcome", "visit"]
    first = client.get(
        f"/customers/{fleet.alice}/timeline", params={"limit": 3}, headers=support
    ).json()
    rest = client.get(
        f"/customers/{fleet.alice}/timeline",
        params={"limit": 3, "cursor": first["next_cursor"]},
        headers=support,
    ).json()
    assert [e["kind"] for e in first["items"] + rest["items"]] == kinds
    assert rest["next_cursor"] is None


def test_bad_input_is_a_problem_naming_the_field(client: TestClient, fleet: CareFleet) -> None:
    support = _headers(fleet, Role.SUPPORT)
    cases = [
        ("GET", "/devices/no-such-device", None, 404),
        ("GET", f"/customers/{uuid.uuid4()}", None, 404),
        ("GET", "/customers/not-a-uuid", None, 422),
        ("GET", "/devices?cursor=garbage", None, 422),
        ("GET", "/devices?silent_since=yesterday", None, 422),
        ("GET", "/devices?health_below=140", None, 422),
        ("GET", "/findings?kind=broken_screen", None, 422),
        ("POST", f"/devices/{fleet.worn}/triage", {"complaint": "smell"}, 422),
        ("POST", "/interactions", {"touchpoint": "hotline", "kind": "call", "summary": "x"}, 422),
        (
            "POST",
            "/interactions",
            {
                "device_id": fleet.worn,
                "touchpoint": "hotline",
                "kind": "call",
                "summary": "x",
                "finding_id": 12345,
            },
            422,
        ),
    ]
    for method, path, body, status in cases:
        response = client.request(method, path, json=body, headers=support)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == status and problem["title"]
    invalid = client.get("/devices?health_below=140", headers=support).json()
    assert invalid["errors"][0]["loc"] == ["query", "health_below"]


def test_export_and_erasure_are_audited(
    client: TestClient, fleet: CareFleet, db: psycopg.Connection
) -> None:
    alice = _headers(fleet, ALICE)
    admin = _headers(fleet, Role.ADMIN)
    document = client.get(f"/customers/{fleet.alice}/export", headers=alice)
    assert document.status_code == 200
    exported = document.json()
    assert exported["customer"]["name"] == "Alice"
    assert {d["device_id"] for d in exported["devices"]} == {fleet.worn, fleet.healthy}
    assert len(exported["daily_telemetry"]) == 2 * 31  # 30 days from noon touch 31 dates
    erased = client.delete(f"/customers/{fleet.alice}", headers=admin)
    assert erased.status_code == 200
    assert erased.json()["erased"]["devices"] == 2
    assert client.get(f"/customers/{fleet.alice}", headers=admin).status_code == 404
    left = db.execute(
        "SELECT count(*) FROM samples WHERE device_id = ANY(%s)", ([fleet.worn, fleet.healthy],)
    ).fetchone()
    assert left == (0,)
    assert db.execute("SELECT action FROM audit_log ORDER BY audit_id").fetchall() == [
        ("export",),
        ("erase",),
    ]
    counters = dict(db.execute("SELECT item, erased FROM erasure_counters").fetchall())
    assert counters["devices"] == 2 and counters["samples"] == 2 * 30 * 96


def test_consent_withdrawal_reaches_the_device_as_retained_config(
    stack: Settings, db_url: str, db: psycopg.Connection, device_id: str
) -> None:
    """Alice withdraws telemetry consent in her app: stored, audited, on the timeline, and
    the device (connecting afterwards) gets a retained config with every collector off."""
    fleet = care_fleet(db)
    add_device(db, device_id, fleet.alice)
    provision_devices(stack, [device_id])
    settings = notifier_settings(stack)
    with TestClient(create_app(settings, database=db_url, clock=lambda: END)) as client:
        withdrawn = client.put(
            f"/devices/{device_id}/consent",
            json={"telemetry": False, "care_offers": True, "email": False},
            headers=_headers(fleet, ALICE),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["config_published"] is True
        bobs = client.put(
            f"/devices/{device_id}/consent",
            json={"telemetry": True, "care_offers": True, "email": True},
            headers=_headers(fleet, BOB),
        )
        assert bobs.status_code == 404
        timeline = client.get(
            f"/devices/{device_id}/timeline", headers=_headers(fleet, ALICE)
        ).json()["items"]
        latest = {(e["kind"], e["touchpoint"]) for e in timeline if e["ts"] == timeline[0]["ts"]}
        assert ("consent_changed", "web") in latest
        assert ("config_sent", "system") in latest, "the consent config went to the device"
    assert db.execute(
        "SELECT consent_telemetry, consent_care_offers FROM devices WHERE device_id = %s",
        (device_id,),
    ).fetchone() == (False, True)
    device = connect(mqtt_endpoint(stack, device_id), device_id)
    try:
        assert device.subscribe(topics.topic(device_id, Channel.CONFIG)) == "Granted QoS 1"
        received = device.drain(2.0)
    finally:
        device.close()
    assert len(received) == 1 and received[0].retain
    config = decode(topics.parse(received[0].topic), received[0].payload)
    assert isinstance(config, DeviceConfig)
    assert config.collectors and not any(c.enabled for c in config.collectors.values())
    assert db.execute("SELECT action FROM audit_log").fetchall() == [("consent",)]


def test_engineers_release_a_storm_held_alert_once(
    client: TestClient, fleet: CareFleet, db: psycopg.Connection
) -> None:
    alert = db.execute(
        "INSERT INTO fleet_alerts (kind, offer_kind, raised_at, devices, fleet, summary)"
        " VALUES ('offer_storm', 'battery_check', %s, 30, 300, 'storm') RETURNING alert_id",
        (END,),
    ).fetchone()[0]
    engineer = _headers(fleet, Role.ENGINEER)
    released = client.post(f"/fleet-alerts/{alert}/release", headers=engineer)
    assert released.status_code == 200 and released.json()["released_findings"] == 0
    assert client.post(f"/fleet-alerts/{alert}/release", headers=engineer).status_code == 409
    assert db.execute("SELECT status FROM fleet_alerts").fetchone() == ("released",)
    assert db.execute("SELECT action FROM audit_log").fetchall() == [("release_storm",)]
    stale = client.get("/offers?cursor=" + encode_cursor("not a time", "x"), headers=engineer)
    assert stale.status_code == 422
    timeline = client.get(
        f"/devices/{fleet.worn}/timeline?cursor=" + encode_cursor(1, 2), headers=engineer
    )
    assert timeline.status_code == 422


def test_consent_withdrawn_through_the_api_stops_ingest_storing_telemetry(
    stack: Settings, db_url: str, db: psycopg.Connection, device_id: str, tmp_path: Path
) -> None:
    """End to end: telemetry is stored; Alice withdraws consent in her app; the device
    gets its config; a batch it still sends is acknowledged but not stored."""
    fleet = care_fleet(db)
    add_device(db, device_id, fleet.alice)
    provision_devices(stack, [device_id])
    workers = IngestWorkers(stack, db_url, tmp_path)
    workers.start()
    device = connect(mqtt_endpoint(stack, device_id), device_id)
    uplink = topics.topic(device_id, Channel.TELEMETRY)
    try:
        before = _stored(db, device_id)
        assert device.publish(uplink, telemetry(device_id, 1)) == "Success"
        wait_for(lambda: _stored(db, device_id) == before + 20, what="the first batch")
        with TestClient(
            create_app(notifier_settings(stack), database=db_url, clock=lambda: END)
        ) as client:
            withdrawn = client.put(
                f"/devices/{device_id}/consent",
                json={"telemetry": False, "care_offers": False, "email": False},
                headers=_headers(fleet, ALICE),
            )
        assert withdrawn.json()["config_published"] is True
        assert device.subscribe(topics.topic(device_id, Channel.CONFIG)) == "Granted QoS 1"
        assert [m.retain for m in device.drain(1.0)] == [True]
        assert device.publish(uplink, telemetry(device_id, 2)) == "Success"
        workers.stop_all()  # writes the pipeline_health counters
        dropped = db.execute("SELECT sum(dropped_no_consent) FROM pipeline_health").fetchone()
        assert dropped == (1,), "acknowledged, counted as dropped, not dead-lettered"
        assert _stored(db, device_id) == before + 20
    finally:
        device.close()
        workers.stop_all()


def _stored(db: psycopg.Connection, device_id: str) -> int:
    return db.execute("SELECT count(*) FROM samples WHERE device_id = %s", (device_id,)).fetchone()[
        0
    ]


def test_health_and_readiness_need_no_credentials(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
