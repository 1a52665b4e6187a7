-- Bandits (issue 17). Column-for-column equal to ../sqlite/0006_bandits.sql.
--
-- A bandit test's unit remembers the stratum it was assigned in (the snapshot version that
-- assigned its variant) and the probability it was assigned with; the aggregates of bandit
-- tests are also kept per stratum, so results can weight each period by its share of all
-- units (docs/bandits.md). Rows of `agg_strata` with metric '' count exposed units.
ALTER TABLE exposures ADD COLUMN stratum BIGINT;
ALTER TABLE exposures ADD COLUMN propensity DOUBLE PRECISION;

CREATE TABLE agg_strata (
    test TEXT NOT NULL,
    stratum BIGINT NOT NULL,
    variant TEXT NOT NULL,
    metric TEXT NOT NULL,
    units BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test, stratum, variant, metric)
);

-- Each change of a bandit's weights: a period, from the snapshot version that carries them.
-- Period 0 (the weights the test started with) is not stored.
CREATE TABLE bandit_periods (
    test TEXT NOT NULL,
    period BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    snapshot_version BIGINT NOT NULL,
    weights TEXT NOT NULL,
    probability_best TEXT NOT NULL,
    PRIMARY KEY (test, period)
);
