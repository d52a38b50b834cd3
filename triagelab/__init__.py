"""Repair triage evaluated on simulated fleets: complaining owners with a known true cause.

Kept apart from `care` (which the API serves) because it drives the simulator and may
start a temporary local stack: tooling above the services, like the demo.
"""
