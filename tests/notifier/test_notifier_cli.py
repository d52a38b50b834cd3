"""`devicecare notify` as a process: one pass at a given time, the counts, and the loop
that LISTENs for new findings and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind
from devicecare.endpoints import database_url
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import add_finding, add_owner, offers
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def notify_env(stack: Settings, db_url: str, **notifier: str) -> dict[str, str]:
    return (
        os.environ
        | {
            "DEVICECARE_STATE_DIR": str(stack.state_dir),
            "DEVICECARE_DATABASE_URL": db_url,
            "DEVICECARE_NOTIFIER__LINK_SECRET": "cli-secret",
            "DEVICECARE_NOTIFIER__METRICS_PORT": "0",
        }
        | {f"DEVICECARE_NOTIFIER__{k.upper()}": v for k, v in notifier.items()}
    )


def test_notify_command_does_one_pass_at_a_given_time_and_prints_counts(
    stack: Settings, db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "no-agent-yet")
    add_finding(db, "no-agent-yet", FaultKind.STORAGE_RUNAWAY)
    env = notify_env(stack, db_url, channels='["device"]')
    assert database_url(stack) != db_url

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "cli", "notify", *args],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=60,
        ).stdout

    out = " ".join(run("--at", "2025-03-03T12:00:00+00:00").split())
    # nobody subscribed on the device's offers topic: not sent, retried later
    assert "1 offers created, 0 sent" in out and "1 failed attempts" in out
    counts = json.loads(run("--stats"))
    assert counts["offers_created"] == 1 and counts["attempts"] == {
        "device": {"ok": 0, "failed": 1}
    }
    detail = db.execute("SELECT detail FROM offer_attempts").fetchone()[0]
    assert "no agent subscribed" in detail


def test_the_loop_wakes_on_a_new_finding_and_stops_on_sigterm(
    stack: Settings, db_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    add_owner(db, "watch")
    with WebhookReceiver(b"loop-key") as receiver:
        env = notify_env(
            stack,
            db_url,
            channels='["webhook"]',
            webhook_url=receiver.url,
            webhook_secret="loop-key",
            poll_interval_s="600",  # only NOTIFY can wake it within the test
            quiet_hours_start="00:00",
            quiet_hours_end="00:00",
        )
        log = (tmp_path / "notify.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "notify"], stdout=log, stderr=log, env=env
        )
        try:
            wait_for(
                lambda: "notifier started" in (tmp_path / "notify.log").read_text(),
                what="the notifier to start",
            )
            add_finding(db, "watch", FaultKind.CRASH_LOOP, detected_at=datetime.now(UTC))
            wait_for(lambda: len(receiver.received) == 1, timeout_s=20, what="the offer")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
            log.close()
    assert code == 0, (tmp_path / "notify.log").read_text()
    assert offers(db)[0]["status"] == "delivered"
    assert "notifier stopped" in (tmp_path / "notify.log").read_text()
