-- Who logged an event (issue 21): `edge` when the worker logged an exposure itself as it served
-- a page in proxy mode, `browser` otherwise (every event before this). The column is
-- `logged_by`, not `source`, which already names the traffic-source dimension. Column for
-- column equal to ../sqlite/0013_event_source.sql.
--
-- Kept with the raw event and with the unit's counted (first) exposure, so an erasure knows
-- what to take back, and counted per cell: `edge_units` of a cell's `units` had their counted
-- exposure logged by the edge. Adding a column with a constant default rewrites no rows.
ALTER TABLE events ADD COLUMN logged_by TEXT NOT NULL DEFAULT 'browser';
ALTER TABLE exposures ADD COLUMN logged_by TEXT NOT NULL DEFAULT 'browser';
ALTER TABLE agg_exposures ADD COLUMN edge_units BIGINT NOT NULL DEFAULT 0;
