-- Ratio metrics: a ratio's aggregate row also keeps its denominator's per-unit sums and the
-- sum of numerator × denominator (the delta method's cross-product). Other metrics' rows keep
-- 0 there. The history copies the rows as they are.
ALTER TABLE agg_metrics
    ADD COLUMN den_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN den_sum_sq DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN sum_product DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE history_metrics
    ADD COLUMN den_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN den_sum_sq DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN sum_product DOUBLE PRECISION NOT NULL DEFAULT 0;
