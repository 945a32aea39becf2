-- Schema 3: service levels (8.3.3) and SLA clocks, in-app notifications.
-- Calendars are versioned: a version, once written, never changes, so a clock's ledger can
-- always be replayed against the calendar that was in force.
CREATE TABLE calendars (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE calendar_versions (
    calendar_id BIGINT NOT NULL REFERENCES calendars(id),
    version     BIGINT NOT NULL,
    time_zone   TEXT NOT NULL,
    -- JSON: [{"weekday": "monday", "start": "08:00", "end": "18:00"}, …]
    windows     TEXT NOT NULL,
    -- JSON: ["2026-12-25", …]
    holidays    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  BIGINT REFERENCES users(id),
    PRIMARY KEY (calendar_id, version)
);

-- A target applies to work items of one kind; null service, customer or priority match any.
CREATE TABLE service_level_targets (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    metric         TEXT NOT NULL,
    service_id     BIGINT REFERENCES services(id),
    customer_id    BIGINT REFERENCES customers(id),
    priority       BIGINT,
    target_minutes BIGINT NOT NULL,
    warn_percent   BIGINT NOT NULL,
    calendar_id    BIGINT NOT NULL REFERENCES calendars(id),
    active         BIGINT NOT NULL DEFAULT 1,
    version        BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- The folded state of each clock (see keel_core::operation::relationship::service_level::clock);
-- due_at and warn_at are set only while a breach or warning is still ahead of a running clock,
-- so the scan reads two small index ranges, never every open item.
CREATE TABLE sla_clocks (
    id               INTEGER PRIMARY KEY,
    item_id          BIGINT NOT NULL REFERENCES work_items(id),
    metric           TEXT NOT NULL,
    target_id        BIGINT NOT NULL REFERENCES service_level_targets(id),
    status           TEXT NOT NULL,
    target_ms        BIGINT NOT NULL,
    warn_percent     BIGINT NOT NULL,
    calendar_id      BIGINT NOT NULL REFERENCES calendars(id),
    calendar_version BIGINT NOT NULL,
    elapsed_ms       BIGINT NOT NULL,
    since            BIGINT NOT NULL,
    breached_at      BIGINT,
    due_at           BIGINT,
    warn_at          BIGINT,
    started_at       BIGINT NOT NULL,
    stopped_at       BIGINT,
    UNIQUE (item_id, metric)
);
CREATE INDEX sla_clocks_due ON sla_clocks (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX sla_clocks_warn ON sla_clocks (warn_at) WHERE warn_at IS NOT NULL;
CREATE INDEX sla_clocks_target ON sla_clocks (target_id, status);

-- Append-only: the ledger an auditor replays.
CREATE TABLE sla_clock_events (
    id               INTEGER PRIMARY KEY,
    clock_id         BIGINT NOT NULL REFERENCES sla_clocks(id),
    kind             TEXT NOT NULL,
    at               BIGINT NOT NULL,
    target_ms        BIGINT NOT NULL,
    calendar_id      BIGINT NOT NULL REFERENCES calendars(id),
    calendar_version BIGINT NOT NULL,
    reason           TEXT NOT NULL,
    actor_id         BIGINT REFERENCES users(id)
);
CREATE INDEX sla_clock_events_clock ON sla_clock_events (clock_id, id);

-- The outbox: every event worth telling someone about, in the writing transaction; in-app
-- notifications are its fan-out to recipients (e-mail delivery will read the same outbox).
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    event       TEXT NOT NULL,
    item_id     BIGINT REFERENCES work_items(id),
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    outbox_id   BIGINT NOT NULL REFERENCES outbox(id),
    event       TEXT NOT NULL,
    item_id     BIGINT REFERENCES work_items(id),
    title       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, id);
