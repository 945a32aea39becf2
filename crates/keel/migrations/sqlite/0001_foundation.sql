-- Keel schema 1: people and access, the work-item kernel, the audit trail, jobs.
-- Instants are epoch milliseconds (BIGINT), flags are 0/1 BIGINT, JSON is TEXT: the same column
-- types decode identically on SQLite and PostgreSQL.

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT,
    customer_id    BIGINT REFERENCES customers(id),
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX users_customer ON users(customer_id);

CREATE TABLE support_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    manager_id  BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES support_groups(id),
    user_id  BIGINT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE services (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    owner_id    BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures(email, at);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE work_items (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL,
    seq                 BIGINT NOT NULL,
    number              TEXT NOT NULL UNIQUE,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL,
    impact              BIGINT NOT NULL,
    urgency             BIGINT NOT NULL,
    priority            BIGINT NOT NULL,
    category            TEXT,
    requester_id        BIGINT REFERENCES users(id),
    customer_id         BIGINT REFERENCES customers(id),
    service_id          BIGINT REFERENCES services(id),
    assignment_group_id BIGINT REFERENCES support_groups(id),
    assignee_id         BIGINT REFERENCES users(id),
    hold_reason         TEXT,
    resolution_code     TEXT,
    resolution_notes    TEXT,
    channel             TEXT NOT NULL,
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    resolved_at         BIGINT,
    closed_at           BIGINT,
    UNIQUE (kind, seq)
);
CREATE INDEX work_items_kind_created ON work_items(kind, created_at, id);
CREATE INDEX work_items_kind_updated ON work_items(kind, updated_at, id);
CREATE INDEX work_items_kind_state ON work_items(kind, state, priority);
CREATE INDEX work_items_group ON work_items(assignment_group_id, state);
CREATE INDEX work_items_assignee ON work_items(assignee_id, state);
CREATE INDEX work_items_requester ON work_items(requester_id);
CREATE INDEX work_items_customer ON work_items(customer_id);
CREATE INDEX work_items_resolved ON work_items(state, resolved_at);

CREATE TABLE work_item_transitions (
    id        INTEGER PRIMARY KEY,
    item_id   BIGINT NOT NULL REFERENCES work_items(id),
    from_state TEXT,
    to_state  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    actor_id  BIGINT REFERENCES users(id)
);
CREATE INDEX work_item_transitions_item ON work_item_transitions(item_id, at);

CREATE TABLE work_item_links (
    id         INTEGER PRIMARY KEY,
    from_id    BIGINT NOT NULL REFERENCES work_items(id),
    to_id      BIGINT NOT NULL REFERENCES work_items(id),
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    UNIQUE (from_id, to_id, kind)
);
CREATE INDEX work_item_links_to ON work_item_links(to_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    item_id    BIGINT NOT NULL REFERENCES work_items(id),
    author_id  BIGINT REFERENCES users(id),
    body       TEXT NOT NULL,
    internal   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX comments_item ON comments(item_id, created_at);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    item_id      BIGINT NOT NULL REFERENCES work_items(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    data         BLOB,
    path         TEXT,
    uploaded_by  BIGINT REFERENCES users(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_item ON attachments(item_id);

CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY,
    seq       BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    changes     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log(entity_type, entity_id, seq);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX jobs_ready ON jobs(state, run_at);

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    interval_ms BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL
);

CREATE TABLE idempotency_keys (
    user_id     BIGINT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      BIGINT NOT NULL,
    body        TEXT NOT NULL,
    location    TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
