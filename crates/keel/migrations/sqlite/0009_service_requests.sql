-- Schema 9: service requests (8.6.2): request types with approval policy and staged tasks,
-- approvals, fulfilment tasks; a user's manager (the approver of "requester_manager").
ALTER TABLE users ADD COLUMN manager_id BIGINT REFERENCES users(id);

CREATE TABLE request_types (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    service_id   BIGINT REFERENCES services(id),
    -- comma-separated: requester_manager, service_owner, named
    approvers    TEXT NOT NULL DEFAULT '',
    approver_id  BIGINT REFERENCES users(id),
    -- JSON: [{"name": "Create account", "group_id": 3, "stage": 1}, …]
    tasks        TEXT NOT NULL DEFAULT '[]',
    active       BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    item_id      BIGINT NOT NULL REFERENCES work_items(id),
    basis        TEXT NOT NULL,
    approver_id  BIGINT NOT NULL REFERENCES users(id),
    decision     TEXT NOT NULL,
    comment      TEXT,
    decided_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX approvals_item ON approvals (item_id);
CREATE INDEX approvals_pending ON approvals (approver_id, decision);

CREATE TABLE request_tasks (
    id           INTEGER PRIMARY KEY,
    item_id      BIGINT NOT NULL REFERENCES work_items(id),
    stage        BIGINT NOT NULL,
    name         TEXT NOT NULL,
    group_id     BIGINT REFERENCES support_groups(id),
    state        TEXT NOT NULL,
    note         TEXT,
    done_by      BIGINT REFERENCES users(id),
    done_at      BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX request_tasks_item ON request_tasks (item_id, stage);
