-- Lexical statistics per access class, so that BM25 is computed over what a principal may read alone.
-- A chunk's access class is its `acl` (the tokens of its tenant and groups, 002); a principal reads the chunks
-- of every class that holds one of its tokens. `length` is a chunk's number of lexical tokens
-- (lexical_length(), a Python function registered on the connection; new chunks get it from the store).
-- `version` grows with every change to a class's chunks and is never reset (rows are kept at zero chunks),
-- so statistics cached for a set of classes stay valid while the versions of those classes do.
ALTER TABLE chunks ADD COLUMN length INTEGER NOT NULL DEFAULT 0;
UPDATE chunks SET length = lexical_length(terms);
-- Each chunk's class and length, read without the chunk's text (a search after a write reloads them all).
CREATE INDEX chunks_acl ON chunks (acl, length);
CREATE TABLE acl_stats (
    acl     TEXT PRIMARY KEY,
    chunks  INTEGER NOT NULL,
    length  INTEGER NOT NULL,
    version INTEGER NOT NULL
);
INSERT INTO acl_stats (acl, chunks, length, version) SELECT acl, COUNT(*), SUM(length), 1 FROM chunks GROUP BY acl;
CREATE TRIGGER chunks_stats_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO acl_stats (acl, chunks, length, version) VALUES (new.acl, 1, new.length, 1)
        ON CONFLICT (acl) DO UPDATE SET chunks = chunks + 1, length = length + excluded.length, version = version + 1;
END;
CREATE TRIGGER chunks_stats_ad AFTER DELETE ON chunks BEGIN
    UPDATE acl_stats SET chunks = chunks - 1, length = length - old.length, version = version + 1 WHERE acl = old.acl;
END;
CREATE TRIGGER chunks_stats_au AFTER UPDATE OF terms, acl, length ON chunks BEGIN
    UPDATE acl_stats SET chunks = chunks - 1, length = length - old.length, version = version + 1 WHERE acl = old.acl;
    INSERT INTO acl_stats (acl, chunks, length, version) VALUES (new.acl, 1, new.length, 1)
        ON CONFLICT (acl) DO UPDATE SET chunks = chunks + 1, length = length + excluded.length, version = version + 1;
END;
