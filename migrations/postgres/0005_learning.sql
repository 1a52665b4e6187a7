-- Learning across tests (issue 18). Column-for-column equal to ../sqlite/0007_learning.sql.
--
-- What a stopped test teaches: per metric and non-control variant, its relative lift and
-- standard error overall, and per segment (`segments`: JSON {"device:mobile": {"lift", "se"}}),
-- with the test's tags (JSON array) as they were. Written once, when the test stops, from its
-- aggregates; learning never recomputes old tests from raw events.
CREATE TABLE learned_effects (
    test TEXT NOT NULL,
    metric TEXT NOT NULL,
    variant TEXT NOT NULL,
    tags TEXT NOT NULL,
    lift DOUBLE PRECISION NOT NULL,
    se DOUBLE PRECISION NOT NULL,
    segments TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (test, metric, variant)
);
