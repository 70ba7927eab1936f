"""Ingest jobs of uploaded files, kept in the server database so that their status survives a restart."""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field

from inhouse.server.db import ServerDB
from inhouse.server.keys import now_iso

log = logging.getLogger(__name__)

# A job that a stopped server left queued or running ends with this error when the server starts again.
INTERRUPTED = "the server stopped before this job finished; upload the file again"


@dataclass
class IngestJob:
    id: str
    tenant: str
    filename: str
    groups: tuple[str, ...]
    status: str = "queued"  # queued | running | done | failed
    created_at: str = field(default_factory=now_iso)
    report: dict | None = None
    error: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "filename": self.filename, "groups": list(self.groups), "status": self.status,
                "created_at": self.created_at, "report": self.report, "error": self.error}


def _owner_alive(owner: str) -> bool:
    """Whether the server process that owns a job may still run it: another live process on this host, or a
    process on another host (which this one cannot see). A job of this very process is from an earlier,
    stopped server in it; a legacy job without an owner is from a stopped server."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if not host or not pid_text.isdigit():
        return False
    if host != socket.gethostname():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, run by another user
        return True
    return True


class JobStore:
    """Ingest jobs by id, tenant by tenant; each change of a job is written as it happens. Each job records the
    server process that runs it, so a server that starts fails only the unfinished jobs of a stopped one."""

    def __init__(self, db: ServerDB) -> None:
        self.db = db
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        with db.transaction() as conn:
            rows = conn.execute("SELECT id, owner FROM ingest_jobs WHERE status IN ('queued', 'running')").fetchall()
            gone = [(INTERRUPTED, jid) for jid, owner in rows if not _owner_alive(owner)]
            conn.executemany("UPDATE ingest_jobs SET status = 'failed', error = ? WHERE id = ?", gone)
        if gone:
            log.warning("%d ingest jobs of a stopped server marked failed: %s", len(gone), ", ".join(j for _, j in gone))

    def save(self, job: IngestJob) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO ingest_jobs (id, tenant, filename, groups, status, created_at, report, error, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
                "report = excluded.report, error = excluded.error",
                (job.id, job.tenant, job.filename, json.dumps(list(job.groups), ensure_ascii=False), job.status,
                 job.created_at, None if job.report is None else json.dumps(job.report, ensure_ascii=False), job.error,
                 self.owner))

    def get(self, tenant: str, job_id: str) -> IngestJob | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM ingest_jobs WHERE id = ? AND tenant = ?", (job_id, tenant))
        return _job(rows[0]) if rows else None

    def list(self, tenant: str) -> list[IngestJob]:
        return [_job(r) for r in self.db.query(f"SELECT {_COLUMNS} FROM ingest_jobs WHERE tenant = ? "
                                               "ORDER BY created_at, id", (tenant,))]


_COLUMNS = "id, tenant, filename, groups, status, created_at, report, error"


def _job(row: tuple) -> IngestJob:
    jid, tenant, filename, groups, status, created_at, report, error = row
    return IngestJob(jid, tenant, filename, tuple(json.loads(groups)), status, created_at,
                     None if report is None else json.loads(report), error)
