"""The data consortium: partners contribute text for training only.

Contributions live in their own private database under `home()/consortium/`, which no search, chat or answer
code opens: the knowledge base never holds them. Each text is cleaned (normalised, language identified, quality
filtered, PII masked), deduplicated exactly and by MinHash LSH within and across partners (a duplicate is
credited once, to the earliest contribution), counted in the served model's tokens and credited to its partner in
an append-only, hash-chained ledger from which revenue shares are computed. `export` writes training shards with
provenance; `CopyFilter` blocks any output that reproduces 50 characters or more of contributed text.
"""

from inhouse.consortium.clean import Cleaner, CleanReport
from inhouse.consortium.db import ConsortiumDB, open_consortium
from inhouse.consortium.dedup import MinHasher, NearDuplicates
from inhouse.consortium.filter import CopyFilter, copy_filter
from inhouse.consortium.shares import revenue_shares

__all__ = ["CleanReport", "Cleaner", "ConsortiumDB", "CopyFilter", "MinHasher", "NearDuplicates",
           "copy_filter", "open_consortium", "revenue_shares"]
