-- Schema 6: full-text search (ADR 0009). PostgreSQL: a `work_items_fts` table holds each item's
-- weighted tsvector (number and title A, details B, description C; English stemming), kept in
-- step by a trigger, with a GIN index — the counterpart of SQLite's FTS5 table of the same name.
-- The number's hyphen is blanked: PostgreSQL's parser would read `INC-000003` as `inc` and the
-- integer `-000003`. Comment bodies are searched through an expression index.
CREATE TABLE work_items_fts (
    item_id BIGINT PRIMARY KEY REFERENCES work_items(id) ON DELETE CASCADE,
    tsv     TSVECTOR NOT NULL
);
CREATE INDEX work_items_fts_tsv ON work_items_fts USING GIN (tsv);

CREATE FUNCTION work_items_fts_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO work_items_fts (item_id, tsv) VALUES (
        NEW.id,
        setweight(to_tsvector('english', replace(NEW.number, '-', ' ') || ' ' || NEW.title), 'A')
        || setweight(to_tsvector('english', NEW.details), 'B')
        || setweight(to_tsvector('english', NEW.description), 'C'))
    ON CONFLICT (item_id) DO UPDATE SET tsv = EXCLUDED.tsv;
    RETURN NULL;
END
$$;

CREATE TRIGGER work_items_fts_sync AFTER INSERT OR UPDATE OF number, title, description, details
    ON work_items FOR EACH ROW EXECUTE FUNCTION work_items_fts_sync();

INSERT INTO work_items_fts (item_id, tsv)
SELECT id,
       setweight(to_tsvector('english', replace(number, '-', ' ') || ' ' || title), 'A')
       || setweight(to_tsvector('english', details), 'B')
       || setweight(to_tsvector('english', description), 'C')
FROM work_items;

CREATE INDEX comments_search ON comments USING GIN (to_tsvector('english', body));
