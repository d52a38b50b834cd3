"""Fixture file trees laid out like real devices' /sys, /proc and crash folders."""

from __future__ import annotations

import os
from pathlib import Path


def put(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def laptop_battery(root: Path) -> None:
    """A ThinkPad-style battery: energy in µWh, no temperature, plus AC adapter."""
    base = "/sys/class/power_supply/BAT0/"
    for name, value in {
        "type": "Battery",
        "present": "1",
        "status": "Discharging",
        "capacity": "76",
        "voltage_now": "11940000",
        "current_now": "1210000",
        "energy_full": "45120000",
        "energy_full_design": "57020000",
        "cycle_count": "412",
    }.items():
        put(root, base + name, value + "\n")
    put(root, "/sys/class/power_supply/AC/type", "Mains\n")
    put(root, "/sys/class/power_supply/AC/online", "0\n")


def android_battery(root: Path) -> None:
    """An Android-style battery: charge in µAh, temperature in tenths of °C."""
    base = "/sys/class/power_supply/battery/"
    for name, value in {
        "type": "Battery",
        "status": "Charging",
        "capacity": "54",
        "voltage_now": "4012000",
        "current_now": "-850000",
        "temp": "312",
        "charge_full": "3650000",
        "charge_full_design": "4000000",
        "voltage_min_design": "3870000",
        "cycle_count": "289",
    }.items():
        put(root, base + name, value + "\n")
    put(root, "/sys/class/power_supply/usb/type", "USB\n")


def thermal(root: Path, *, throttling: bool) -> None:
    zones = {"x86_pkg_temp": 71500, "acpitz": 45000, "battery": 33100, "bogus": -273000}
    for i, (kind, milli) in enumerate(zones.items()):
        put(root, f"/sys/class/thermal/thermal_zone{i}/type", kind + "\n")
        put(root, f"/sys/class/thermal/thermal_zone{i}/temp", f"{milli}\n")
    put(root, "/sys/class/thermal/cooling_device0/type", "Fan\n")
    put(root, "/sys/class/thermal/cooling_device0/cur_state", "1\n")
    put(root, "/sys/class/thermal/cooling_device1/type", "Processor\n")
    put(root, "/sys/class/thermal/cooling_device1/cur_state", "2\n" if throttling else "0\n")


def proc_stat(root: Path, busy: int, idle: int, btime: int = 1763800000) -> None:
    put(root, "/proc/stat", f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1\nbtime {btime}\n")


def boot_id(root: Path, value: str) -> None:
    put(root, "/proc/sys/kernel/random/boot_id", value + "\n")


def emmc(root: Path, life: str = "0x02 0x03", eol: str = "0x01") -> None:
    put(root, "/sys/block/mmcblk0/device/life_time", life + "\n")
    put(root, "/sys/block/mmcblk0/device/pre_eol_info", eol + "\n")


def ufs(root: Path) -> None:
    base = "/sys/bus/platform/drivers/ufshcd/1d84000.ufshc/health_descriptor/"
    put(root, base + "life_time_estimation_a", "0x04\n")
    put(root, base + "life_time_estimation_b", "0x01\n")
    put(root, base + "eol_info", "0x02\n")


TOMBSTONE = """*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***
Build fingerprint: 'google/oriole/oriole:14/UQ1A.240105.004/11206848:user/release-keys'
pid: {pid}, tid: {pid}, name: CameraThread  >>> com.example.camera <<<
signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x{fault:x}
backtrace:
      #00 pc 000000000004f2a8  /system/lib64/libcamera_client.so (android::Camera::unlock()+{off})
      #01 pc 0000000000012345  /apex/com.android.runtime/lib64/bionic/libc.so (pthread_mutex_lock+8)
      #02 pc 00000000000a1b2c  /data/app/com.example.camera/lib/arm64/libnative.so
"""

PANIC = """<0>[  812.446127] Kernel panic - not syncing: Fatal exception in interrupt
<4>[  812.446201] CPU: 3 PID: 0 Comm: swapper/3 Tainted: G        W
<4>[  812.446260] pc : ufshcd_intr+0x1c4/0x2a0
"""

OOPS = """<1>[ 1201.0010] BUG: unable to handle page fault for address: ffff9b8bc0a00000
<4>[ 1201.0011] Oops: 0000 [#1] PREEMPT SMP NOPTI
<4>[ 1201.0012] RIP: 0010:iwl_pcie_rx_handle+0x1f2/0x3a0 [iwlwifi]
"""

APPORT = """ProblemType: Crash
Date: Mon Nov 16 10:01:02 2026
ExecutablePath: /usr/bin/gnome-shell
Package: gnome-shell 43.9-0ubuntu1
Signal: 11
StacktraceTop:
 meta_window_get_frame_rect () at ../src/core/window.c:4412
 st_widget_get_theme_node () at ../src/st/st-widget.c:1020
"""

DROPBOX = """Process: com.example.maps
PID: 4411
Package: com.example.maps v5012 (5.0.12)
java.lang.IllegalStateException: Fragment not attached to a context.
\tat androidx.fragment.app.Fragment.requireContext(Fragment.java:900)
\tat com.example.maps.ui.MapFragment.onLocation(MapFragment.kt:132)
"""


def mtime(path: Path, seconds: float) -> Path:
    os.utime(path, (seconds, seconds))
    return path


def android_build(root: Path) -> None:
    put(
        root,
        "/system/build.prop",
        "# build\nro.product.model=Pixel 8\nro.build.version.release=14\n",
    )


def debian_laptop(root: Path) -> None:
    put(
        root,
        "/etc/os-release",
        'PRETTY_NAME="Debian GNU/Linux 12"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n',
    )
    put(root, "/sys/class/dmi/id/product_name", "21HMCTO1WW\n")
