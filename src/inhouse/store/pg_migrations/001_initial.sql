-- The knowledge base on PostgreSQL: documents, their access groups, chunks, a positional index of chunk
-- tokens (postings) with each token's chunk count per access class, and pgvector embeddings. Every chunk,
-- posting and vector carries its access class (the chunk's `acl`: one token per tenant and group that reads
-- it), so searches filter by class inside the index scan.
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE documents (
    id          BIGSERIAL PRIMARY KEY,
    tenant      TEXT NOT NULL,
    path        TEXT NOT NULL,
    root        TEXT NOT NULL DEFAULT '',
    kind        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL DEFAULT 0,
    pages       INTEGER NOT NULL DEFAULT 1,
    title       TEXT NOT NULL DEFAULT '',
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant, path)
);
CREATE TABLE doc_groups (
    doc_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    grp    TEXT NOT NULL,
    PRIMARY KEY (doc_id, grp)
);
CREATE INDEX doc_groups_grp ON doc_groups (grp, doc_id);
CREATE TABLE chunks (
    id          BIGSERIAL PRIMARY KEY,
    doc_id      BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    tenant      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    page        INTEGER,
    heading     TEXT NOT NULL DEFAULT '[]',
    char_start  INTEGER NOT NULL,
    char_end    INTEGER NOT NULL,
    terms       TEXT NOT NULL,
    acl         TEXT NOT NULL,
    length      INTEGER NOT NULL
);
CREATE INDEX chunks_doc ON chunks (doc_id, ordinal);
CREATE INDEX chunks_acl ON chunks (acl, id);
-- One row per (token, chunk): where the token stands in the chunk's terms (its count is the term frequency).
CREATE TABLE postings (
    token     TEXT NOT NULL,
    acl       TEXT NOT NULL,
    chunk_id  BIGINT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    length    INTEGER NOT NULL,
    positions INTEGER[] NOT NULL,
    PRIMARY KEY (token, acl, chunk_id)
);
CREATE INDEX postings_chunk ON postings (chunk_id);
-- How many chunks of each access class hold each token, and each class's chunks and tokens: BM25's
-- statistics over what one principal reads, summed over the classes it reads.
CREATE TABLE token_df (
    token TEXT NOT NULL,
    acl   TEXT NOT NULL,
    df    BIGINT NOT NULL,
    PRIMARY KEY (token, acl)
);
CREATE TABLE acl_stats (
    acl    TEXT PRIMARY KEY,
    chunks BIGINT NOT NULL,
    length BIGINT NOT NULL
);
-- Vectors of any dimension; each model's are indexed (HNSW, inner product) by a partial index made when its
-- first vector is stored (vector_models).
CREATE TABLE embeddings (
    model    TEXT NOT NULL,
    chunk_id BIGINT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    acl      TEXT NOT NULL,
    vector   vector NOT NULL,
    PRIMARY KEY (model, chunk_id)
);
CREATE INDEX embeddings_chunk ON embeddings (chunk_id);
CREATE INDEX embeddings_acl ON embeddings (model, acl);
CREATE TABLE vector_models (
    model TEXT PRIMARY KEY,
    dim   INTEGER NOT NULL,
    index_name TEXT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Bumped by every write, so cached counts know when to recount.
CREATE TABLE generation (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
INSERT INTO generation VALUES (1, 0);
