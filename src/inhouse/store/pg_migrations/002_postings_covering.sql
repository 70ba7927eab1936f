-- A lexical search reads (chunk, term frequency, length) for each query token among the principal's classes.
-- Kept in the primary key's index (INCLUDE), the search is an index-only scan: one posting per heap page
-- otherwise (at 100k chunks, ~1,400 page reads for a three-term query).
ALTER TABLE postings ADD COLUMN tf INTEGER;
UPDATE postings SET tf = cardinality(positions);
ALTER TABLE postings ALTER COLUMN tf SET NOT NULL;
ALTER TABLE postings DROP CONSTRAINT postings_pkey;
ALTER TABLE postings ADD PRIMARY KEY (token, acl, chunk_id) INCLUDE (length, tf);
