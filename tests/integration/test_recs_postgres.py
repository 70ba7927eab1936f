"""Recommender versions in PostgreSQL (the `database_url` setting): every replica, whatever its home, serves the
version that is current in the database; a rollback through one is seen by all; pruning and the cache folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inhouse.apps.recommend import api, storage
from inhouse.errors import NotFoundError


def save(tenant: str, value: float) -> int:
    return storage.save_version(
        tenant, {"model": "pop"}, {"counts": np.array([value], np.float32)}, {"items": ["가", "b"]}
    )


@pytest.fixture
def on_postgres(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INHOUSE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("INHOUSE_HOME", str(tmp_path / "replica-a"))
    yield tmp_path
    for db in storage._DBS.values():
        db.close()
    storage._DBS.clear()
    api._CACHE.clear()


def test_versions_live_in_the_database(on_postgres: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(NotFoundError, match="recs train"):
        storage.current_version("shop")
    assert [save("shop", v) for v in (1, 2, 3)] == [1, 2, 3]
    assert not (on_postgres / "replica-a" / "recs" / "shop" / "current.json").exists()
    path = storage.version_path("shop")
    assert storage.read_arrays(path)["counts"].tolist() == [3.0] and storage.read_json(path, "items") == ["가", "b"]
    # another replica (another home, nothing cached) reads the same current version; a rollback there is seen here
    monkeypatch.setenv("INHOUSE_HOME", str(on_postgres / "replica-b"))
    assert storage.current_version("shop") == 3
    assert storage.read_arrays(storage.version_path("shop"))["counts"].tolist() == [3.0]
    assert storage.rollback("shop") == 2
    monkeypatch.setenv("INHOUSE_HOME", str(on_postgres / "replica-a"))
    assert storage.current_version("shop") == 2
    assert storage.read_arrays(storage.version_path("shop"))["counts"].tolist() == [2.0]
    with pytest.raises(NotFoundError):
        storage.rollback("shop", 42)
    for v in range(4, 4 + storage.KEEP):
        save("shop", v)
    assert storage.list_versions("shop") == list(range(4, 4 + storage.KEEP))
    storage.version_path("shop")  # the cache keeps only versions the database still has
    cached = sorted(p.name for p in (on_postgres / "replica-a" / "recs" / "shop" / "versions").iterdir())
    assert cached == [f"{storage.KEEP + 3:04d}"]
    with pytest.raises(NotFoundError):
        storage.current_version("other")  # tenants apart


def test_a_trained_model_is_served_by_every_replica(on_postgres: Path, monkeypatch: pytest.MonkeyPatch):
    events = on_postgres / "e.csv"
    events.write_text("user,item,timestamp\n" + "".join(
        f"u{u},{'ab'[u % 2]}{(u + s) % 6},{u * 10 + s}\n" for u in range(30) for s in range(4)), "utf-8")
    api.train("shop", events, model="itemknn")
    here = api.recommend_user("shop", "u0", 5)
    monkeypatch.setenv("INHOUSE_HOME", str(on_postgres / "replica-b"))
    api._CACHE.clear()
    assert api.recommend_user("shop", "u0", 5) == here
    assert api.versions("shop")["current"] == 1


def test_threads_filling_the_cache_at_once(on_postgres: Path, monkeypatch: pytest.MonkeyPatch):
    from concurrent.futures import ThreadPoolExecutor

    for v in (1, 2, 3):
        save("shop", v)
    monkeypatch.setenv("INHOUSE_HOME", str(on_postgres / "replica-c"))
    assert [storage.version_manifest("shop", v)["version"] for v in storage.list_versions("shop")] == [1, 2, 3]
    assert not (on_postgres / "replica-c" / "recs").exists()  # listing versions reads no arrays

    def read(_: int) -> list[float]:
        return storage.read_arrays(storage.version_path("shop")).get("counts", np.array([])).tolist()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(read, range(16))) == [[3.0]] * 16
    (on_postgres / "replica-c" / "recs" / "shop" / "versions" / "0003" / "manifest.json").unlink()  # damaged
    assert read(0) == [3.0]
