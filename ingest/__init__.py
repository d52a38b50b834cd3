"""Ingest: device messages from MQTT into TimescaleDB, validated, exactly once, acked late."""
