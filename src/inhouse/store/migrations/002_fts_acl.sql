-- Access control inside the full-text index: each chunk carries one token per (tenant, group) that may
-- read it (acl_token(), a Python function registered on the connection), indexed in an `acl` column of
-- chunks_fts. A lexical search then matches `terms:(…) AND acl:(…)` in FTS5 alone, instead of joining
-- every match to chunks and doc_groups.
ALTER TABLE chunks ADD COLUMN acl TEXT NOT NULL DEFAULT '';
UPDATE chunks SET acl = (
    SELECT group_concat(acl_token(chunks.tenant, g.grp), ' ') FROM doc_groups g WHERE g.doc_id = chunks.doc_id
);
DROP TRIGGER chunks_ai;
DROP TRIGGER chunks_ad;
DROP TRIGGER chunks_au;
DROP TABLE chunks_fts;
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    terms, acl, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, terms, acl) VALUES (new.id, new.terms, new.acl);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, terms, acl) VALUES ('delete', old.id, old.terms, old.acl);
END;
CREATE TRIGGER chunks_au AFTER UPDATE OF terms, acl ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, terms, acl) VALUES ('delete', old.id, old.terms, old.acl);
    INSERT INTO chunks_fts (rowid, terms, acl) VALUES (new.id, new.terms, new.acl);
END;
