-- Integrations: outgoing webhooks with their delivery log, monitoring alerts deduplicated by
-- fingerprint, and inbound mail (threads, external correspondents, the quarantine).

-- A subscription: events are delivered as signed JSON to `url`.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    active      BIGINT NOT NULL DEFAULT 1,
    version     BIGINT NOT NULL DEFAULT 1,
    created_by  BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The events a subscription wants (`*` for all).
CREATE TABLE webhook_events (
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id),
    event      TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event)
);
CREATE INDEX webhook_events_event ON webhook_events(event);

-- One event for one subscription; `body` is frozen at the first attempt so every retry and
-- replay sends the same bytes.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY,
    webhook_id   BIGINT NOT NULL REFERENCES webhooks(id),
    outbox_id    BIGINT REFERENCES outbox(id),
    event        TEXT NOT NULL,
    body         TEXT,
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_status  BIGINT,
    last_error   TEXT,
    replay_of    BIGINT REFERENCES webhook_deliveries(id),
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);

-- Every attempt: when, the HTTP status or the transport error, how long it took.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id),
    at          BIGINT NOT NULL,
    status      BIGINT,
    error       TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);

-- A monitoring alert and the incident it opened (8.6.1): repeats of the same fingerprint update
-- that incident instead of opening another.
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    item_id      BIGINT NOT NULL REFERENCES work_items(id),
    status       TEXT NOT NULL,
    labels       TEXT NOT NULL,
    starts_at    BIGINT,
    ends_at      BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (source, fingerprint, item_id)
);
CREATE INDEX alerts_fingerprint ON alerts(source, fingerprint, id);

-- Message-IDs of mail in and out, so a reply finds its item through In-Reply-To/References.
CREATE TABLE mail_threads (
    message_id TEXT PRIMARY KEY,
    item_id    BIGINT NOT NULL REFERENCES work_items(id),
    direction  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_threads_item ON mail_threads(item_id);

-- People outside Keel who wrote about an item (unknown senders): they are answered by mail.
CREATE TABLE item_correspondents (
    item_id BIGINT NOT NULL REFERENCES work_items(id),
    email   TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, email)
);

-- Every inbound message as received, with what became of it: `processed` (item or comment),
-- `ignored` (automatic mail, with the reason), `quarantined` (could not be processed, kept for
-- an administrator), `reprocessed` or `discarded`. Nothing received is dropped.
CREATE TABLE mail_messages (
    id           INTEGER PRIMARY KEY,
    queue        TEXT NOT NULL,
    source       TEXT NOT NULL,
    message_id   TEXT,
    sender       TEXT,
    subject      TEXT,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    raw          BLOB NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    item_id      BIGINT REFERENCES work_items(id),
    received_at  BIGINT NOT NULL,
    handled_at   BIGINT,
    handled_by   BIGINT REFERENCES users(id)
);
CREATE INDEX mail_messages_state ON mail_messages(state, id);
CREATE INDEX mail_messages_sha ON mail_messages(queue, sha256);

-- Where an IMAP mailbox was read up to (UIDVALIDITY and the last UID taken).
CREATE TABLE mail_cursors (
    mailbox      TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL
);
