-- CUPED (issue 25). Column-for-column equal to ../postgres/0008_cuped.sql.
--
-- A unit's pre-exposure covariates, per metric that names one, from its first exposure (a JSON
-- object, '' without any); per aggregate row, the covariate's sum and sum of squares over the
-- cell's exposed units and the sum of per-unit value × covariate. Other rows keep 0 there.
ALTER TABLE exposures ADD COLUMN covs TEXT NOT NULL DEFAULT '';
ALTER TABLE agg_metrics ADD COLUMN cov_sum DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE agg_metrics ADD COLUMN cov_sum_sq DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE agg_metrics ADD COLUMN cov_product DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE history_metrics ADD COLUMN cov_sum DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE history_metrics ADD COLUMN cov_sum_sq DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE history_metrics ADD COLUMN cov_product DOUBLE PRECISION NOT NULL DEFAULT 0;
