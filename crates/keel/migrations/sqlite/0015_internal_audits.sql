-- Internal audits (ISO/IEC 20000-1 9.2): the audit programme's audits with their scope (as
-- requirement ids of the catalogue), the processes it covers, the report, and graded findings;
-- a major or minor finding is recorded as a nonconformity (a work item) in the same transaction.

CREATE TABLE audits (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    edition         TEXT NOT NULL,
    -- JSON arrays: requirement ids in scope, and the processes they belong to
    scope           TEXT NOT NULL,
    processes       TEXT NOT NULL,
    criteria        TEXT NOT NULL DEFAULT '',
    planned_start   TEXT NOT NULL,
    planned_end     TEXT NOT NULL,
    lead_auditor_id BIGINT REFERENCES users(id),
    auditees        TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL,
    report          TEXT,
    reported_at     BIGINT,
    version         BIGINT NOT NULL DEFAULT 1,
    created_by      BIGINT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX audits_planned ON audits(planned_start);

CREATE TABLE audit_findings (
    id            INTEGER PRIMARY KEY,
    audit_id      BIGINT NOT NULL REFERENCES audits(id),
    requirement   TEXT NOT NULL,
    grade         TEXT NOT NULL,
    statement     TEXT NOT NULL,
    evidence      TEXT NOT NULL DEFAULT '',
    nc_id         BIGINT REFERENCES work_items(id),
    created_by    BIGINT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX audit_findings_audit ON audit_findings(audit_id);
