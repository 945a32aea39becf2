-- Mail out: notifications (and answers to outside correspondents) as e-mail, written by the
-- outbox in the transaction of the change, sent by the `mail.send` job over SMTP.

CREATE TABLE mail_outgoing (
    id           INTEGER PRIMARY KEY,
    outbox_id    BIGINT NOT NULL REFERENCES outbox(id),
    item_id      BIGINT REFERENCES work_items(id),
    user_id      BIGINT REFERENCES users(id),
    email        TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    event        TEXT NOT NULL,
    title        TEXT,
    -- queued, sending, sent, skipped, failed or expired.
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    locked_until BIGINT,
    message_id   TEXT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT
);
CREATE INDEX mail_outgoing_due ON mail_outgoing(state, next_at);

-- The language a person's mail is written in (`en`, `de`); none means the installation's.
ALTER TABLE users ADD COLUMN language TEXT;

-- Which node reads a mailbox now: one at a time, taken over when its lease runs out.
ALTER TABLE mail_cursors ADD COLUMN leased_by TEXT;
ALTER TABLE mail_cursors ADD COLUMN leased_until BIGINT;

-- The directory entry (LDAP DN) a user is synchronised from; none for local accounts.
ALTER TABLE users ADD COLUMN directory_dn TEXT;

-- Sign-ins with OpenID Connect under way: the state sent to the provider, the PKCE verifier and
-- nonce kept for the answer, where to go afterwards. Used once, kept ten minutes at most.
CREATE TABLE oidc_logins (
    state      TEXT PRIMARY KEY,
    verifier   TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    next       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
