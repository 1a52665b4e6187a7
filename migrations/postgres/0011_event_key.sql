-- Engine parity (issue 22): PostgreSQL recognises a re-delivered event by the same key as
-- SQLite, its time, id, test and unit together (../sqlite/0003_events_by_time.sql), instead of
-- its id alone. The same stream now counts the same on both engines.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (ts, event_id, test, unit_id);
