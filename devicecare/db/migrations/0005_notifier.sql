-- Notifier: offer life cycle and delivery, every delivery attempt, the notifier's memory
-- of the findings it looked at, suppressions with their reason, fleet alerts and the
-- owners' feedback on findings (for detector tuning).

ALTER TABLE offers
    ADD COLUMN customer_id     uuid REFERENCES customers ON DELETE SET NULL,
    ADD COLUMN rule            text,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN held_reason     text,
    ADD COLUMN sent_at         timestamptz,
    ADD COLUMN delivered_at    timestamptz,
    ADD COLUMN viewed_at       timestamptz,
    ADD COLUMN answered_at     timestamptz,
    ADD COLUMN answer          text CHECK (answer IN ('accept', 'dismiss', 'wrong')),
    ADD COLUMN reminded_at     timestamptz,
    ADD COLUMN closed_at       timestamptz;
CREATE INDEX offers_due_idx ON offers (next_attempt_at) WHERE status = 'created';
CREATE INDEX offers_customer_idx ON offers (customer_id, created_at DESC);
CREATE INDEX offers_finding_idx ON offers (finding_id);

-- Every delivery attempt on every channel, successful or not.
CREATE TABLE offer_attempts (
    attempt_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    offer_id     uuid NOT NULL REFERENCES offers ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('offer', 'reminder')),
    channel      text NOT NULL,
    attempt      integer NOT NULL CHECK (attempt >= 1),
    at           timestamptz NOT NULL,
    ok           boolean NOT NULL,
    permanent    boolean NOT NULL DEFAULT false,
    duration_ms  real NOT NULL,
    detail       text NOT NULL DEFAULT '',
    retry_at     timestamptz
);
CREATE INDEX offer_attempts_offer_idx ON offer_attempts (offer_id, attempt_id);

-- The notifier's memory of each finding: what it decided at which severity, and when to
-- look again (a cap or storm that may lift); a finding whose severity rises is looked at
-- again at once.
CREATE TABLE notifier_decisions (
    finding_id  bigint PRIMARY KEY REFERENCES findings ON DELETE CASCADE,
    severity    text NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    outcome     text NOT NULL CHECK (outcome IN ('offered', 'suppressed', 'no_offer')),
    reason      text,
    offer_id    uuid REFERENCES offers ON DELETE SET NULL,
    decided_at  timestamptz NOT NULL,
    recheck_at  timestamptz
);
CREATE INDEX notifier_decisions_recheck_idx ON notifier_decisions (recheck_at)
    WHERE recheck_at IS NOT NULL;

-- Fleet-level alerts for engineers: an offer storm holds the offers of one kind.
CREATE TABLE fleet_alerts (
    alert_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('offer_storm')),
    offer_kind   text NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'released', 'dismissed')),
    raised_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    devices      integer NOT NULL,
    fleet        integer NOT NULL,
    summary      text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX fleet_alerts_one_open_idx ON fleet_alerts (kind, offer_kind)
    WHERE status = 'open';

-- Every offer that was not made or not sent when it would have been, with its reason.
CREATE TABLE offer_suppressions (
    suppression_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts             timestamptz NOT NULL,
    reason         text NOT NULL CHECK (reason IN ('consent', 'no_channel', 'quiet_hours',
                                        'cooldown', 'frequency_cap', 'storm', 'undeliverable')),
    device_id      text NOT NULL REFERENCES devices ON DELETE CASCADE,
    customer_id    uuid REFERENCES customers ON DELETE SET NULL,
    finding_id     bigint REFERENCES findings ON DELETE SET NULL,
    offer_id       uuid REFERENCES offers ON DELETE SET NULL,
    alert_id       bigint REFERENCES fleet_alerts ON DELETE SET NULL,
    fault_kind     text NOT NULL,
    offer_kind     text,
    severity       text NOT NULL,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX offer_suppressions_reason_idx ON offer_suppressions (reason, ts DESC);
CREATE INDEX offer_suppressions_device_idx ON offer_suppressions (device_id, ts DESC);

-- Owners' and staff's verdicts on findings, for detector tuning ("wrong" answers land here
-- as false_alarm, and the finding's status becomes false_alarm).
CREATE TABLE finding_feedback (
    feedback_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts           timestamptz NOT NULL,
    finding_id   bigint NOT NULL REFERENCES findings ON DELETE CASCADE,
    device_id    text NOT NULL REFERENCES devices ON DELETE CASCADE,
    fault_kind   text NOT NULL,
    detector     text NOT NULL,
    verdict      text NOT NULL CHECK (verdict IN ('false_alarm', 'confirmed')),
    source       text NOT NULL,
    offer_id     uuid REFERENCES offers ON DELETE SET NULL,
    comment      text
);
CREATE INDEX finding_feedback_detector_idx ON finding_feedback (detector, fault_kind, ts DESC);

-- Wake the notifier when findings or answers change (it also polls).
CREATE FUNCTION devicecare_notify_notifier() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('devicecare_notifier', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER findings_wake_notifier AFTER INSERT OR UPDATE ON findings
    FOR EACH STATEMENT EXECUTE FUNCTION devicecare_notify_notifier();
CREATE TRIGGER offer_responses_wake_notifier AFTER INSERT ON offer_responses
    FOR EACH STATEMENT EXECUTE FUNCTION devicecare_notify_notifier();
