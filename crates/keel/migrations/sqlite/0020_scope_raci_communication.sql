-- The SMS scope as a record (4.3), RACI per process (5.3) and the communication plan (7.4).

-- One row (id 1): the scope statement, services in scope (JSON ids), locations, units, parties,
-- and exclusions as JSON [{"what": …, "reason": …}].
CREATE TABLE sms_scope (
    id          BIGINT PRIMARY KEY,
    statement   TEXT NOT NULL,
    services    TEXT NOT NULL,
    locations   TEXT NOT NULL DEFAULT '',
    units       TEXT NOT NULL DEFAULT '',
    parties     TEXT NOT NULL DEFAULT '',
    exclusions  TEXT NOT NULL DEFAULT '[]',
    version     BIGINT NOT NULL DEFAULT 1,
    updated_by  BIGINT REFERENCES users(id),
    updated_at  BIGINT NOT NULL
);

CREATE TABLE raci (
    process TEXT NOT NULL,
    who     TEXT NOT NULL,
    letter  TEXT NOT NULL,
    PRIMARY KEY (process, who)
);

CREATE TABLE communication_plan (
    id         INTEGER PRIMARY KEY,
    topic      TEXT NOT NULL,
    audience   TEXT NOT NULL,
    frequency  TEXT NOT NULL,
    channel    TEXT NOT NULL DEFAULT '',
    owner_id   BIGINT REFERENCES users(id),
    active     BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
