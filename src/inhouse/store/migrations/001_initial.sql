-- Documents, their access groups, chunks, the FTS5 index over chunk terms, and chunk embeddings.
CREATE TABLE documents (
    id          INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL,
    path        TEXT NOT NULL,
    root        TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    pages       INTEGER NOT NULL DEFAULT 1,
    title       TEXT NOT NULL DEFAULT '',
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (tenant, path)
);
CREATE TABLE doc_groups (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    grp    TEXT NOT NULL,
    PRIMARY KEY (doc_id, grp)
);
CREATE INDEX doc_groups_grp ON doc_groups (grp, doc_id);
CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    doc_id      INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    tenant      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    page        INTEGER,
    heading     TEXT NOT NULL DEFAULT '[]',
    char_start  INTEGER NOT NULL,
    char_end    INTEGER NOT NULL,
    terms       TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks (doc_id, ordinal);
CREATE INDEX chunks_tenant ON chunks (tenant);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    terms, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
CREATE TRIGGER chunks_au AFTER UPDATE OF terms ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, terms) VALUES ('delete', old.id, old.terms);
    INSERT INTO chunks_fts (rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE embeddings (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    model    TEXT NOT NULL,
    vector   BLOB NOT NULL
);
-- Bumped on every write, so in-memory indexes know when to reload.
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT INTO generation VALUES (1, 0);
