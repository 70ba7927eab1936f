"""The SQLite file under each of a shop's stores (orders, reviews, catalog): `inhouse.dbfile.DBFile`."""

from __future__ import annotations

from inhouse.dbfile import DBFile


class ShopDB(DBFile):
    """One of a shop's stores; a subclass names its `SCHEMA`, `WHAT` and `REBUILD`."""
