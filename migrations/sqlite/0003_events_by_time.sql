-- SQLite only: raw events in time order, per-unit state in its own tables again.
--
-- Under 0002 every event went to its unit's place in one table keyed (test, unit_id,
-- event_id): with random units, each event dirtied a random page of a table that grew by a
-- row per event, and as the files grew past the page caches each such page was also read
-- back from the OS first. Now the growing table takes rows in about the order they happened,
-- keyed (ts, event_id, test, unit_id), so new rows fill the same few pages at its end. The
-- per-unit state, which grows with units rather than events, is back in `exposures` and
-- `unit_metrics` (as on PostgreSQL) and is read for every event but written only when it
-- changes: a unit's first exposure, its first counted conversion of a binomial metric
-- (whose row is then left alone: nothing more about it counts), and every counted
-- conversion of a value metric.
-- A re-delivered event is recognised by its event_id, time, test and unit together.

CREATE TABLE exposures (
    test TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    ts BIGINT NOT NULL,
    PRIMARY KEY (test, unit_id)
) WITHOUT ROWID;

INSERT INTO exposures (test, unit_id, variant, device, persona, ts)
SELECT test, unit_id, variant, device, persona, ts
FROM events WHERE kind = 'exposure' AND counted = 1;

CREATE TABLE unit_metrics (
    test TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    conversions BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, unit_id, metric)
) WITHOUT ROWID;

INSERT INTO unit_metrics (test, unit_id, metric, conversions, value)
SELECT test, unit_id, metric, COUNT(*), TOTAL(value)
FROM events WHERE kind = 'conversion' AND counted = 1
GROUP BY test, unit_id, metric;

CREATE TABLE events_by_time (
    event_id TEXT NOT NULL,
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
    received_at BIGINT NOT NULL,
    PRIMARY KEY (ts, event_id, test, unit_id)
) WITHOUT ROWID;

INSERT INTO events_by_time
SELECT event_id, kind, unit_id, test, variant, metric, value, device, persona, ts,
       snapshot_version, site, received_at
FROM events;

DROP TABLE events;
ALTER TABLE events_by_time RENAME TO events;
