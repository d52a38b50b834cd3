"""Crash loops, system restarts and runaway storage against their look-alikes: a bad app
release that is fixed, a release crashing in several places, scheduled and update
reboots, a restore from backup, a large OS upgrade, a sync that tapers off, a disk that
filled at its usual pace. Each is one synthetic device through the live per-device path
(`Device` of `test_lookalikes`), with a near miss beside every evidence path that fires."""

from __future__ import annotations

import numpy as np

from detectors.block import Block, EventRow
from detectors.live.cohorts import Cohorts
from detectors.live.device import DeviceState
from detectors.live.findings import Change
from detectors.live.rules.crashes import _newer
from devicecare.contracts import EventKind
from devicecare.contracts.vocabulary import FaultKind
from tests.detectors.test_lookalikes import DAY, GB, START, Device, crashes, opened

# --- crash loops


def test_a_release_that_crashed_for_a_day_and_a_half_then_stopped_is_no_loop() -> None:
    """The episode ends with its last crash: the day after a fixed release does not
    make it look longer than it was."""
    device = Device(days=30, seed=21)
    crashes(device, 20.0, 1.4, 4.0)
    assert opened(device.run()) == {}


def test_a_loop_at_machine_pace_is_found_after_a_day_an_owners_retries_are_not() -> None:
    """Six crashes an hour all day long is an app restarting itself: found from the
    first full day; two an hour (an owner re-opening a broken release) for 30 hours,
    then fixed, is not."""
    fast = Device(days=30, seed=20)
    crashes(fast, 19.6, 5.0, 6.0)
    found = [c for c in fast.run() if c.what == "opened"]
    assert [c.finding.kind for c in found] == [FaultKind.CRASH_LOOP.value]
    assert found[0].finding.detected_at <= START + 21 * DAY  # 33 hours in
    retries = Device(days=30, seed=20)
    crashes(retries, 19.6, 1.3, 2.0)
    assert opened(retries.run()) == {}


def test_a_release_crashing_in_several_places_for_days_is_no_loop() -> None:
    device = Device(days=30, seed=22)
    for index in range(3):
        crashes(device, 20.0, 3.0, 1.5, signature=f"SIGABRT libmaps.so!update{index}", seed=index)
    assert opened(device.run()) == {}


def test_crashes_that_stop_with_a_newer_version_are_the_apps_bug() -> None:
    """Two days of crashes on version 4.0, then the app reports 4.1 and they stop."""
    device = Device(days=30, seed=23)
    crashes(device, 20.0, 1.9, 4.0)
    device.events.append(
        EventRow(START + 21.95 * DAY, EventKind.APP_CRASH.value, "com.example.maps", "other", "4.1")
    )
    assert opened(device.run()) == {}
    without_update = Device(days=30, seed=23)
    crashes(without_update, 20.0, 1.9, 4.0)
    assert set(opened(without_update.run())) == {FaultKind.CRASH_LOOP.value}


def test_a_loop_that_survives_an_update_is_found_on_the_new_version() -> None:
    device = Device(days=30, seed=24)
    crashes(device, 20.0, 1.0, 4.0)
    crashes(device, 21.0, 4.0, 4.0, version="4.1", seed=18)
    found = opened(device.run(device_class="tablet"))
    assert set(found) == {FaultKind.CRASH_LOOP.value}, found
    reason = found[FaultKind.CRASH_LOOP]
    assert "version 4.1" in reason and "on your tablet" in reason


def test_an_intermittent_loop_that_returns_every_day_is_found() -> None:
    """Bursts of a few hours, quiet for most of the day, day after day."""
    device = Device(days=30, seed=25)
    for day in range(20, 26):
        crashes(device, day + 0.3, 0.15, 4.0, seed=day)
    found = opened(device.run())
    assert set(found) == {FaultKind.CRASH_LOOP.value}, found
    assert " 0 " not in found[FaultKind.CRASH_LOOP]


def _cohort(devices: list[Device]) -> dict[int, dict[str, str]]:
    """The devices run side by side as one cohort (same model and OS): what each opened."""
    cohorts = Cohorts()
    states = [DeviceState(f"d{i}") for i in range(len(devices))]
    for state in states:
        state.describe("Pixel 8", "14")
    changes: dict[int, list[Change]] = {i: [] for i in range(len(devices))}
    for lo in np.arange(START, START + devices[0].days * DAY, DAY):
        for i, (device, state) in enumerate(zip(devices, states, strict=True)):
            sel = (device.ts >= lo) & (device.ts < lo + DAY)
            block = Block.from_columns(device.ts[sel], {k: v[sel] for k, v in device.cols.items()})
            block.events = sorted(
                (e for e in device.events if lo <= e.ts < lo + DAY), key=lambda e: e.ts
            )
            changes[i] += state.process(block, cohorts)
    return {i: opened(c) for i, c in changes.items()}


def test_the_same_crash_on_many_devices_of_a_cohort_is_the_apps_release() -> None:
    """A release that loops on four of ten devices at once is the app's fault: no device
    gets a crash-loop finding; the same crash on one device alone is that device's loop."""
    fleet = [Device(days=30, seed=40 + i) for i in range(10)]
    for index, device in enumerate(fleet[:4]):
        crashes(device, 20.0 + 0.1 * index, 5.0, 4.0, seed=index)
    assert all(found == {} for found in _cohort(fleet).values())
    alone = [Device(days=30, seed=40 + i) for i in range(10)]
    crashes(alone[0], 20.0, 5.0, 4.0)
    found = _cohort(alone)
    assert set(found[0]) == {FaultKind.CRASH_LOOP.value}
    assert all(f == {} for i, f in found.items() if i)


def test_newer_versions_compare_by_number() -> None:
    assert _newer("4.10", "4.9") and _newer("5", "4.9.9") and not _newer("4.0", "4.0")
    assert not _newer(None, "1.0") and not _newer("1.0", None) and not _newer("beta", "1.0")


# --- restarts


def test_scheduled_update_and_power_off_reboots_are_no_system_fault() -> None:
    """A gateway rebooting on schedule every day, for updates, and after power cuts
    (a gap in its samples) has no fault; a few watchdog restarts on top stay within
    its noise."""
    device = Device(days=40, seed=26, battery=False)
    for day in range(2, 40):
        device.reboot(day + 0.02, "scheduled")
    for day in (12.1, 26.1):
        device.reboot(day, "os_update")
    for day in (15.3, 19.6, 23.2, 30.4, 33.8):
        device.cut(day, day + 0.2)
        device.reboot(day + 0.2, None)
    for day in (21.1, 29.3, 35.2):
        device.reboot(day, "watchdog")
    assert opened(device.run(model="Gateway Pi 4", device_class="gateway")) == {}


def test_watchdog_restarts_well_beyond_the_devices_own_rate_are_a_fault() -> None:
    device = Device(days=40, seed=27, battery=False)
    for day in range(2, 40, 4):
        device.reboot(day + 0.1, "watchdog")  # its own usual: one every four days
    for i in range(24):
        device.reboot(28 + i * 0.4 + 0.05, None if i % 3 else "watchdog")
    found = opened(device.run(model="Gateway Pi 4", device_class="gateway"))
    assert set(found) == {FaultKind.KERNEL_FAULT.value}, found
    assert found[FaultKind.KERNEL_FAULT].startswith("Your gateway restarted by itself")


def test_restarts_every_day_are_found_within_days_three_are_not() -> None:
    """Twice a day on a device that never restarts by itself: four in two days hold,
    and the finding opens after the sustain time, a day before six in a week would;
    three in three days, then none, stay within its noise."""
    device = Device(days=40, seed=28, battery=False)
    for i in range(20):
        device.reboot(25.1 + i * 0.5, "watchdog" if i % 2 else None)
    found = [c for c in device.run(model="Gateway Pi 4") if c.what == "opened"]
    assert [c.finding.kind for c in found] == [FaultKind.KERNEL_FAULT.value]
    assert found[0].finding.detected_at <= START + 28 * DAY
    assert " 1 times" not in found[0].finding.reason
    few = Device(days=40, seed=28, battery=False)
    for day in (25.1, 26.3, 27.2):
        few.reboot(day, "watchdog")
    assert opened(few.run(model="Gateway Pi 4")) == {}


# --- storage


def _grow(device: Device, start_day: float, gb_per_day: list[float]) -> None:
    """Extra used space: `gb_per_day[i]` written evenly over day i from `start_day`."""
    days = (device.ts - START) / DAY - start_day
    extra = np.zeros(len(device.ts))
    for i, rate in enumerate(gb_per_day):
        extra += np.clip(days - i, 0.0, 1.0) * rate * GB
    device.cols["storage_free_bytes"] = device.cols["storage_free_bytes"] - extra


def test_a_restore_after_a_clean_reinstall_is_no_runaway() -> None:
    """40 GB deleted, then 32 GB of it restored from a backup over four days."""
    device = Device(seed=31)
    device.cols["storage_free_bytes"][device.at(18)] += 40 * GB
    _grow(device, 18.2, [8.0, 8.0, 8.0, 8.0])
    assert opened(device.run()) == {}


def test_a_large_os_upgrade_over_three_days_is_no_runaway() -> None:
    """12 GB over three days, kept: three days in a row beyond the threshold, but the
    disk would take weeks to fill at that rate, so a fourth day is asked for."""
    device = Device(seed=32)
    _grow(device, 20.3, [4.0, 4.0, 4.0])
    assert opened(device.run()) == {}
    longer = Device(seed=32)
    _grow(longer, 20.3, [4.0] * 6)
    assert set(opened(longer.run())) == {FaultKind.STORAGE_RUNAWAY.value}


def test_a_sync_that_tapers_off_is_no_runaway() -> None:
    device = Device(seed=33)
    _grow(device, 20.3, [12.0, 8.0, 5.0, 3.0, 1.5])
    assert opened(device.run()) == {}


def test_steady_growth_that_would_fill_the_disk_within_weeks_is_a_runaway() -> None:
    device = Device(seed=34)
    _grow(device, 18.3, [3.0] * 30)
    found = opened(device.run(device_class="laptop"))
    assert set(found) == {FaultKind.STORAGE_RUNAWAY.value}, found
    reason = found[FaultKind.STORAGE_RUNAWAY]
    assert (
        reason.startswith("Your laptop's storage has been filling by 3.") and "in a row" in reason
    )


def test_growth_the_owner_deletes_that_comes_back_until_the_disk_is_full_is_a_runaway() -> None:
    """A log grows about 4 GB a day; every few days the owner deletes part of it and it
    regrows, until the disk sits full."""
    device = Device(seed=35)
    days = (device.ts - START) / DAY
    used = 128 * GB - device.cols["storage_free_bytes"]
    log, deleted = np.clip(days - 15, 0, None) * 4 * GB, np.zeros(len(days))
    for day in (19, 23, 27, 31):
        deleted += np.where(days >= day, 0.3 * np.interp(day, days, log - deleted), 0.0)
    used = np.minimum(used + log - deleted, 127.5 * GB)
    device.cols["storage_free_bytes"] = 128 * GB - used
    found = opened(device.run())
    assert set(found) == {FaultKind.STORAGE_RUNAWAY.value}, found


def test_fast_regrowth_after_the_owners_clean_up_is_the_runaway_coming_back() -> None:
    """Three days of 5 GB a day (too few with weeks of room), two quiet days, the owner
    deletes 25 GB, and it regrows at 5 GB a day: a runaway, found before the disk is
    back at its old peak. The same refill without the earlier fast days is a restore."""
    midnight = 0.4074  # START is 14:13 UTC: days from here are calendar days
    device = Device(days=26, seed=38)
    _grow(device, 15 + midnight, [5.0, 5.0, 5.0])
    device.cols["storage_free_bytes"][device.at(20.45)] += 25 * GB
    _grow(device, 20.5, [5.0] * 5)
    found = [c for c in device.run() if c.what == "opened"]
    assert [c.finding.kind for c in found] == [FaultKind.STORAGE_RUNAWAY.value]
    assert found[0].finding.detected_at < START + 25 * DAY
    restore = Device(days=26, seed=38)
    restore.cols["storage_free_bytes"][restore.at(20.45)] += 25 * GB
    _grow(restore, 20.5, [5.0] * 5)
    assert opened(restore.run()) == {}


def test_a_runaway_that_ramps_up_slowly_does_not_become_the_usual() -> None:
    """A gateway log growing 0.1 GB a day faster every day: the usual growth must not
    learn it, or the threshold would run ahead of it until the disk sits full."""
    device = Device(seed=39, battery=False)
    days = (device.ts - START) / DAY
    device.cols["storage_total_bytes"][:] = 32 * GB
    used = 12 * GB + days * 0.2 * GB + 0.05 * GB * np.clip(days - 8, 0, None) ** 2
    device.cols["storage_free_bytes"] = 32 * GB - np.minimum(used, 31.9 * GB)
    found = opened(device.run(model="Gateway Pi 4", device_class="gateway"))
    assert set(found) == {FaultKind.STORAGE_RUNAWAY.value}, found
    assert found[FaultKind.STORAGE_RUNAWAY].startswith("Your gateway's storage has been filling")


def test_a_disk_that_filled_at_its_usual_pace_is_full_not_running_away() -> None:
    """A gateway's small disk fills with its ordinary 0.3 GB a day and sits full."""
    device = Device(seed=36, battery=False)
    days = (device.ts - START) / DAY
    device.cols["storage_total_bytes"][:] = 32 * GB
    used = np.minimum(22 * GB + days * 0.3 * GB, 31.9 * GB)
    device.cols["storage_free_bytes"] = 32 * GB - used
    assert opened(device.run(model="Gateway Pi 4")) == {}
