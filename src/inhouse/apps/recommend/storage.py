"""Per-tenant model versions: .npy arrays + JSON, no pickle.

Embedded (the default), under `home()/recs/<tenant>/`:

    recs/<tenant>/current.json          {"version": 3}
    recs/<tenant>/versions/0003/        manifest.json, *.json id lists, *.npy arrays

A version is written into a temporary directory and renamed into place (atomic on POSIX), then
current.json is replaced atomically, so a reader sees either the old or the new version, never a mix.
Rollback only rewrites current.json. The newest `KEEP` versions are kept.

With the `database_url` setting, PostgreSQL holds the versions (`recs_versions`, `recs_files`: each file's
bytes) and which one is current (`recs_current`), so every server replica serves the same version: a version
is written in one transaction with its files and made current in it; a rollback is one row. Versions are never
changed once written, so each process reads a version from the database once, into the same folder layout
under its home (its cache), and maps its arrays from there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from inhouse import config
from inhouse.errors import NotFoundError
from inhouse.files import atomic_write, atomic_write_json

KEEP = 5

PG_MIGRATIONS = [("001_recs", """
CREATE TABLE recs_versions (
    tenant   TEXT NOT NULL,
    version  INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    PRIMARY KEY (tenant, version)
);
CREATE TABLE recs_files (
    tenant  TEXT NOT NULL,
    version INTEGER NOT NULL,
    name    TEXT NOT NULL,      -- users.json, pop.npy, ...
    data    BYTEA NOT NULL,
    PRIMARY KEY (tenant, version, name),
    FOREIGN KEY (tenant, version) REFERENCES recs_versions ON DELETE CASCADE
);
CREATE TABLE recs_current (
    tenant  TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    FOREIGN KEY (tenant, version) REFERENCES recs_versions
);
""")]

_DBS: dict[str, Any] = {}
_DBS_LOCK = threading.Lock()


def _db() -> Any:
    """The deployment's PostgreSQL (one connection per process), or None for the embedded layout."""
    url = config.load_settings().database_url.strip()
    if not url:
        return None
    with _DBS_LOCK:
        if url not in _DBS:
            from inhouse.store.pgdb import PgDatabase

            _DBS[url] = PgDatabase(url, PG_MIGRATIONS, "recs_migrations")
        return _DBS[url]


def tenant_dir(tenant: str) -> Path:
    return config.tenant_dir("recs", tenant)


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj)


def write_npy_atomic(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(arr), allow_pickle=False))


def _versions_dir(tenant: str) -> Path:
    return tenant_dir(tenant) / "versions"


def _local_versions(tenant: str) -> list[int]:
    d = _versions_dir(tenant)
    if not d.exists():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())


def list_versions(tenant: str) -> list[int]:
    tenant_dir(tenant)  # checks the name
    db = _db()
    if db is None:
        return _local_versions(tenant)
    return [v for (v,) in db.query("SELECT version FROM recs_versions WHERE tenant = ? ORDER BY version", (tenant,))]


def _no_model(tenant: str) -> NotFoundError:
    return NotFoundError(f"no recommendation model for tenant '{tenant}'; "
                         f"run: inhouse recs train --tenant {tenant} --interactions FILE")


def current_version(tenant: str) -> int:
    db = _db()
    if db is not None:
        tenant_dir(tenant)
        rows = db.query("SELECT version FROM recs_current WHERE tenant = ?", (tenant,))
        if not rows:
            raise _no_model(tenant)
        return int(rows[0][0])
    path = tenant_dir(tenant) / "current.json"
    if not path.exists():
        raise _no_model(tenant)
    return int(json.loads(path.read_text("utf-8"))["version"])


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def save_version(
    tenant: str, manifest: dict[str, Any], arrays: dict[str, np.ndarray], jsons: dict[str, Any]
) -> int:
    """Write a new version and make it current; returns its number."""
    db = _db()
    if db is not None:
        return _save_pg(db, tenant, manifest, arrays, jsons)
    vdir = _versions_dir(tenant)
    vdir.mkdir(parents=True, exist_ok=True)
    existing = _local_versions(tenant)
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
    for old in _local_versions(tenant)[:-KEEP]:
        shutil.rmtree(vdir / f"{old:04d}", ignore_errors=True)
    return number


def _save_pg(db: Any, tenant: str, manifest: dict[str, Any], arrays: dict[str, np.ndarray],
             jsons: dict[str, Any]) -> int:
    files = {f"{k}.npy": _npy_bytes(v) for k, v in arrays.items()}
    files |= {f"{k}.json": json.dumps(v, ensure_ascii=False).encode() for k, v in jsons.items()}
    with db.transaction() as c:
        # one writer per tenant at a time: the version number is the tenant's next
        c.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("recs:" + tenant,))
        (last,) = c.execute("SELECT coalesce(max(version), 0) FROM recs_versions WHERE tenant = ?",
                            (tenant,)).fetchone()
        number = int(last) + 1
        manifest = {**manifest, "version": number, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        c.execute("INSERT INTO recs_versions VALUES (?, ?, ?)", (tenant, number, json.dumps(manifest)))
        c.executemany("INSERT INTO recs_files VALUES (?, ?, ?, ?)",
                      [(tenant, number, name, data) for name, data in files.items()])
        c.execute("INSERT INTO recs_current VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET version = "
                  "excluded.version", (tenant, number))
        c.execute("DELETE FROM recs_versions WHERE tenant = ? AND version <= ?", (tenant, number - KEEP))
    return number


def set_current(tenant: str, number: int) -> None:
    if number not in list_versions(tenant):
        raise NotFoundError(
            f"tenant '{tenant}' has no model version {number}; versions: {list_versions(tenant)}"
        )
    db = _db()
    if db is not None:
        with db.transaction() as c:  # the same lock as a save, so the version cannot be pruned meanwhile
            c.execute("SELECT pg_advisory_xact_lock(hashtext(?))", ("recs:" + tenant,))
            if c.execute("UPDATE recs_current SET version = ? WHERE tenant = ? AND EXISTS (SELECT 1 FROM "
                         "recs_versions WHERE tenant = ? AND version = ?)", (number, tenant, tenant, number)
                         ).rowcount != 1:
                raise NotFoundError(f"tenant '{tenant}' has no model version {number}; versions: "
                                    f"{list_versions(tenant)}")
        return
    write_json_atomic(tenant_dir(tenant) / "current.json", {"version": number})


def version_path(tenant: str, number: int | None = None) -> Path:
    number = current_version(tenant) if number is None else number
    path = _versions_dir(tenant) / f"{number:04d}"
    db = _db()
    if db is not None:
        return _cached(db, tenant, number, path)
    if not path.exists():
        raise NotFoundError(
            f"tenant '{tenant}' has no model version {number}; versions: {list_versions(tenant)}"
        )
    return path


_FILLING: dict[str, threading.Lock] = {}


def _cached(db: Any, tenant: str, number: int, path: Path) -> Path:
    """A version read from the database into this process's cache folder, once. A folder holding that version
    (its manifest equal to the database's) is never touched again, so readers can map its arrays; anything else
    there (half written, left by another deployment on the same home) is moved aside and replaced."""
    rows = db.query("SELECT manifest FROM recs_versions WHERE tenant = ? AND version = ?", (tenant, number))
    if not rows:
        raise NotFoundError(
            f"tenant '{tenant}' has no model version {number}; versions: {list_versions(tenant)}"
        )
    manifest = json.loads(rows[0][0])
    with _DBS_LOCK:
        lock = _FILLING.setdefault(str(path), threading.Lock())
    with lock:  # one thread of this process fills a folder; others wait and find it filled
        if _holds(path, manifest):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
        try:
            files = db.query("SELECT name, data FROM recs_files WHERE tenant = ? AND version = ?", (tenant, number))
            if not files:
                raise NotFoundError(f"tenant '{tenant}''s model version {number} was removed meanwhile; ask again.")
            for name, data in files:
                atomic_write(tmp / name, lambda f, d=bytes(data): f.write(d))
            write_json_atomic(tmp / "manifest.json", manifest)
            if path.exists() and not _holds(path, manifest):
                aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=".old-"))
                os.replace(path, aside / "v")
                shutil.rmtree(aside, ignore_errors=True)
            try:
                os.replace(tmp, path)
            except OSError:  # another process of this home put the same version there first
                if not _holds(path, manifest):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    kept = set(list_versions(tenant))
    for old in _local_versions(tenant):
        if old not in kept:
            shutil.rmtree(_versions_dir(tenant) / f"{old:04d}", ignore_errors=True)
    return path


def _holds(path: Path, manifest: dict[str, Any]) -> bool:
    try:
        return read_manifest(path) == manifest
    except (OSError, ValueError):
        return False


def version_manifest(tenant: str, number: int) -> dict[str, Any]:
    """A version's manifest, without reading its arrays."""
    db = _db()
    if db is None:
        return read_manifest(version_path(tenant, number))
    rows = db.query("SELECT manifest FROM recs_versions WHERE tenant = ? AND version = ?", (tenant, number))
    if not rows:
        raise NotFoundError(f"tenant '{tenant}' has no model version {number}.")
    return json.loads(rows[0][0])


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
