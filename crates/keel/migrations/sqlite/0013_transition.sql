-- Schema 13: service design, build and transition (8.5) — change management, service design
-- and transition, release and deployment. Approvals and tasks become the kernel's, shared by
-- requests and changes.

-- Approvers are asked in sets (a basis: "requester_manager", "CAB" …), each with its rule.
ALTER TABLE approvals ADD COLUMN rule TEXT NOT NULL DEFAULT 'all';
ALTER TABLE approvals ADD COLUMN quorum BIGINT;
ALTER TABLE request_tasks RENAME TO work_item_tasks;

-- Who authorizes changes (8.5.1): a group of approvers and how their decisions combine.
CREATE TABLE change_authorities (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    group_id     BIGINT NOT NULL REFERENCES support_groups(id),
    -- any, all, quorum
    rule         TEXT NOT NULL,
    quorum       BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Change categories and the authority for each.
CREATE TABLE change_categories (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    authority_id BIGINT NOT NULL REFERENCES change_authorities(id),
    active       BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- The change management policy and the release policy, one JSON document (a single row).
CREATE TABLE transition_policy (
    id           BIGINT PRIMARY KEY,
    policy       TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Pre-authorized standard changes.
CREATE TABLE change_templates (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    description          TEXT NOT NULL DEFAULT '',
    category_id          BIGINT REFERENCES change_categories(id),
    service_id           BIGINT REFERENCES services(id),
    implementation_plan  TEXT NOT NULL DEFAULT '',
    backout_plan         TEXT NOT NULL DEFAULT '',
    test_plan            TEXT NOT NULL DEFAULT '',
    -- JSON: [{"name": "Apply patch", "group_id": 3, "stage": 1}, …]
    tasks                TEXT NOT NULL DEFAULT '[]',
    active               BIGINT NOT NULL DEFAULT 1,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- A change's schedule and assessed risk, beside its work item.
CREATE TABLE change_plans (
    item_id        BIGINT PRIMARY KEY REFERENCES work_items(id),
    planned_start  BIGINT,
    planned_end    BIGINT,
    actual_start   BIGINT,
    actual_end     BIGINT,
    risk_score     BIGINT,
    risk_level     TEXT,
    -- JSON: {"complexity": "simple", …} and the reasons behind the score
    risk_answers   TEXT,
    risk_reasons   TEXT,
    assessed_at    BIGINT,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX change_plans_window ON change_plans (planned_start, planned_end);

-- What a change does to a CI, applied to the CMDB when it closes successfully.
CREATE TABLE change_ci_updates (
    item_id     BIGINT NOT NULL REFERENCES work_items(id),
    ci_id       BIGINT NOT NULL REFERENCES cis(id),
    status      TEXT,
    -- JSON object merged into the CI's attributes
    attributes  TEXT NOT NULL DEFAULT '{}',
    applied_at  BIGINT,
    PRIMARY KEY (item_id, ci_id)
);

-- Periods without changes, for every service (service_id NULL) or one.
CREATE TABLE change_blackouts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    service_id  BIGINT REFERENCES services(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX change_blackouts_window ON change_blackouts (starts_at, ends_at);

-- Subscriptions to the change calendar: a token that reads the feed and nothing else.
CREATE TABLE calendar_feeds (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    label       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Releases (8.5.3) bundling changes, and their deployments per environment.
CREATE TABLE releases (
    id                INTEGER PRIMARY KEY,
    number            TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    planned_at        BIGINT NOT NULL,
    acceptance_notes  TEXT,
    accepted_by       BIGINT REFERENCES users(id),
    accepted_at       BIGINT,
    -- the analysis record opened when the release failed
    problem_id        BIGINT REFERENCES work_items(id),
    version           BIGINT NOT NULL DEFAULT 1,
    created_by        BIGINT REFERENCES users(id),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE TABLE release_changes (
    release_id  BIGINT NOT NULL REFERENCES releases(id),
    item_id     BIGINT NOT NULL UNIQUE REFERENCES work_items(id),
    PRIMARY KEY (release_id, item_id)
);
CREATE TABLE deployments (
    id             INTEGER PRIMARY KEY,
    release_id     BIGINT NOT NULL REFERENCES releases(id),
    environment    TEXT NOT NULL,
    planned_start  BIGINT NOT NULL,
    planned_end    BIGINT NOT NULL,
    state          TEXT NOT NULL,
    notes          TEXT,
    done_by        BIGINT REFERENCES users(id),
    done_at        BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX deployments_release ON deployments (release_id);
-- The CIs a deployment updates, applied when it succeeds.
CREATE TABLE deployment_cis (
    deployment_id  BIGINT NOT NULL REFERENCES deployments(id),
    ci_id          BIGINT NOT NULL REFERENCES cis(id),
    attributes     TEXT NOT NULL DEFAULT '{}',
    applied_at     BIGINT,
    PRIMARY KEY (deployment_id, ci_id)
);

-- Service design and transition (8.5.2).
CREATE TABLE service_designs (
    id               INTEGER PRIMARY KEY,
    number           TEXT NOT NULL UNIQUE,
    service_id       BIGINT NOT NULL REFERENCES services(id),
    plan_id          BIGINT REFERENCES service_plans(id),
    title            TEXT NOT NULL,
    state            TEXT NOT NULL,
    resources        TEXT NOT NULL DEFAULT '',
    capabilities     TEXT NOT NULL DEFAULT '',
    service_levels   TEXT NOT NULL DEFAULT '',
    dependencies     TEXT NOT NULL DEFAULT '',
    transition_plan  TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL DEFAULT 1,
    created_by       BIGINT REFERENCES users(id),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX service_designs_service ON service_designs (service_id);
CREATE TABLE design_criteria (
    id          INTEGER PRIMARY KEY,
    design_id   BIGINT NOT NULL REFERENCES service_designs(id),
    criterion   TEXT NOT NULL,
    -- pending, passed, failed
    result      TEXT NOT NULL,
    notes       TEXT,
    tested_by   BIGINT REFERENCES users(id),
    tested_at   BIGINT
);
CREATE TABLE design_tasks (
    id          INTEGER PRIMARY KEY,
    design_id   BIGINT NOT NULL REFERENCES service_designs(id),
    name        TEXT NOT NULL,
    owner_id    BIGINT REFERENCES users(id),
    due_date    TEXT,
    state       TEXT NOT NULL,
    done_by     BIGINT REFERENCES users(id),
    done_at     BIGINT
);
