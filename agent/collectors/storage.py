"""Storage: per-mount size, free space and inode use; flash wear where exposed.

The data mount (the first configured mount that exists) fills the sample's summary
fields; every mount goes into its detail. Flash wear comes from eMMC
(/sys/block/mmcblk*/device/{life_time,pre_eol_info}) or UFS health descriptors
(life_time_estimation_a/b, eol_info): life time is reported in steps of 10% used.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.collectors.base import Collector, Reading, read_text
from devicecare.contracts import CollectorName, Mount, SampleDetail

EMMC = "sys/block/mmcblk*/device"
UFS = ("sys/bus/platform/drivers/ufshcd/*/health_descriptor", "sys/devices/*/*/health_descriptor")


class StorageCollector(Collector):
    name = CollectorName.STORAGE

    def collect(self, now_ms: int) -> Reading:
        reading = Reading()
        mounts = [m for m in (_mount(self.ctx.path(p), p) for p in self.ctx.mounts) if m]
        if mounts:
            data = mounts[0]
            reading.values |= {
                "storage_total_bytes": data.total_bytes,
                "storage_free_bytes": data.free_bytes,
            }
            if data.inodes_used_pct is not None:
                reading.values["storage_inodes_used_pct"] = data.inodes_used_pct
            reading.values["detail"] = SampleDetail(mounts=mounts)
        else:
            reading.unavailable |= {"storage_total_bytes", "storage_free_bytes"}
        wear, eol = _flash_health(self.ctx.root)
        if wear is None:
            reading.unavailable.add("flash_wear_pct")
        else:
            reading.values["flash_wear_pct"] = wear
        if eol is None:
            reading.unavailable.add("flash_pre_eol")
        else:
            reading.values["flash_pre_eol"] = eol
        return reading


def _mount(path: Path, name: str) -> Mount | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    total = st.f_blocks * st.f_frsize
    free = min(st.f_bavail * st.f_frsize, total)
    inodes = round(100 * (1 - st.f_favail / st.f_files), 2) if st.f_files else None
    return Mount(path=name, total_bytes=total, free_bytes=free, inodes_used_pct=inodes)


def _hex_values(path: Path) -> list[int]:
    text = read_text(path) or ""
    out = []
    for token in text.split():
        try:
            out.append(int(token, 16))
        except ValueError:
            continue
    return out


def _flash_health(root: Path) -> tuple[float | None, int | None]:
    """(life used %, pre-EOL state) from the first eMMC or UFS device that reports them."""
    for device in sorted(root.glob(EMMC)):
        life = [v for v in _hex_values(device / "life_time") if v]
        eol = _hex_values(device / "pre_eol_info")
        if life or eol:
            return _life_pct(life), (eol[0] if eol and eol[0] <= 3 else None)  # noqa: PLR2004
    for pattern in UFS:
        for desc in sorted(root.glob(pattern)):
            life = [
                v
                for name in ("life_time_estimation_a", "life_time_estimation_b")
                for v in _hex_values(desc / name)
                if v
            ]
            eol = _hex_values(desc / "eol_info")
            if life or eol:
                return _life_pct(life), (eol[0] if eol and eol[0] <= 3 else None)  # noqa: PLR2004
    return None, None


def _life_pct(steps: list[int]) -> float | None:
    """JEDEC life time estimate: 0x01 = 0-10% used ... 0x0A = 90-100%, 0x0B = exceeded."""
    return min(max(steps) * 10.0, 100.0) if steps else None
