-- Idempotency keys belong to their caller, method and path (a key used on one route is not a
-- replay on another), and keep the answer's ETag and content type. Keys live a day and answer
-- retries only, so the table starts afresh.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    user_id      BIGINT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    -- 0 until the answer is kept: the request committed and is running, or its answer was lost.
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    location     TEXT,
    etag         TEXT,
    content_type TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, method, path, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
