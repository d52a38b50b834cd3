-- Care API: API keys with roles, an audit log, repair triage with its outcome, and the
-- anonymous counters an erasure leaves behind.

-- A key is shown once; only its SHA-256 is stored (keys are 256-bit random, so a plain
-- hash is enough: there is nothing to guess).
CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role        text NOT NULL CHECK (role IN ('support', 'engineer', 'admin')),
    hash        bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz
);

-- Who did what to whose data: exports, erasures, consent changes, key changes.
CREATE TABLE audit_log (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    subject      text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_ts_idx ON audit_log (ts DESC);

-- One repair triage: the owner's complaint, the verdict with its evidence, and later what
-- the repair bench found.
CREATE TABLE triages (
    triage_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id    text NOT NULL REFERENCES devices ON DELETE CASCADE,
    customer_id  uuid REFERENCES customers ON DELETE SET NULL,
    ts           timestamptz NOT NULL,
    touchpoint   text NOT NULL
                 CHECK (touchpoint IN ('device_app', 'web', 'hotline', 'store', 'email', 'system')),
    actor        text NOT NULL,
    complaint    text NOT NULL CHECK (complaint IN ('battery', 'heat', 'storage', 'crashes', 'other')),
    note         text,
    verdict      text NOT NULL CHECK (verdict IN ('confirmed_fault', 'likely_fault_test_first',
                 'no_fault_usage', 'no_fault_software', 'cohort_issue', 'insufficient_data')),
    confidence   real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence     jsonb NOT NULL DEFAULT '[]',
    advice       text NOT NULL,
    outcome      text CHECK (outcome IN ('fault_found', 'no_fault_found')),
    outcome_at   timestamptz,
    outcome_note text
);
CREATE INDEX triages_device_idx ON triages (device_id, ts DESC);

-- What an erasure leaves: how many rows of each kind were erased, per day, no ids.
CREATE TABLE erasure_counters (
    day          date NOT NULL,
    item         text NOT NULL,
    erased       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, item)
);
