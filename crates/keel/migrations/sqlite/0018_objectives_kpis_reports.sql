-- Objectives (6.2), KPIs measured on schedule (9.1) and service reports (9.4). Numbers that
-- may have fractions are stored in thousandths (value_milli) so they stay exact and portable.

CREATE TABLE objectives (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner_id    BIGINT REFERENCES users(id),
    due_on      TEXT,
    state       TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    created_by  BIGINT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE kpis (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    metric        TEXT NOT NULL,
    service_id    BIGINT REFERENCES services(id),
    target_milli  BIGINT NOT NULL,
    frequency     TEXT NOT NULL,
    objective_id  BIGINT REFERENCES objectives(id),
    active        BIGINT NOT NULL DEFAULT 1,
    version       BIGINT NOT NULL DEFAULT 1,
    created_by    BIGINT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE kpi_measurements (
    id           INTEGER PRIMARY KEY,
    kpi_id       BIGINT NOT NULL REFERENCES kpis(id),
    period_from  TEXT NOT NULL,
    period_to    TEXT NOT NULL,
    -- null when the period had nothing to measure (e.g. no clock finished)
    value_milli  BIGINT,
    met          BIGINT,
    measured_at  BIGINT NOT NULL,
    UNIQUE (kpi_id, period_from)
);

CREATE TABLE report_definitions (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    service_id  BIGINT REFERENCES services(id),
    customer_id BIGINT REFERENCES customers(id),
    frequency   TEXT NOT NULL,
    active      BIGINT NOT NULL DEFAULT 1,
    created_by  BIGINT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE service_reports (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    definition_id BIGINT NOT NULL REFERENCES report_definitions(id),
    period_from   TEXT NOT NULL,
    period_to     TEXT NOT NULL,
    content       TEXT NOT NULL,
    generated_at  BIGINT NOT NULL,
    UNIQUE (definition_id, period_from)
);
