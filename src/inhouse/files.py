"""File helpers shared by the stages: content hashes and atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through `write(binary file)` into a temporary file beside `path`, fsync, then rename:
    readers see the old file or the new one, never half of one; a failure leaves no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=indent)  # serialise first: a bad object writes nothing
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def secure_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by this user alone (0700); tighten it if it exists.

    Documents, vectors, keys and the audit log live under INHOUSE_HOME: other local users have no business
    reading them, whatever the process umask says."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    # A shared folder (sticky like /tmp, or someone else's) is never changed: only our own data folders.
    if st.st_mode & 0o077 and st.st_uid == os.getuid() and not st.st_mode & 0o1000:
        path.chmod(0o700)
    return path


def secure_file(path: Path) -> None:
    """Make an existing file readable and writable by this user alone (0600)."""
    if path.exists() and path.stat().st_mode & 0o077:
        path.chmod(0o600)


def private_db(path: Path) -> Path:
    """Prepare a database file of this user alone: the file created (or tightened) 0600, a missing folder 0700.

    SQLite gives its -wal and -shm files the mode of the database file, so they follow."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        secure_file(path)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return path
