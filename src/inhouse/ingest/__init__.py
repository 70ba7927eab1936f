"""Ingest: load files, chunk them, index their terms, embed the chunks (incremental, resumable)."""

from inhouse.ingest.pipeline import FileResult, IngestReport, embed_pending, ingest

__all__ = ["FileResult", "IngestReport", "embed_pending", "ingest"]
