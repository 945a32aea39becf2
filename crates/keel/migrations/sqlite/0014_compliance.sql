-- The compliance engine (ISO/IEC 20000-1 clauses 4–10): the assessor's standing judgements
-- and process capability ratings, dated assessment snapshots, the gap plan, and the evidence
-- files an assessor attaches to a requirement. Nonconformities and improvements are work items.

-- The assessor's current rating of a requirement (the live readiness view reads these).
CREATE TABLE requirement_judgements (
    edition     TEXT NOT NULL,
    requirement TEXT NOT NULL,
    rating      TEXT NOT NULL,
    notes       TEXT NOT NULL DEFAULT '',
    judged_by   BIGINT NOT NULL REFERENCES users(id),
    judged_at   BIGINT NOT NULL,
    PRIMARY KEY (edition, requirement)
);

-- Current ISO/IEC 33020 attribute ratings of a process: a JSON object {"PA1.1": "F", …}.
CREATE TABLE process_ratings (
    edition   TEXT NOT NULL,
    process   TEXT NOT NULL,
    ratings   TEXT NOT NULL,
    level     BIGINT NOT NULL,
    notes     TEXT NOT NULL DEFAULT '',
    rated_by  BIGINT NOT NULL REFERENCES users(id),
    rated_at  BIGINT NOT NULL,
    PRIMARY KEY (edition, process)
);

-- Files an assessor keeps as evidence for a requirement.
CREATE TABLE requirement_evidence (
    id           INTEGER PRIMARY KEY,
    edition      TEXT NOT NULL,
    requirement  TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    data         BLOB NOT NULL,
    uploaded_by  BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX requirement_evidence_req ON requirement_evidence(edition, requirement);

-- A dated snapshot of readiness: what the checks found and what the assessor rated, frozen.
CREATE TABLE assessments (
    id           INTEGER PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    edition      TEXT NOT NULL,
    period_from  BIGINT NOT NULL,
    period_to    BIGINT NOT NULL,
    -- overall score in tenths of a percent (725 = 72.5 %)
    score        BIGINT NOT NULL,
    taken_by     BIGINT NOT NULL REFERENCES users(id),
    taken_at     BIGINT NOT NULL
);
CREATE TABLE assessment_requirements (
    assessment_id BIGINT NOT NULL REFERENCES assessments(id),
    requirement   TEXT NOT NULL,
    automatic     TEXT,
    judged        TEXT,
    rating        TEXT,
    notes         TEXT NOT NULL DEFAULT '',
    -- the check outcomes as JSON, failing records included
    checks        TEXT NOT NULL,
    PRIMARY KEY (assessment_id, requirement)
);
CREATE TABLE assessment_processes (
    assessment_id BIGINT NOT NULL REFERENCES assessments(id),
    process       TEXT NOT NULL,
    ratings       TEXT NOT NULL,
    level         BIGINT NOT NULL,
    PRIMARY KEY (assessment_id, process)
);

-- The implementation plan: actions that close gaps, with owner, due date and progress.
CREATE TABLE compliance_actions (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    edition       TEXT NOT NULL,
    requirement   TEXT NOT NULL,
    assessment_id BIGINT REFERENCES assessments(id),
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    owner_id      BIGINT REFERENCES users(id),
    due_on        TEXT,
    progress      BIGINT NOT NULL DEFAULT 0,
    state         TEXT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    created_by    BIGINT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    closed_at     BIGINT
);
CREATE INDEX compliance_actions_req ON compliance_actions(edition, requirement);
