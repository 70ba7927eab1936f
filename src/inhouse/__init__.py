"""InHouse: private LLMs over an organisation's own documents.

The public API is re-exported here; stages live in sub-packages (see docs/architecture.md).
Modules log to `logging.getLogger(__name__)` under the `inhouse` logger, which has only a NullHandler:
where the records go is the application's choice (the `inhouse` command sets it with `--log-level`).
"""

import logging

from inhouse.errors import InHouseError, InputError, NotFoundError, PermissionDenied, StoreError
from inhouse.types import Chunk, Document, Hit, Principal

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Chunk",
    "Document",
    "Hit",
    "InHouseError",
    "InputError",
    "NotFoundError",
    "PermissionDenied",
    "Principal",
    "StoreError",
    "__version__",
]
