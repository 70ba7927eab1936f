"""Storage backends behind the `Store` protocol. `open_store()` gives the configured one."""

from pathlib import Path

from inhouse.config import home, load_settings
from inhouse.protocols import Store
from inhouse.store.sqlite import PUBLIC_GROUP, SQLiteStore

__all__ = ["PUBLIC_GROUP", "SQLiteStore", "has_store", "open_store"]


def has_store(base: Path | None = None, url: str | None = None) -> bool:
    """Whether a knowledge base is configured (PostgreSQL) or was made (the SQLite file), without making one."""
    url = (load_settings(base).database_url if url is None else url).strip()
    return bool(url) or ((base or home()) / "inhouse.db").exists()


def open_store(base: Path | None = None, url: str | None = None) -> Store:
    """The configured store: PostgreSQL when `url` (default: the `database_url` setting, INHOUSE_DATABASE_URL)
    names one, else the embedded SQLite store under INHOUSE_HOME (created on first use)."""
    url = (load_settings(base).database_url if url is None else url).strip()
    if url:
        from inhouse.store.postgres import PostgresStore

        return PostgresStore(url)
    return SQLiteStore((base or home()) / "inhouse.db")

