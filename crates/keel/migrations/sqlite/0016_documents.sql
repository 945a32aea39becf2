-- Documented information (ISO/IEC 20000-1 7.5): controlled documents, their versions with an
-- approval workflow (one version in force; earlier ones obsolete), review dates, distribution
-- by role and read-acknowledgements of the version in force.

CREATE TABLE documents (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    doc_type        TEXT NOT NULL,
    owner_id        BIGINT REFERENCES users(id),
    review_months   BIGINT NOT NULL,
    -- comma-separated roles the document is distributed to
    distribution    TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    current_version BIGINT,
    reviewed_at     BIGINT,
    next_review     TEXT,
    version         BIGINT NOT NULL DEFAULT 1,
    created_by      BIGINT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX documents_type ON documents(doc_type, state);

CREATE TABLE document_versions (
    id             INTEGER PRIMARY KEY,
    document_id    BIGINT NOT NULL REFERENCES documents(id),
    version_no     BIGINT NOT NULL,
    body           TEXT NOT NULL,
    change_summary TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,
    author_id      BIGINT REFERENCES users(id),
    submitted_at   BIGINT,
    decided_by     BIGINT REFERENCES users(id),
    decided_at     BIGINT,
    decision_note  TEXT,
    created_at     BIGINT NOT NULL,
    UNIQUE (document_id, version_no)
);

CREATE TABLE document_acks (
    document_id BIGINT NOT NULL REFERENCES documents(id),
    version_no  BIGINT NOT NULL,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    at          BIGINT NOT NULL,
    PRIMARY KEY (document_id, version_no, user_id)
);
