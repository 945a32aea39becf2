-- Failed sign-ins are counted per account and client address, and per client address alone:
-- a stranger cannot lock someone out of their account, and password spraying across accounts
-- is slowed too.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_client ON login_failures(client, at);
