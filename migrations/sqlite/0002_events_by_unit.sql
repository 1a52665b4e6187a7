-- SQLite only: raw events clustered by test and unit, and the per-unit state kept in them.
--
-- Ingestion used to touch three B-trees with random keys per event: `events` by event_id,
-- `exposures` by (test, unit) and `unit_metrics` by (test, unit, metric). Each random key
-- dirties its own page, and with one writer the pages written per commit set the speed.
-- Now one table holds a unit's events side by side, keyed (test, unit_id, event_id): the
-- unit's first exposure and its metric totals are read from the same page its new event goes
-- to. `counted` marks what counts: the exposure that fixed the unit's variant, device and
-- persona, and the conversions that arrived once the unit was exposed.
-- A re-delivered event is recognised by its event_id within its test and unit.
-- PostgreSQL keeps the separate per-unit tables: there several processes write at once, and
-- their unique keys are what keeps them exact.

CREATE TABLE events_by_unit (
    test TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    metric TEXT,
    value DOUBLE PRECISION,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    ts BIGINT NOT NULL,
    snapshot_version BIGINT,
    site TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    counted INTEGER NOT NULL,
    PRIMARY KEY (test, unit_id, event_id)
) WITHOUT ROWID;

INSERT INTO events_by_unit
SELECT test, unit_id, event_id, kind, variant, metric, value, device, persona, ts,
       snapshot_version, site, received_at, 0
FROM events;

-- The exposure that fixed each unit: the earliest received event matching its state row.
UPDATE events_by_unit SET counted = 1
WHERE kind = 'exposure' AND event_id = (
    SELECT e.event_id FROM events_by_unit e
    JOIN exposures x ON x.test = e.test AND x.unit_id = e.unit_id
    WHERE e.test = events_by_unit.test AND e.unit_id = events_by_unit.unit_id
      AND e.kind = 'exposure' AND e.variant = x.variant AND e.device = x.device
      AND e.persona = x.persona AND e.ts = x.ts
    ORDER BY e.received_at, e.event_id
    LIMIT 1);

-- Conversions count once the unit was exposed.
UPDATE events_by_unit SET counted = 1
WHERE kind = 'conversion' AND EXISTS (
    SELECT 1 FROM events_by_unit e
    WHERE e.test = events_by_unit.test AND e.unit_id = events_by_unit.unit_id
      AND e.kind = 'exposure' AND e.counted = 1
      AND e.received_at <= events_by_unit.received_at);

-- The aggregates, recomputed from what is marked counted so both agree exactly.
DELETE FROM agg_exposures;
INSERT INTO agg_exposures (test, variant, device, persona, units)
SELECT test, variant, device, persona, COUNT(*)
FROM events_by_unit WHERE kind = 'exposure' AND counted = 1
GROUP BY test, variant, device, persona;

DELETE FROM agg_metrics;
INSERT INTO agg_metrics (test, variant, device, persona, metric, units, sum, sum_sq)
SELECT u.test, x.variant, x.device, x.persona, u.metric, COUNT(*), SUM(u.v), SUM(u.v * u.v)
FROM (
    SELECT c.test, c.unit_id, c.metric,
           CASE WHEN k.kind = 'value' THEN TOTAL(c.value) ELSE 1.0 END AS v
    FROM events_by_unit c
    LEFT JOIN (
        SELECT t.key AS test, json_extract(m.value, '$.key') AS metric,
               json_extract(m.value, '$.kind') AS kind
        FROM tests t, json_each(t.spec, '$.metrics') m
    ) k ON k.test = c.test AND k.metric = c.metric
    WHERE c.kind = 'conversion' AND c.counted = 1
    GROUP BY c.test, c.unit_id, c.metric
) u
JOIN events_by_unit x ON x.test = u.test AND x.unit_id = u.unit_id
    AND x.kind = 'exposure' AND x.counted = 1
GROUP BY u.test, x.variant, x.device, x.persona, u.metric;

DROP TABLE events;
DROP TABLE exposures;
DROP TABLE unit_metrics;
ALTER TABLE events_by_unit RENAME TO events;
