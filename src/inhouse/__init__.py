"""InHouse: private LLMs over an organisation's own documents.

The public API is re-exported here; stages live in sub-packages (see docs/architecture.md).
"""

from inhouse.errors import InHouseError, InputError, NotFoundError, PermissionDenied, StoreError
from inhouse.types import Chunk, Document, Hit, Principal

__version__ = "0.1.0"

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
