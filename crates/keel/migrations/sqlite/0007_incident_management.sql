-- Schema 7: incident management (8.6.1) completed: reassignment count, priority overridden
-- with a reason, major incidents with their manager, communication log and review.
ALTER TABLE work_items ADD COLUMN reassignment_count BIGINT NOT NULL DEFAULT 0;
-- Set when someone overrode the matrix priority; the reason is audited with the change.
ALTER TABLE work_items ADD COLUMN priority_reason TEXT;

CREATE TABLE major_incidents (
    item_id      BIGINT PRIMARY KEY REFERENCES work_items(id),
    criterion    TEXT NOT NULL,
    manager_id   BIGINT NOT NULL REFERENCES users(id),
    declared_by  BIGINT REFERENCES users(id),
    declared_at  BIGINT NOT NULL,
    review       TEXT,
    reviewed_by  BIGINT REFERENCES users(id),
    reviewed_at  BIGINT
);

CREATE TABLE communications (
    id        INTEGER PRIMARY KEY,
    item_id   BIGINT NOT NULL REFERENCES work_items(id),
    audience  TEXT NOT NULL,
    body      TEXT NOT NULL,
    sent_by   BIGINT REFERENCES users(id),
    sent_at   BIGINT NOT NULL
);
CREATE INDEX communications_item ON communications (item_id, id);
