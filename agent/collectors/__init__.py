"""Registered collectors, by name. Adding one is a module and one line here."""

from agent.collectors.base import Collector, CollectorContext, KeyedEvent, Reading
from agent.collectors.battery import BatteryCollector
from agent.collectors.crash import CrashCollector
from agent.collectors.storage import StorageCollector
from agent.collectors.thermal import ThermalCollector
from devicecare.contracts import CollectorName

REGISTRY: dict[CollectorName, type[Collector]] = {
    c.name: c for c in (BatteryCollector, ThermalCollector, CrashCollector, StorageCollector)
}

__all__ = ["REGISTRY", "Collector", "CollectorContext", "KeyedEvent", "Reading"]
