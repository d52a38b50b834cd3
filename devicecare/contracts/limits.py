"""Numeric limits of the wire protocol (version 1), shared by agents and the server."""

from datetime import UTC, datetime

SCHEMA_VERSION = 1

MAX_WIRE_BYTES = 256 * 1024
"""Largest MQTT payload accepted, as sent (compressed or not)."""

MAX_JSON_BYTES = 2 * 1024 * 1024
"""Largest JSON document accepted after decompression (zip-bomb guard)."""

MAX_JSON_DEPTH = 16
"""Deepest nesting of arrays and objects accepted; checked before the JSON decoder runs.

A valid version-1 message nests at most 5 levels (batch, samples, sample, detail, zones);
the limit keeps a hostile document from exhausting the decoder's recursion."""

MAX_SAMPLES_PER_BATCH = 2000
MAX_EVENTS_PER_BATCH = 500

MAX_FUTURE_SKEW_S = 10 * 60
"""A timestamp more than this ahead of the server's clock is rejected."""

MAX_AGE_S = 90 * 24 * 3600
"""A sample older than this (an agent's backlog after a long outage) is rejected."""

MIN_TIMESTAMP_MS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp() * 1000)
MAX_SEQ = 2**63 - 1
MAX_BYTES = 2**62
