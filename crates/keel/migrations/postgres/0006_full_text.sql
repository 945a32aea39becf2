-- Schema 6: full-text search (ADR 0009). PostgreSQL: GIN indexes over the same text as
-- SQLite's FTS5 tables (number, title, description, details; comment bodies), English stemming.
-- Queries use exactly these expressions, so the planner uses the indexes. The number's hyphen
-- is blanked: PostgreSQL's parser would read `INC-000003` as `inc` and the integer `-000003`.
CREATE INDEX work_items_search ON work_items USING GIN (
    to_tsvector('english', replace(number, '-', ' ') || ' ' || title || ' ' || description || ' ' || details)
);
CREATE INDEX comments_search ON comments USING GIN (to_tsvector('english', body));
