-- Schema 11: the service portfolio (8.2): services with lifecycle stage, customers, dependencies
-- and parties; service plans; catalogue offerings with order forms; configuration item classes,
-- CIs and their relationships (8.2.6); affected CIs on work items.

ALTER TABLE services ADD COLUMN stage TEXT NOT NULL DEFAULT 'live';
ALTER TABLE services ADD COLUMN requirements TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

CREATE TABLE service_customers (
    service_id   BIGINT NOT NULL REFERENCES services(id),
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    PRIMARY KEY (service_id, customer_id)
);
CREATE INDEX service_customers_customer ON service_customers (customer_id);

CREATE TABLE service_dependencies (
    service_id     BIGINT NOT NULL REFERENCES services(id),
    depends_on_id  BIGINT NOT NULL REFERENCES services(id),
    PRIMARY KEY (service_id, depends_on_id)
);

-- Who takes part in which lifecycle stages (8.2.3); kind internal, external or supplier.
CREATE TABLE service_parties (
    id          INTEGER PRIMARY KEY,
    service_id  BIGINT NOT NULL REFERENCES services(id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- comma-separated: design, transition, delivery, improvement
    stages      TEXT NOT NULL,
    role        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX service_parties_service ON service_parties (service_id);

-- Plans for new, changed or removed services (8.2.2); changes link to them.
CREATE TABLE service_plans (
    id                   INTEGER PRIMARY KEY,
    number               TEXT NOT NULL UNIQUE,
    service_id           BIGINT REFERENCES services(id),
    kind                 TEXT NOT NULL,
    title                TEXT NOT NULL,
    requirements         TEXT NOT NULL DEFAULT '',
    constraints          TEXT NOT NULL DEFAULT '',
    acceptance_criteria  TEXT NOT NULL DEFAULT '',
    state                TEXT NOT NULL,
    owner_id             BIGINT NOT NULL REFERENCES users(id),
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

-- What customers can see and order (8.2.4). Ordering creates a request of request_type_id.
CREATE TABLE catalogue_offerings (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    summary          TEXT NOT NULL DEFAULT '',
    description      TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL DEFAULT '',
    service_id       BIGINT NOT NULL REFERENCES services(id),
    request_type_id  BIGINT NOT NULL REFERENCES request_types(id),
    -- JSON array of typed fields (keel_core::operation::portfolio::form).
    form             TEXT NOT NULL DEFAULT '[]',
    -- comma-separated roles that may order; empty = everyone signed in.
    roles            TEXT NOT NULL DEFAULT '',
    active           BIGINT NOT NULL DEFAULT 1,
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- When rows exist, only these customers' people see the offering (staff always do).
CREATE TABLE catalogue_visibility (
    offering_id  BIGINT NOT NULL REFERENCES catalogue_offerings(id),
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    PRIMARY KEY (offering_id, customer_id)
);
CREATE TABLE catalogue_orders (
    item_id      BIGINT PRIMARY KEY REFERENCES work_items(id),
    offering_id  BIGINT NOT NULL REFERENCES catalogue_offerings(id),
    answers      TEXT NOT NULL
);
CREATE INDEX catalogue_orders_offering ON catalogue_orders (offering_id);

-- Configuration item classes with administrator-defined attributes (8.2.6).
CREATE TABLE ci_classes (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    attributes   TEXT NOT NULL DEFAULT '[]',
    -- JSON array of field names forming the identity key ("name" = the CI's name).
    identity     TEXT NOT NULL DEFAULT '["name"]',
    version      BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE cis (
    id            INTEGER PRIMARY KEY,
    class_id      BIGINT NOT NULL REFERENCES ci_classes(id),
    name          TEXT NOT NULL,
    identity_key  TEXT NOT NULL,
    status        TEXT NOT NULL,
    attributes    TEXT NOT NULL DEFAULT '{}',
    -- The portfolio service this CI represents (class "service"), if any.
    service_id    BIGINT REFERENCES services(id),
    owner_group_id BIGINT REFERENCES support_groups(id),
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (class_id, identity_key)
);
CREATE INDEX cis_name ON cis (name);
CREATE INDEX cis_service ON cis (service_id);

CREATE TABLE ci_relationships (
    id          INTEGER PRIMARY KEY,
    source_id   BIGINT NOT NULL REFERENCES cis(id),
    kind        TEXT NOT NULL,
    target_id   BIGINT NOT NULL REFERENCES cis(id),
    created_at  BIGINT NOT NULL,
    UNIQUE (source_id, kind, target_id)
);
CREATE INDEX ci_relationships_target ON ci_relationships (target_id);

-- The CMDB's change log: every CI or relationship write adds rows under a new revision, taken
-- from cmdb_state in the writing transaction (which serializes CMDB writes), so each node's
-- in-memory graph catches up by reading the rows after the revision it has.
CREATE TABLE cmdb_state (
    id        BIGINT PRIMARY KEY,
    revision  BIGINT NOT NULL
);
INSERT INTO cmdb_state (id, revision) VALUES (1, 0);
CREATE TABLE cmdb_changes (
    id        INTEGER PRIMARY KEY,
    revision  BIGINT NOT NULL,
    ci_id     BIGINT,
    rel_id    BIGINT
);
CREATE INDEX cmdb_changes_revision ON cmdb_changes (revision);

-- Configuration items a work item affects (incidents: what is broken; changes: what changes).
CREATE TABLE work_item_cis (
    item_id  BIGINT NOT NULL REFERENCES work_items(id),
    ci_id    BIGINT NOT NULL REFERENCES cis(id),
    PRIMARY KEY (item_id, ci_id)
);
CREATE INDEX work_item_cis_ci ON work_item_cis (ci_id);
