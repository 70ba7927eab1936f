"""Storage backends behind the `Store` protocol. `open_store()` gives the configured one."""

from pathlib import Path

from inhouse.config import home
from inhouse.store.sqlite import PUBLIC_GROUP, SQLiteStore

__all__ = ["PUBLIC_GROUP", "SQLiteStore", "open_store"]


def open_store(base: Path | None = None) -> SQLiteStore:
    """The embedded store under INHOUSE_HOME (created on first use)."""
    return SQLiteStore((base or home()) / "inhouse.db")
