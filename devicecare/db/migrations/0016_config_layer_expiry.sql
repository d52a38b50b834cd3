-- A configuration layer may expire (e.g. high-resolution sampling that a detector raised
-- for a day): past `expires_at` it no longer applies. Ending one (at its expiry, or
-- earlier) takes a new revision from the layers' own sequence, so a device's effective
-- revision still grows and the config without the layer is published as a change.
ALTER TABLE device_config_layers
    ADD COLUMN expires_at     timestamptz,
    ADD COLUMN ended_at       timestamptz,
    ADD COLUMN ended_revision bigint;
CREATE INDEX device_config_layers_open_idx ON device_config_layers (actor, expires_at)
    WHERE ended_revision IS NULL AND expires_at IS NOT NULL;
