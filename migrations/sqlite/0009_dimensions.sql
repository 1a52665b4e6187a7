-- Results by dimension (issue 25). Column-for-column equal to ../postgres/0007_dimensions.sql.
--
-- A unit's values of its test's exposure dimensions (country, browser, source, attr.NAME),
-- fixed at its first exposure, as a JSON object ('' for a test without dimensions); and per
-- test, dimension and value, the marginal aggregates: metric '' counts exposed units, other
-- rows hold a metric's sums as agg_metrics does. A test keeps at most 1,000 values per
-- dimension (per SQLite file); later values count as '(other)'.
ALTER TABLE exposures ADD COLUMN dims TEXT NOT NULL DEFAULT '';

CREATE TABLE agg_dims (
    test TEXT NOT NULL,
    dimension TEXT NOT NULL,
    metric TEXT NOT NULL,
    value TEXT NOT NULL,
    variant TEXT NOT NULL,
    units BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    den_sum DOUBLE PRECISION NOT NULL,
    den_sum_sq DOUBLE PRECISION NOT NULL,
    sum_product DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, dimension, metric, value, variant)
) WITHOUT ROWID;
