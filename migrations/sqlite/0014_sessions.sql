-- Dashboard sign-in sessions (issue 20). Column-for-column equal to ../postgres/0013_sessions.sql.
--
-- A browser exchanges an API token for a session: the cookie's secret is stored only as its
-- SHA-256 hash; the session acts with its token's role for as long as the token exists and
-- the session has not expired or been signed out. `csrf` is the value every change made
-- with the cookie must repeat in its X-CSRF-Token header.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_token ON sessions (token_id);
