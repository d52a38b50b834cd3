-- Core schema: hypertables for samples and events, relational tables for the rest.
-- Runs identically on the apache and timescale editions of TimescaleDB.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE customers (
    customer_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    external_ref  text UNIQUE,
    name          text,
    email         text,
    phone         text,
    locale        text NOT NULL DEFAULT 'en',
    timezone      text NOT NULL DEFAULT 'UTC',
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    device_id           text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    customer_id         uuid REFERENCES customers ON DELETE SET NULL,
    model               text,
    os_name             text,
    os_version          text,
    agent_version       text,
    consent_telemetry   boolean NOT NULL DEFAULT false,
    consent_care_offers boolean NOT NULL DEFAULT false,
    consent_email       boolean NOT NULL DEFAULT false,
    consent_changed_at  timestamptz,
    status              text NOT NULL DEFAULT 'unknown'
                        CHECK (status IN ('unknown', 'online', 'offline')),
    last_seen_at        timestamptz,
    registered_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_customer_idx ON devices (customer_id);
CREATE INDEX devices_cohort_idx ON devices (model, os_version);

-- One row per accepted uplink batch: (device_id, seq) makes re-sent batches idempotent.
CREATE TABLE batches (
    device_id    text NOT NULL,
    seq          bigint NOT NULL CHECK (seq >= 0),
    channel      text NOT NULL CHECK (channel IN ('telemetry', 'events')),
    sent_at      timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    rows         integer NOT NULL CHECK (rows > 0),
    PRIMARY KEY (device_id, seq)
);

-- One row per gauge snapshot; each metric of the wire contract is one nullable column.
CREATE TABLE samples (
    ts                      timestamptz NOT NULL,
    device_id               text NOT NULL,
    seq                     bigint NOT NULL,
    battery_pct             real,
    battery_charging        boolean,
    battery_voltage_v       real,
    battery_current_a       real,
    battery_temp_c          real,
    battery_full_wh         real,
    battery_design_wh       real,
    battery_cycles          integer,
    cpu_temp_c              real,
    thermal_throttled       boolean,
    cpu_load_pct            real,
    storage_total_bytes     bigint,
    storage_free_bytes      bigint,
    storage_inodes_used_pct real,
    flash_wear_pct          real,
    flash_pre_eol           smallint,
    detail                  jsonb
);
SELECT create_hypertable('samples', by_range('ts', INTERVAL '1 day'));
CREATE INDEX samples_device_ts_idx ON samples (device_id, ts DESC);

CREATE TABLE events (
    ts           timestamptz NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    kind         text NOT NULL
                 CHECK (kind IN ('app_crash', 'native_crash', 'kernel_oops', 'kernel_panic', 'reboot')),
    process      text,
    signature    text,
    app_version  text,
    detail       jsonb
);
SELECT create_hypertable('events', by_range('ts', INTERVAL '7 days'));
CREATE INDEX events_device_ts_idx ON events (device_id, ts DESC);
CREATE INDEX events_signature_ts_idx ON events (signature, ts DESC) WHERE signature IS NOT NULL;

CREATE TABLE findings (
    finding_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    text NOT NULL REFERENCES devices ON DELETE CASCADE,
    fault_kind   text NOT NULL,
    status       text NOT NULL DEFAULT 'open'
                 CHECK (status IN ('open', 'resolved', 'false_alarm')),
    severity     text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    confidence   real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    onset_at     timestamptz,
    detected_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    detector     text NOT NULL,
    reason       text NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX findings_one_open_idx ON findings (device_id, fault_kind) WHERE status = 'open';
CREATE INDEX findings_device_idx ON findings (device_id, detected_at DESC);

CREATE TABLE offers (
    offer_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id    text NOT NULL REFERENCES devices ON DELETE CASCADE,
    finding_id   bigint REFERENCES findings ON DELETE SET NULL,
    fault_kind   text NOT NULL,
    kind         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    status       text NOT NULL DEFAULT 'created'
                 CHECK (status IN ('created', 'sent', 'delivered', 'viewed', 'accepted',
                                   'declined', 'expired', 'resolved')),
    locale       text NOT NULL DEFAULT 'en',
    title        text NOT NULL,
    body         text NOT NULL,
    channel      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz
);
CREATE UNIQUE INDEX offers_one_live_idx ON offers (device_id, fault_kind)
    WHERE status IN ('created', 'sent', 'delivered', 'viewed');
CREATE INDEX offers_device_idx ON offers (device_id, created_at DESC);

-- Every touch point of a customer or device: device app, web, hotline, store, e-mail.
CREATE TABLE interactions (
    interaction_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts             timestamptz NOT NULL DEFAULT now(),
    customer_id    uuid REFERENCES customers ON DELETE CASCADE,
    device_id      text REFERENCES devices ON DELETE CASCADE,
    touchpoint     text NOT NULL
                   CHECK (touchpoint IN ('device_app', 'web', 'hotline', 'store', 'email', 'system')),
    kind           text NOT NULL,
    offer_id       uuid REFERENCES offers ON DELETE SET NULL,
    finding_id     bigint REFERENCES findings ON DELETE SET NULL,
    actor          text,
    summary        text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}',
    CHECK (customer_id IS NOT NULL OR device_id IS NOT NULL)
);
CREATE INDEX interactions_device_idx ON interactions (device_id, ts DESC);
CREATE INDEX interactions_customer_idx ON interactions (customer_id, ts DESC);

CREATE TABLE dead_letters (
    dead_letter_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    topic          text NOT NULL,
    device_id      text,
    reason         text NOT NULL,
    detail         text NOT NULL,
    payload_size   integer NOT NULL,
    payload_head   bytea NOT NULL CHECK (octet_length(payload_head) <= 1024)
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);

-- Detector state per partition of the device space (hash of the device id).
CREATE TABLE detector_checkpoints (
    profile      text NOT NULL,
    partition    integer NOT NULL CHECK (partition >= 0),
    owner        text,
    state        bytea NOT NULL,
    devices      integer NOT NULL DEFAULT 0,
    watermark    timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile, partition)
);

-- How long raw data is kept; applied by TimescaleDB policies (timescale edition) or by
-- `devicecare db maintain` (apache edition).
CREATE TABLE retention_policies (
    hypertable  regclass PRIMARY KEY,
    drop_after  interval NOT NULL CHECK (drop_after > INTERVAL '1 day')
);
INSERT INTO retention_policies VALUES ('samples', INTERVAL '400 days'), ('events', INTERVAL '730 days');
