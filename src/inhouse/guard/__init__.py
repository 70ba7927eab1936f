"""Guard: keeps customer data and planted text from leaking out of InHouse.

- `pii`: detectors for Korean and English personal data, validated (dates, checksums, context), and masking.
- `egress`: a socket-level lock that refuses outbound connections except loopback and an allow-list.
- `vault`: reversible tokenization of PII with a per-tenant key (for roles cleared to see it).
- `injection`: prompt-injection screening of questions, retrieved chunks and answers.
"""
