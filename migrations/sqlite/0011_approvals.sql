-- Approvals, four eyes (issue 19). Column-for-column equal to ../postgres/0009_approvals.sql.
--
-- Every approval or rejection of a test, in order: who, which, their comment, and the hash of
-- the test's definition it concerned. An entry counts only while the definition is unchanged,
-- so a change to an approved test withdraws its approvals and the history stays.
CREATE TABLE approvals (
    test TEXT NOT NULL,
    seq BIGINT NOT NULL,
    actor TEXT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (test, seq)
);
