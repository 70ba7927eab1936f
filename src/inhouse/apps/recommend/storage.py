"""Per-tenant model versions under `home()/recs/<tenant>/`: .npy arrays + JSON, no pickle.

Layout:

    recs/<tenant>/current.json          {"version": 3}
    recs/<tenant>/versions/0003/        manifest.json, *.json id lists, *.npy arrays

A version is written into a temporary directory and renamed into place (atomic on POSIX), then
current.json is replaced atomically, so a reader sees either the old or the new version, never a mix.
Rollback only rewrites current.json. The newest `KEEP` versions are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from inhouse import config
from inhouse.errors import NotFoundError
from inhouse.files import atomic_write, atomic_write_json

KEEP = 5


def tenant_dir(tenant: str) -> Path:
    return config.tenant_dir("recs", tenant)


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj)


def write_npy_atomic(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(arr), allow_pickle=False))


def _versions_dir(tenant: str) -> Path:
    return tenant_dir(tenant) / "versions"


def list_versions(tenant: str) -> list[int]:
    d = _versions_dir(tenant)
    if not d.exists():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())


def current_version(tenant: str) -> int:
    path = tenant_dir(tenant) / "current.json"
    if not path.exists():
        raise NotFoundError(
            f"no recommendation model for tenant '{tenant}'; "
            f"run: inhouse recs train --tenant {tenant} --interactions FILE"
        )
    return int(json.loads(path.read_text("utf-8"))["version"])


def save_version(
    tenant: str, manifest: dict[str, Any], arrays: dict[str, np.ndarray], jsons: dict[str, Any]
) -> int:
    """Write a new version and make it current; returns its number."""
    vdir = _versions_dir(tenant)
    vdir.mkdir(parents=True, exist_ok=True)
    existing = list_versions(tenant)
    number = (existing[-1] if existing else 0) + 1
    tmp = Path(tempfile.mkdtemp(dir=vdir, prefix=".tmp-"))
    try:
        manifest = {**manifest, "version": number, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        for name, arr in arrays.items():
            write_npy_atomic(tmp / f"{name}.npy", arr)
        for name, obj in jsons.items():
            write_json_atomic(tmp / f"{name}.json", obj)
        write_json_atomic(tmp / "manifest.json", manifest)
        os.replace(tmp, vdir / f"{number:04d}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    set_current(tenant, number)
    for old in list_versions(tenant)[:-KEEP]:
        shutil.rmtree(vdir / f"{old:04d}", ignore_errors=True)
    return number


def set_current(tenant: str, number: int) -> None:
    if number not in list_versions(tenant):
        raise NotFoundError(
            f"tenant '{tenant}' has no model version {number}; versions: {list_versions(tenant)}"
        )
    write_json_atomic(tenant_dir(tenant) / "current.json", {"version": number})


def version_path(tenant: str, number: int | None = None) -> Path:
    number = current_version(tenant) if number is None else number
    path = _versions_dir(tenant) / f"{number:04d}"
    if not path.exists():
        raise NotFoundError(
            f"tenant '{tenant}' has no model version {number}; versions: {list_versions(tenant)}"
        )
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text("utf-8"))


def read_json(path: Path, name: str) -> Any:
    return json.loads((path / f"{name}.json").read_text("utf-8"))


def read_arrays(path: Path, mmap: bool = True) -> dict[str, np.ndarray]:
    return {
        p.stem: np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False) for p in path.glob("*.npy")
    }


def rollback(tenant: str, to: int | None = None) -> int:
    """Make `to` (default: the version before the current one) current again."""
    versions = list_versions(tenant)
    cur = current_version(tenant)
    if to is None:
        older = [v for v in versions if v < cur]
        if not older:
            raise NotFoundError(f"tenant '{tenant}' has no version older than {cur} to roll back to.")
        to = older[-1]
    set_current(tenant, to)
    return to
