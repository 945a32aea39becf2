-- Management reviews (ISO/IEC 20000-1 9.3): planned and held reviews with their inputs compiled
-- from Keel's records (kept as they were when compiled), minutes and decisions; their actions
-- are gap-plan actions that name the review.

CREATE TABLE management_reviews (
    id           INTEGER PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    planned_on   TEXT NOT NULL,
    held_on      TEXT,
    attendees    TEXT NOT NULL DEFAULT '',
    period_from  BIGINT NOT NULL,
    period_to    BIGINT NOT NULL,
    state        TEXT NOT NULL,
    -- JSON object: each 9.3 input as compiled, and when
    inputs       TEXT,
    compiled_at  BIGINT,
    minutes      TEXT,
    decisions    TEXT,
    version      BIGINT NOT NULL DEFAULT 1,
    created_by   BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

ALTER TABLE compliance_actions ADD COLUMN review_id BIGINT REFERENCES management_reviews(id);
