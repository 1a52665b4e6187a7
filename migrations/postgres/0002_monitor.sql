-- The monitor (issue 16): when each test started, the time-bucketed history of its aggregates,
-- the monitor's latest evaluation and memory of findings, alerts, and webhooks with their
-- durable outbox and delivery log. Column-for-column equal on SQLite and PostgreSQL; only the
-- id columns' types differ.

ALTER TABLE tests ADD COLUMN started_at BIGINT;
UPDATE tests SET started_at =
    (SELECT MIN(at) FROM audit WHERE audit.action = 'test.start' AND audit.target = tests.key);

-- Cumulative aggregates as they stood at the end of each closed time bucket (bucket = start
-- of the bucket, Unix ms). Written once per bucket by the monitor, from the aggregates.
CREATE TABLE history_exposures (
    test TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    units BIGINT NOT NULL,
    PRIMARY KEY (test, bucket, variant, device, persona)
);

CREATE TABLE history_metrics (
    test TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    metric TEXT NOT NULL,
    units BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, bucket, variant, device, persona, metric)
);

CREATE TABLE monitor_evaluations (
    test TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE monitor_memory (
    test TEXT NOT NULL,
    finding TEXT NOT NULL,
    acted_at_severity DOUBLE PRECISION,
    PRIMARY KEY (test, finding)
);

CREATE TABLE monitor_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    test TEXT NOT NULL,
    kind TEXT NOT NULL,
    finding TEXT NOT NULL,
    severity DOUBLE PRECISION NOT NULL,
    message TEXT NOT NULL,
    detail TEXT NOT NULL,
    action TEXT,
    acked_at BIGINT,
    acked_by TEXT
);
CREATE INDEX alerts_by_test ON alerts (test, id);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_outbox (
    id BIGSERIAL PRIMARY KEY,
    webhook TEXT NOT NULL,
    alert BIGINT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (webhook, alert)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_at);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    outbox BIGINT NOT NULL,
    webhook TEXT NOT NULL,
    at BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    status BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook, id);
