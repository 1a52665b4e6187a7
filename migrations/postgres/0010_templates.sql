-- The org's own test templates (issue 19). Column-for-column equal to ../sqlite/0012_templates.sql.
--
-- Every version of every template: a change adds the next version, a deletion adds a version
-- with `deleted` = 1 (and the last body), so the history stays and a name can come back.
CREATE TABLE templates (
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    deleted BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
