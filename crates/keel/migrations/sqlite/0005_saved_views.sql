-- Schema 5: saved views — a named list query (filters, filter expression, sort) of one kind,
-- personal or shared with everyone who may read that kind.
CREATE TABLE saved_views (
    id          INTEGER PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users(id),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    query       TEXT NOT NULL,
    shared      BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    UNIQUE (owner_id, kind, name)
);
