"""Collectors against fixture trees laid out like real devices."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.collectors import REGISTRY, CollectorContext
from agent.collectors.battery import BatteryCollector
from agent.collectors.crash import CrashCollector
from agent.collectors.storage import StorageCollector
from agent.collectors.thermal import ThermalCollector
from agent.identity import Identity, identify
from agent.outbox import Outbox, Row
from agent.store import Store
from devicecare.contracts import Channel, EventKind, SampleDetail
from tests.support import device_trees as trees

NOW = int(time.time() * 1000)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "device"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "agent.db", budget_bytes=1 << 20)


def context(root: Path, store: Store, **extra: tuple[str, ...]) -> CollectorContext:
    return CollectorContext(
        root=root,
        seen=store.seen,
        remember=store.remember,
        state_get=lambda k: store.get("collector.t." + k),
        state_set=lambda k, v: store.set("collector.t." + k, v),
        **extra,
    )


def test_every_collector_is_registered_by_its_name() -> None:
    assert {name.value for name in REGISTRY} == {"battery", "thermal", "crash", "storage"}


def test_laptop_battery(root: Path, store: Store) -> None:
    trees.laptop_battery(root)
    reading = BatteryCollector(context(root, store)).collect(NOW)
    assert reading.values == {
        "battery_pct": 76.0,
        "battery_charging": False,
        "battery_voltage_v": pytest.approx(11.94),
        "battery_current_a": pytest.approx(-1.21),
        "battery_full_wh": pytest.approx(45.12),
        "battery_design_wh": pytest.approx(57.02),
        "battery_cycles": 412,
    }
    assert reading.unavailable == {"battery_temp_c"}


def test_android_battery_with_temperature(root: Path, store: Store) -> None:
    trees.android_battery(root)
    values = BatteryCollector(context(root, store)).collect(NOW).values
    assert values["battery_charging"] is True
    assert values["battery_current_a"] == pytest.approx(0.85)
    assert values["battery_temp_c"] == pytest.approx(31.2)
    assert values["battery_full_wh"] == pytest.approx(3.65 * 3.87)
    assert values["battery_design_wh"] == pytest.approx(4.0 * 3.87)


def test_thermal_zones_throttling_and_load(root: Path, store: Store) -> None:
    trees.thermal(root, throttling=True)
    trees.proc_stat(root, busy=1000, idle=9000)
    collector = ThermalCollector(context(root, store))
    first = collector.collect(NOW)
    assert first.values["cpu_temp_c"] == pytest.approx(71.5)
    assert first.values["thermal_throttled"] is True
    detail = first.values["detail"]
    assert isinstance(detail, SampleDetail)
    assert [(z.type, z.temp_c) for z in detail.zones] == [
        ("x86_pkg_temp", 71.5),
        ("acpitz", 45.0),
        ("battery", pytest.approx(33.1)),
    ]
    assert "cpu_load_pct" not in first.values  # needs two ticks
    trees.proc_stat(root, busy=1300, idle=9100)
    assert collector.collect(NOW).values["cpu_load_pct"] == pytest.approx(75.0)


def test_a_fan_is_not_throttling(root: Path, store: Store) -> None:
    trees.thermal(root, throttling=False)
    assert ThermalCollector(context(root, store)).collect(NOW).values["thermal_throttled"] is False


def test_storage_mounts_and_emmc_wear(root: Path, store: Store) -> None:
    (root / "data").mkdir()
    trees.emmc(root)
    reading = StorageCollector(context(root, store, mounts=("/data", "/"))).collect(NOW)
    values = reading.values
    assert 0 < values["storage_free_bytes"] <= values["storage_total_bytes"]
    assert 0 <= values["storage_inodes_used_pct"] <= 100
    assert values["flash_wear_pct"] == 30.0
    assert values["flash_pre_eol"] == 1
    detail = values["detail"]
    assert isinstance(detail, SampleDetail)
    assert [m.path for m in detail.mounts] == ["/data", "/"]


def test_ufs_wear(root: Path, store: Store) -> None:
    trees.ufs(root)
    values = StorageCollector(context(root, store, mounts=("/",))).collect(NOW).values
    assert values["flash_wear_pct"] == 40.0
    assert values["flash_pre_eol"] == 2


def test_a_machine_with_no_sensors(root: Path, store: Store) -> None:
    ctx = context(root, store, mounts=("/data",), crash_dirs=("/var/crash",))
    for cls in (BatteryCollector, ThermalCollector, StorageCollector, CrashCollector):
        reading = cls(ctx).collect(NOW)
        assert reading.values == {}
        assert reading.events == []
    assert BatteryCollector(ctx).collect(NOW).unavailable >= {"battery_pct", "battery_temp_c"}
    assert StorageCollector(ctx).collect(NOW).unavailable >= {"storage_total_bytes"}


CRASH_DIRS = ("/data/tombstones", "/sys/fs/pstore", "/var/crash", "/data/system/dropbox")


def test_crashes_after_the_first_scan_are_reported_once(
    root: Path, store: Store, tmp_path: Path
) -> None:
    old = trees.put(root, "/var/crash/_usr_bin_old.0.crash", trees.APPORT)
    collector = CrashCollector(context(root, store, crash_dirs=CRASH_DIRS))
    assert collector.collect(NOW).events == [], "history from before consent is not collected"

    trees.put(
        root, "/data/tombstones/tombstone_00", trees.TOMBSTONE.format(pid=4411, fault=0x10, off=40)
    )
    trees.put(root, "/sys/fs/pstore/dmesg-ramoops-0", trees.PANIC)
    trees.put(root, "/sys/fs/pstore/dmesg-ramoops-1", trees.OOPS)
    trees.put(root, "/var/crash/_usr_bin_gnome-shell.1000.crash", trees.APPORT)
    trees.put(root, "/data/system/dropbox/data_app_crash@1763856000000.txt", trees.DROPBOX)
    trees.put(root, "/data/system/dropbox/unrelated@1.txt", "not a crash")
    found = collector.collect(NOW).events
    assert sorted((e.event.kind.value, e.event.process) for e in found) == [
        ("app_crash", "com.example.maps"),
        ("kernel_oops", "kernel"),
        ("kernel_panic", "kernel"),
        ("native_crash", "com.example.camera"),
        ("native_crash", "gnome-shell"),
    ]
    events = {e.event.kind: e for e in found}
    panic = events[EventKind.KERNEL_PANIC].event
    assert panic.process == "kernel"
    assert panic.signature.startswith("panic Fatal exception in interrupt")
    assert events[EventKind.KERNEL_OOPS].event.signature.startswith("oops iwl_pcie_rx_handle")
    app = events[EventKind.APP_CRASH].event
    assert (app.process, app.app_version) == ("com.example.maps", "5.0.12")
    assert app.signature.startswith("IllegalStateException androidx.fragment.app.Fragment")

    reported = collector.collect(NOW).events
    assert len(reported) == 5, "nothing is remembered until the agent queues it"
    store.set("consent", '{"telemetry": true}')
    Outbox(store, "phone-1").add(Row(Channel.EVENTS, e.event.ts, b"{}", e.key) for e in reported)
    restarted = CrashCollector(context(root, Store(store.path, 1 << 20), crash_dirs=CRASH_DIRS))
    assert restarted.collect(NOW).events == []
    assert old.exists()


def test_the_same_bug_has_the_same_signature_on_every_device(root: Path, store: Store) -> None:
    collector = CrashCollector(context(root, store, crash_dirs=("/data/tombstones",)))
    collector.collect(NOW)
    trees.put(
        root, "/data/tombstones/tombstone_01", trees.TOMBSTONE.format(pid=1, fault=0x10, off=40)
    )
    trees.put(
        root, "/data/tombstones/tombstone_02", trees.TOMBSTONE.format(pid=9, fault=0x99, off=48)
    )
    one, two = (e.event for e in collector.collect(NOW).events)
    assert one.signature == two.signature
    assert one.signature.startswith("SIGSEGV libcamera_client.so!android::Camera::unlock()")


def test_a_new_boot_is_a_reboot_event(root: Path, store: Store) -> None:
    trees.boot_id(root, "aaaa")
    trees.proc_stat(root, 1, 1, btime=1763800000)
    collector = CrashCollector(context(root, store, crash_dirs=()))
    assert collector.collect(NOW).events == []
    trees.boot_id(root, "bbbb")
    trees.proc_stat(root, 1, 1, btime=1763899999)
    (reboot,) = collector.collect(NOW).events
    assert reboot.event.kind == EventKind.REBOOT
    assert reboot.event.ts == 1763899999000
    assert collector.collect(NOW).events == []


def test_the_device_says_what_it_is(root: Path) -> None:
    assert identify(root) == Identity()
    trees.debian_laptop(root)
    assert identify(root) == Identity("21HMCTO1WW", "Debian GNU/Linux", "12")
    trees.android_build(root)
    assert identify(root) == Identity("Pixel 8", "Android", "14")
