-- Anchors of the audit trail's head, taken by `keel audit anchor` and the `audit.anchor` job. The
-- anchor that proves anything is the copy kept outside the database (the anchor file, the audit
-- pack); this table lets the audit pack carry the latest ones.
CREATE TABLE audit_anchors (
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL,
    at    BIGINT NOT NULL,
    place TEXT NOT NULL
);
CREATE INDEX audit_anchors_seq ON audit_anchors(seq);
