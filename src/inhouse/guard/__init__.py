"""Guard: keeps customer data and planted text from leaking out of InHouse.

- `pii`: detectors for Korean and English personal data, validated (dates, checksums, context), and masking.
- `egress`: a socket-level lock that refuses outbound connections except loopback and an allow-list.
- `vault`: reversible tokenization of PII with a per-tenant key (for roles cleared to see it).
- `injection`: prompt-injection screening of questions, retrieved chunks and answers.
- `policy`: PII policies at ingest (keep, mask, tokenize, reject) and clearance at output.
- `screening`: the guard's hooks on the answer path (questions, answers, streamed tokens).
- `view`: the reader view, which retrieval applies to every chunk a principal reads.

The guard's modules import nothing above them: the PII scan of files lives with the loaders
(`inhouse.ingest.scan`), the red team above the server (`inhouse.redteam`).
"""
