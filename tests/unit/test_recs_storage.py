"""Versioned per-tenant model storage: atomic writes, rollback, pruning, no pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inhouse.apps.recommend import storage
from inhouse.errors import InputError, NotFoundError


def save(tenant: str, value: float) -> int:
    return storage.save_version(
        tenant, {"model": "pop"}, {"counts": np.array([value], np.float32)}, {"items": ["a"]}
    )


def test_versions_rollback_and_pruning(inhouse_home: Path):
    with pytest.raises(NotFoundError, match="recs train"):
        storage.current_version("shop")
    assert [save("shop", v) for v in (1, 2, 3)] == [1, 2, 3]
    root = inhouse_home / "recs" / "shop"
    assert storage.current_version("shop") == 3
    path = storage.version_path("shop")
    assert storage.read_arrays(path)["counts"].tolist() == [3.0]
    assert storage.read_json(path, "items") == ["a"] and storage.read_manifest(path)["version"] == 3
    assert storage.rollback("shop") == 2 and storage.current_version("shop") == 2
    assert storage.rollback("shop", 3) == 3
    with pytest.raises(NotFoundError):
        storage.rollback("shop", 42)
    for v in range(4, 4 + storage.KEEP):
        save("shop", v)
    assert storage.list_versions("shop") == list(range(4, 4 + storage.KEEP))
    # Nothing temporary is left behind, and arrays are plain .npy (loadable without pickle).
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]
    for npy in root.rglob("*.npy"):
        np.load(npy, allow_pickle=False)


def test_tenants_are_isolated_and_names_validated(inhouse_home: Path):
    save("a", 1)
    with pytest.raises(NotFoundError):
        storage.current_version("b")
    import unicodedata

    for bad in ("../x", "", "a/b", ".hidden", "a..b", "_x", unicodedata.normalize("NFD", "한빛은행"), "𝐀" * 64):
        with pytest.raises(InputError):
            storage.tenant_dir(bad)
    # every name the knowledge base takes as a tenant names its recommender folder too (Korean included)
    from inhouse.ingest.pipeline import validate_name

    for good in ("한빛은행", "shop@mall", "acme.kr"):
        assert storage.tenant_dir(good).name == validate_name("tenant", good)


def test_atomic_json_write_replaces_whole_file(tmp_path: Path):
    p = tmp_path / "x.json"
    storage.write_json_atomic(p, {"v": 1})
    storage.write_json_atomic(p, {"v": 2})
    assert p.read_text() == '{"v": 2}' and [q.name for q in tmp_path.iterdir()] == ["x.json"]
