-- Quantile sketches (issue 25). Column-for-column equal to ../postgres/0006_sketch.sql.
--
-- Per cell and metric, the buckets of the metric's per-unit values (shared/src/metrics/
-- sketch.rs: logarithmic buckets, 0.1% relative accuracy): units, and their values' sum and
-- sum of squares. Kept for unit-level quantile metrics and percentile-capped metrics only;
-- ingestion moves a unit from its old value's bucket to its new one.
CREATE TABLE agg_sketch (
    test TEXT NOT NULL,
    variant TEXT NOT NULL,
    device TEXT NOT NULL,
    persona TEXT NOT NULL,
    metric TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    units BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, metric, variant, device, persona, bucket)
) WITHOUT ROWID;
