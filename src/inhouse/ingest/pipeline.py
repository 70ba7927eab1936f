"""Incremental ingest: files → loaders → chunks → terms → store, then embeddings for what is new.

Each file is stored in its own transaction, so a crash (even kill -9) leaves every document either
fully old or fully new, and a re-run picks up where the last one stopped: unchanged files are skipped by
content hash, and chunks without vectors are embedded in resumable batches.
"""

from __future__ import annotations

import logging
import math
import os
import time
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inhouse.config import Settings, valid_tenant
from inhouse.errors import InHouseError, InputError, NotFoundError
from inhouse.files import sha256_file
from inhouse.guard.policy import apply_to_blocks, apply_to_text, check_policy
from inhouse.guard.vault import Vault
from inhouse.ingest.chunker import chunk_blocks
from inhouse.ingest.loaders import LOADERS, load_file
from inhouse.protocols import Embedder, Store
from inhouse.text import TERMS_VERSION, lexical_terms_batch
from inhouse.text.analyze import Analysis, analyze
from inhouse.types import Block, Chunk, Document

log = logging.getLogger(__name__)

PAGE_CHARS = 1800  # a "page" of a format without pages (text, HTML, DOCX), for page counts and speeds

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class FileResult:
    path: str
    status: str  # added | updated | unchanged | regrouped | failed | skipped | removed
    chunks: int = 0
    pages: int = 0
    error: str = ""


@dataclass
class IngestReport:
    tenant: str
    files: list[FileResult] = field(default_factory=list)
    embedded: int = 0
    embeddings_pending: int = 0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_json(self) -> dict:
        summary = {
            s: self.count(s) for s in ("added", "updated", "unchanged", "regrouped", "removed", "failed", "skipped")
        }
        return {
            "tenant": self.tenant,
            "summary": summary,
            "chunks": sum(f.chunks for f in self.files),
            "pages": sum(f.pages for f in self.files),
            "embedded": self.embedded,
            "embeddings_pending": self.embeddings_pending,
            "files": [asdict(f) for f in self.files],
        }


def _walk(root: Path) -> Iterable[Path]:
    """Files under `root`, hidden ones left out, and symlinked folders (never descended into: a link
    to a folder inside `root` is walked anyway, one outside is refused by `collect`)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _outside(file: Path, root: Path) -> bool:
    """Whether `file` (under `root`) is a symlink, or sits under one, that leads out of `root`."""
    return not file.resolve().is_relative_to(root)


def collect(path: Path) -> tuple[Path, list[tuple[Path, str]], list[tuple[str, str]]]:
    """The root used for relative paths, (file, doc path) pairs under `path`, and (doc path, reason) for
    what is left out: symlinks that lead outside the folder (a link to /etc/passwd, or to another
    tenant's folder, must not be ingested by pointing at a shared folder). Links that stay inside are
    followed for files; a symlinked folder is never descended into (its target, if inside, is walked)."""
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder; check the path.")
    if path.is_file():
        return path.parent.resolve(), [(path, path.name)], []
    root = path.resolve()
    files, skipped = [], []
    for f in _walk(path):
        doc = f.relative_to(path).as_posix()
        if _outside(f, root):
            skipped.append((doc, f"{doc}: a symlink to {f.resolve()}, outside the folder being ingested; "
                                 "not followed (copy the file into the folder to ingest it)."))
        elif not f.is_dir():
            files.append((f, doc))
    return root, files, skipped


def validate_name(kind: str, value: str) -> str:
    """A tenant, user or group name, stripped, or InputError. A tenant names folders (uploads/<tenant>/)
    as well as rows, so it must be safe as a path: letters or digits first, then letters, digits, '_', '-',
    '.', '@'; never '..'."""
    value = unicodedata.normalize("NFC", value.strip())  # one spelling of a Korean name, whatever typed it
    if kind == "tenant":
        if not valid_tenant(value):
            raise InputError(f"invalid tenant '{value}': use 1–64 letters, digits, '_', '-', '.' or '@', starting "
                             "with a letter or digit (it names folders too).")
        return value
    if not value or any(c in value for c in ",\n\t") or len(value) > 128:
        raise InputError(f"invalid {kind} '{value}': use 1–128 characters without commas or tabs.")
    return value


def ingest_file(store: Store, settings: Settings, file: Path, doc_path: str, root: str, tenant: str,
                groups: tuple[str, ...], pii: str = "keep", vault: Vault | None = None) -> FileResult:
    """Ingest one file; a failure is returned as a FileResult, never raised, so the batch goes on.

    `pii` is the PII policy (keep | mask | tokenize | reject, see inhouse.guard.policy)."""
    t0 = time.perf_counter()
    result = _ingest_file(store, settings, file, doc_path, root, tenant, groups, pii, vault)
    if result.status == "failed":
        log.warning("failed %s (tenant %s): %s", doc_path, tenant, result.error)
    elif result.status == "unchanged":
        log.debug("unchanged %s (tenant %s)", doc_path, tenant)
    else:
        log.info("%s %s (tenant %s): %d chunks, %d pages, %.2f s", result.status, doc_path, tenant, result.chunks,
                 result.pages, time.perf_counter() - t0)
    return result


def _ingest_file(store: Store, settings: Settings, file: Path, doc_path: str, root: str, tenant: str,
                 groups: tuple[str, ...], pii: str, vault: Vault | None) -> FileResult:
    try:
        size = file.stat().st_size
        if size > settings.max_file_mb * 1024 * 1024:
            raise InputError(
                f"{doc_path}: the file is {size / 1048576:.1f} MB, over the limit of {settings.max_file_mb:g} MB; "
                "split it, or raise the limit with INHOUSE_MAX_FILE_MB."
            )
        sha = sha256_file(file)
        old = store.get_document(tenant, doc_path)
        if old is not None and old.sha256 == sha:
            if set(old.groups) != (set(groups) or {"*"}):
                store.set_groups(tenant, doc_path, groups)
                return FileResult(doc_path, "regrouped", pages=old.pages)
            return FileResult(doc_path, "unchanged", pages=old.pages)
        loaded = load_file(file, doc_path, settings.max_unpacked_mb)
        loaded.blocks = apply_to_blocks(loaded.blocks, pii, tenant, doc_path, vault)
        loaded.title = apply_to_text(loaded.title, pii, tenant, vault)
        analyses = analyze([b.text for b in loaded.blocks])  # the one Kiwi pass over this file
        chunks = chunk_blocks(loaded.blocks, settings.chunk_chars, settings.chunk_overlap, analyses)
        terms = chunk_terms(chunks, loaded.blocks, analyses)
        pages = loaded.pages if loaded.kind == "pdf" else max(1, math.ceil(len(loaded.text) / PAGE_CHARS))
        doc = Document(path=doc_path, tenant=tenant, groups=groups, sha256=sha, kind=loaded.kind, pages=pages,
                       title=loaded.title, root=root, size=size)
        store.replace_document(doc, chunks, terms)
        return FileResult(doc_path, "updated" if old else "added", chunks=len(chunks), pages=pages)
    except InHouseError as e:
        return FileResult(doc_path, "failed", error=str(e))
    except OSError as e:
        return FileResult(doc_path, "failed", error=f"{doc_path}: cannot read the file ({e.strerror}).")


def _chunk_terms(texts: list[str]) -> list[str]:
    return [" ".join(t) for t in lexical_terms_batch(texts)]


def chunk_terms(chunks: list[Chunk], blocks: list[Block], analyses: list[Analysis]) -> list[str]:
    """Each chunk's lexical terms (heading path + text), taken from the blocks' existing analyses."""
    heading_terms: dict[tuple[str, ...], list[str]] = {}
    paths = list({c.heading_path for c in chunks})
    for path, terms in zip(paths, lexical_terms_batch([" ".join(p) for p in paths]), strict=True):
        heading_terms[path] = terms
    starts = [b.start for b in blocks]
    out = []
    for c in chunks:
        terms = list(heading_terms[c.heading_path])
        i = max(0, bisect_right(starts, c.char_start) - 1)
        while i < len(blocks) and blocks[i].start < c.char_end:
            b = blocks[i]
            lo, hi = max(c.char_start, b.start) - b.start, min(c.char_end, b.start + len(b.text)) - b.start
            if hi > lo:
                terms.extend(analyses[i].terms(lo, hi))
            i += 1
        out.append(" ".join(terms))
    return out


def refresh_terms(store: Store, progress: Progress | None = None) -> int:
    """Re-derive every chunk's lexical terms when the analyser changed since they were stored."""
    if store.get_meta("terms_version") == TERMS_VERSION:
        return 0
    total, done, last = store.stats()["chunks"], 0, 0
    t0 = time.perf_counter()
    if total:
        log.info("re-deriving the lexical terms of %d chunks (terms version %s)", total, TERMS_VERSION)
    while rows := store.iter_chunk_texts(last, 500):
        store.update_terms(list(zip([i for i, _ in rows], _chunk_terms([t for _, t in rows]), strict=True)))
        done, last = done + len(rows), rows[-1][0]
        if progress:
            progress("reindex", done, total)
    store.set_meta("terms_version", TERMS_VERSION)
    if done:
        log.info("re-derived the terms of %d chunks in %.1f s", done, time.perf_counter() - t0)
    return done


def ingest(store: Store, settings: Settings, paths: Iterable[Path], tenant: str, groups: Iterable[str] = (),
           sync: bool = False, progress: Progress | None = None, pii: str = "keep",
           vault: Vault | None = None) -> IngestReport:
    """Ingest files and folders for a tenant; with `sync`, remove documents whose files are gone.

    `pii`: what to do with personal data in the files (keep | mask | tokenize | reject). A file whose
    bytes are unchanged is skipped whatever the policy: re-ingest changed files to apply a new one."""
    tenant = validate_name("tenant", tenant)
    check_policy(pii)
    if pii == "tokenize" and vault is None:
        vault = Vault()
    groups = tuple(sorted({validate_name("group", g) for g in groups}))
    report = IngestReport(tenant)
    t0 = time.perf_counter()
    refresh_terms(store, progress)
    plan: list[tuple[Path, str, str]] = []
    roots: list[tuple[str, set[str]]] = []
    for p in paths:
        root, files, skipped = collect(Path(p))
        if Path(p).is_dir():
            roots.append((str(root), {doc for _, doc in files}))
        plan.extend((f, doc, str(root)) for f, doc in files)
        report.files.extend(FileResult(doc, "skipped", error=why) for doc, why in skipped)
        for doc, why in skipped:
            log.warning("skipped %s: %s", doc, why)
    total = len(plan)
    log.info("ingesting %d files for tenant %s (pii policy %s%s)", total, tenant, pii, ", sync" if sync else "")
    for i, (file, doc_path, root) in enumerate(plan):
        if progress:
            progress("ingest", i, total)
        if file.suffix.lower() not in LOADERS and len(plan) > 1:
            report.files.append(FileResult(doc_path, "skipped", error=f"unsupported file type '{file.suffix}'"))
            log.info("skipped %s: unsupported file type %r", doc_path, file.suffix)
            continue
        report.files.append(ingest_file(store, settings, file, doc_path, root, tenant, groups, pii, vault))
    if progress:
        progress("ingest", total, total)
    if sync:
        for root, present in roots:
            for doc in store.list_documents(tenant=tenant, root=root):
                if doc.path not in present and store.delete_document(tenant, doc.path):
                    report.files.append(FileResult(doc.path, "removed"))
                    log.info("removed %s (tenant %s): its file is gone", doc.path, tenant)
    counts = {s: n for s, n in report.to_json()["summary"].items() if n}
    log.info("ingest for tenant %s done in %.1f s: %s", tenant, time.perf_counter() - t0,
             ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing to do")
    return report


def embed_pending(store: Store, embedder: Embedder, batch: int = 16, progress: Progress | None = None,
                  limit: int | None = None, tenant: str | None = None) -> int:
    """Embed chunks that have no vector yet, batch by batch (each batch committed: resumable); with
    `tenant`, that tenant's chunks only, so the count (and the time) says nothing of other tenants."""
    pending = store.stats(embedder.name, tenant=tenant)["embeddings_pending"]
    total = min(pending, limit) if limit is not None else pending
    done = 0
    if total:
        log.info("embedding %d chunks with %s (%d pending)", total, embedder.name, pending)
    t0 = time.perf_counter()
    while done < total:
        items = store.pending_embeddings(embedder.name, min(batch, total - done), tenant=tenant)
        if not items:
            break
        vectors = embedder.embed([t for _, t in items])
        store.put_embeddings(embedder.name, [(i, v) for (i, _), v in zip(items, vectors, strict=True)])
        done += len(items)
        log.debug("embedded %d of %d chunks (%.1f s)", done, total, time.perf_counter() - t0)
        if progress:
            progress("embed", done, total)
    if done:
        seconds = time.perf_counter() - t0
        log.info("embedded %d chunks in %.1f s (%.1f chunks/s)", done, seconds, done / seconds if seconds else 0.0)
    return done
