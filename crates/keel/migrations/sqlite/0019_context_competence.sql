-- Interested parties and their requirements (ISO/IEC 20000-1 4.2); the competences each role
-- requires and people's training records (7.2).

CREATE TABLE interested_parties (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    requirements  TEXT NOT NULL DEFAULT '',
    how_addressed TEXT NOT NULL DEFAULT '',
    review_date   TEXT,
    owner_id      BIGINT REFERENCES users(id),
    active        BIGINT NOT NULL DEFAULT 1,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE competence_requirements (
    id          INTEGER PRIMARY KEY,
    role        TEXT NOT NULL,
    competence  TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (role, competence)
);

CREATE TABLE training_records (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    competence   TEXT NOT NULL,
    completed_on TEXT NOT NULL,
    expires_on   TEXT,
    evidence     TEXT NOT NULL DEFAULT '',
    recorded_by  BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX training_records_user ON training_records(user_id, competence);
