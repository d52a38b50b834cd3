"""Streaming detectors: per-device river models and fault rules, turning telemetry into findings."""
