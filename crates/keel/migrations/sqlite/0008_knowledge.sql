-- Schema 8: knowledge (7.6). Articles with immutable versions; requesters read the published one.
CREATE TABLE knowledge_articles (
    id                 INTEGER PRIMARY KEY,
    number             TEXT NOT NULL UNIQUE,
    state              TEXT NOT NULL,
    owner_id           BIGINT NOT NULL REFERENCES users(id),
    service_id         BIGINT REFERENCES services(id),
    known_error_id     BIGINT REFERENCES work_items(id),
    review_date        TEXT,
    latest_version     BIGINT NOT NULL,
    published_version  BIGINT,
    version            BIGINT NOT NULL DEFAULT 1,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE knowledge_versions (
    id          INTEGER PRIMARY KEY,
    article_id  BIGINT NOT NULL REFERENCES knowledge_articles(id),
    version     BIGINT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    author_id   BIGINT REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    UNIQUE (article_id, version)
);

-- Full text over every version (ADR 0009); queries join to the version a reader may see.
CREATE VIRTUAL TABLE knowledge_fts USING fts5(
    title, body, content='knowledge_versions', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER knowledge_fts_insert AFTER INSERT ON knowledge_versions BEGIN
    INSERT INTO knowledge_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER knowledge_fts_delete AFTER DELETE ON knowledge_versions BEGIN
    INSERT INTO knowledge_fts(knowledge_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
