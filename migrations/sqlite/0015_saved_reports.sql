-- Saved report definitions (issue 20, the dashboard): a name, which tests (status, tags, a
-- search), which metrics and which segments; `definition` is the JSON the API validated.
-- Column-for-column equal to ../postgres/0014_saved_reports.sql.

CREATE TABLE saved_reports (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
