"""DeviceCare: proactive device-health telemetry."""

from importlib.metadata import version

__version__ = version("devicecare")
