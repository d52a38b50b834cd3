"""Template variables shared by several dashboards."""

from __future__ import annotations

from dashboards.builder import Variable

MODEL = Variable(
    "model", "Model", "SELECT DISTINCT model FROM devices WHERE model IS NOT NULL ORDER BY 1"
)
OS_VERSION = Variable(
    "os_version",
    "OS version",
    "SELECT DISTINCT os_version FROM devices"
    " WHERE model IN ($model) AND os_version IS NOT NULL ORDER BY 1",
)
DEVICE = Variable(
    "device",
    "Device",
    "SELECT device_id FROM devices WHERE model IN ($model) ORDER BY 1",
    multi=False,
    include_all=False,
)
