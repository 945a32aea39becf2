-- Schema 6: full-text search (ADR 0009). SQLite: FTS5 tables over work items (number, title,
-- description, details) and comments, kept in step by triggers; English stemming (porter).
CREATE VIRTUAL TABLE work_items_fts USING fts5(
    number, title, description, details,
    content='work_items', content_rowid='id', tokenize='porter unicode61'
);
INSERT INTO work_items_fts(work_items_fts) VALUES ('rebuild');
-- `rank` is bm25 with number and title weighted above details and description, so queries can
-- take the best matches with FTS5's `ORDER BY rank LIMIT n` shortcut.
INSERT INTO work_items_fts(work_items_fts, rank) VALUES ('rank', 'bm25(10.0, 5.0, 1.0, 2.0)');

CREATE TRIGGER work_items_fts_insert AFTER INSERT ON work_items BEGIN
    INSERT INTO work_items_fts(rowid, number, title, description, details)
    VALUES (new.id, new.number, new.title, new.description, new.details);
END;
CREATE TRIGGER work_items_fts_delete AFTER DELETE ON work_items BEGIN
    INSERT INTO work_items_fts(work_items_fts, rowid, number, title, description, details)
    VALUES ('delete', old.id, old.number, old.title, old.description, old.details);
END;
CREATE TRIGGER work_items_fts_update AFTER UPDATE OF number, title, description, details ON work_items BEGIN
    INSERT INTO work_items_fts(work_items_fts, rowid, number, title, description, details)
    VALUES ('delete', old.id, old.number, old.title, old.description, old.details);
    INSERT INTO work_items_fts(rowid, number, title, description, details)
    VALUES (new.id, new.number, new.title, new.description, new.details);
END;

CREATE VIRTUAL TABLE comments_fts USING fts5(
    body, content='comments', content_rowid='id', tokenize='porter unicode61'
);
INSERT INTO comments_fts(comments_fts) VALUES ('rebuild');

CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN
    INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER comments_fts_update AFTER UPDATE OF body ON comments BEGIN
    INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body);
END;
