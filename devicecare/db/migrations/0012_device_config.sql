-- Remote configuration: layers set for the fleet, a cohort or one device, each a new
-- revision; the effective config of a device merges them (device over cohort over fleet)
-- and is published retained on its `config` topic.
CREATE TABLE device_config_layers (
    revision    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('fleet', 'cohort', 'device')),
    model       text,
    os_version  text,
    device_id   text REFERENCES devices ON DELETE CASCADE,
    settings    jsonb NOT NULL,
    actor       text NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE scope
        WHEN 'fleet' THEN model IS NULL AND os_version IS NULL AND device_id IS NULL
        WHEN 'cohort' THEN model IS NOT NULL AND device_id IS NULL
        ELSE device_id IS NOT NULL AND model IS NULL AND os_version IS NULL
    END)
);
CREATE INDEX device_config_layers_device_idx ON device_config_layers (device_id, revision DESC);
CREATE INDEX device_config_layers_cohort_idx ON device_config_layers (model, os_version, revision DESC);

-- The last config revision published to each device (the agent reports the one it applied
-- in its status: devices.status_detail->'config_revision' / 'config_error').
CREATE TABLE device_config_sent (
    device_id   text PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    revision    bigint NOT NULL,
    sent_at     timestamptz NOT NULL
);
