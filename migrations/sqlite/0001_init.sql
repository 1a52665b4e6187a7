-- Edgewise control plane schema (SQLite). Times are Unix milliseconds; JSON is TEXT.
-- Kept column-for-column equal to ../postgres/0001_init.sql so queries run on both.

CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('audit', 0), ('snapshot', 0);

CREATE TABLE tests (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    winner TEXT,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE snapshots (
    version BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE publish_state (
    target TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE ingest_keys (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

-- Raw events: the idempotency record and the data a GDPR erasure removes. Deliberately no
-- index on unit_id: every random-key index costs a page write per event at ingest, and an
-- erasure (rare) can afford a scan. exposures and unit_metrics are found by key per test.
CREATE TABLE events (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    test TEXT NOT NULL,
    variant TEXT NOT NULL,
    metric TEXT,
    value DOUBLE PRECISION,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    ts BIGINT NOT NULL,
    snapshot_version BIGINT,
    site TEXT NOT NULL,
    received_at BIGINT NOT NULL
) WITHOUT ROWID;

-- A unit's first exposure to a test: fixes its variant, device and persona.
CREATE TABLE exposures (
    test TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (test, unit_id)
) WITHOUT ROWID;

-- Per unit and metric: counted conversions and the unit's summed value.
CREATE TABLE unit_metrics (
    test TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    conversions BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, unit_id, metric)
) WITHOUT ROWID;

CREATE TABLE agg_exposures (
    test TEXT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    units BIGINT NOT NULL,
    PRIMARY KEY (test, variant, device, persona)
) WITHOUT ROWID;

CREATE TABLE agg_metrics (
    test TEXT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    metric TEXT NOT NULL,
    units BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, variant, device, persona, metric)
) WITHOUT ROWID;
