"""The DeviceCare device agent: collects device health with consent, queues it on disk,
and streams it over MQTT; receives remote config and care offers.

It is built to stay small (no pydantic, no database drivers): see docs/agent.md.
"""
