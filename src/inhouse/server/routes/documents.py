"""/api/documents: the tenant's documents (readers see those they may read), and for admins upload (an
ingest job on the server's ingest thread), job status and delete."""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from inhouse.errors import InHouseError, InputError, NotFoundError
from inhouse.files import secure_dir
from inhouse.guard.policy import check_policy
from inhouse.guard.view import ReaderView
from inhouse.ingest import embed_pending, ingest
from inhouse.ingest.loaders import LOADERS
from inhouse.server.deps import Admin, Reader, State
from inhouse.server.jobs import IngestJob

log = logging.getLogger(__name__)
router = APIRouter()

_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


@router.get("/api/documents", tags=["inhouse"])
def api_documents(key: Reader, srv: State) -> dict:
    # An admin manages the tenant's every document; a reader lists those their groups may read.
    docs = srv.store.list_documents(tenant=key.tenant, principal=None if key.is_admin else key.principal)
    view = ReaderView(key.principal)
    jobs = [j.to_json() for j in srv.jobs.list(key.tenant)] if key.is_admin else []
    return {"documents": [{"path": d.path, "kind": d.kind, "groups": list(d.groups), "pages": d.pages,
                           "size": d.size, "title": view.stored(d.title)[0], "sha256": d.sha256} for d in docs],
            "jobs": jobs}


@router.post("/api/documents", tags=["inhouse"], status_code=202)
async def api_upload(file: Annotated[UploadFile, File()], key: Admin, srv: State,
                     groups: Annotated[str, Form()] = "", pii: Annotated[str, Form()] = "") -> dict:
    """Upload one file to ingest; `pii` is the PII policy (default: the `pii` setting)."""
    policy = check_policy(pii or srv.settings.pii)
    name = Path(file.filename or "").name
    if not name or not _SAFE_NAME.match(name) or name.startswith("."):
        raise InputError("the upload needs a file name (no path, no leading dot).")
    if Path(name).suffix.lower() not in LOADERS:
        raise InputError(f"unsupported file type '{Path(name).suffix}'; supported: {', '.join(sorted(LOADERS))}.")
    limit = int(srv.settings.max_file_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"the file is over {srv.settings.max_file_mb:g} MB; split it or raise INHOUSE_MAX_FILE_MB.")
    group_list = tuple(g.strip() for g in groups.split(",") if g.strip())
    job = IngestJob(uuid.uuid4().hex[:16], key.tenant, name, group_list)
    folder = srv.base / "uploads" / key.tenant / job.id
    secure_dir(folder)
    (folder / name).write_bytes(data)
    (folder / name).chmod(0o600)
    srv.jobs.save(job)

    def run() -> None:
        job.status = "running"
        srv.jobs.save(job)
        try:
            report = ingest(srv.store, srv.settings, [folder / name], key.tenant, group_list, pii=policy)
            if srv.embedder is not None:
                report.embedded = embed_pending(srv.store, srv.embedder, srv.settings.embed_batch,
                                                tenant=key.tenant)  # only this tenant's chunks, counted
            job.report = report.to_json()
            job.status = "failed" if report.failed else "done"
            job.error = "; ".join(f.error for f in report.failed)
        except Exception as e:  # reported through the job, never lost in a thread
            job.status, job.error = "failed", str(e)
            known = isinstance(e, InHouseError)  # our messages name the problem; others need the traceback
            log.error("ingest job %s of tenant %s failed: %s", job.id, key.tenant, e if known else type(e).__name__,
                      exc_info=not known)
        srv.jobs.save(job)
        log.info("ingest job %s (%s, tenant %s): %s", job.id, name, key.tenant, job.status)
        srv.audit.record(key, "upload", "ok" if job.status == "done" else "error", detail=f"{name}: {job.status} {job.error}")

    srv.ingest_pool.submit(run)
    return {"job": job.to_json()}


@router.get("/api/documents/jobs/{job_id}", tags=["inhouse"])
def api_job(job_id: str, key: Admin, srv: State) -> dict:
    job = srv.jobs.get(key.tenant, job_id)
    if job is None:
        raise NotFoundError(f"no ingest job '{job_id}'.")
    return {"job": job.to_json()}


@router.delete("/api/documents/{path:path}", tags=["inhouse"])
def api_delete(path: str, key: Admin, srv: State) -> dict:
    doc = srv.store.get_document(key.tenant, path)
    if doc is None or not srv.store.delete_document(key.tenant, path):
        raise NotFoundError(f"no document '{path}' in tenant '{key.tenant}'; see GET /api/documents.")
    # An uploaded file goes with its document (uploads/<tenant>/<job>/<name>); files ingested from the
    # organisation's own folders are theirs and stay.
    uploads = (srv.base / "uploads" / key.tenant).resolve()
    root = Path(doc.root).resolve() if doc.root else None
    if root is not None and root.is_relative_to(uploads) and root != uploads:
        shutil.rmtree(uploads / root.relative_to(uploads).parts[0], ignore_errors=True)
    srv.audit.record(key, "delete", "ok", detail=path)
    log.info("deleted %s (tenant %s) for key %s", path, key.tenant, key.id)
    return {"deleted": path}
