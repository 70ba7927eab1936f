"""`inhouse pii scan`: what personal data is where, by type, read with the same loaders as ingest.

The report never carries the values themselves: each finding has its type, file, page and offsets and a
masked preview of the surrounding text, so the scan output can be shared and logged safely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inhouse.errors import InHouseError
from inhouse.guard.pii import TYPES, PIIMatch, detect, mask
from inhouse.ingest.loaders import LOADERS, load_file
from inhouse.ingest.pipeline import collect

PREVIEW_CHARS = 24  # characters of context on each side of a finding in its preview


@dataclass
class Finding:
    type: str
    page: int | None
    start: int  # offset in the document's text (blocks joined by blank lines, as ingest stores it)
    end: int
    preview: str  # the surrounding text, masked

    def to_json(self) -> dict:
        return {"type": self.type, "page": self.page, "start": self.start, "end": self.end, "preview": self.preview}


@dataclass
class FileScan:
    path: str
    kind: str = ""
    findings: list[Finding] = field(default_factory=list)
    error: str = ""

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(f.type for f in self.findings)
        return {t: c[t] for t in TYPES if c[t]}

    def to_json(self) -> dict:
        out: dict = {"path": self.path, "kind": self.kind, "counts": self.counts,
                     "findings": [f.to_json() for f in self.findings]}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ScanReport:
    files: list[FileScan] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        c: Counter[str] = Counter()
        for f in self.files:
            c.update(f.counts)
        return {t: c[t] for t in TYPES if c[t]}

    def to_json(self) -> dict:
        return {
            "files": [f.to_json() for f in self.files],
            "totals": self.totals,
            "files_with_pii": sum(1 for f in self.files if f.findings),
            "files_scanned": sum(1 for f in self.files if not f.error),
            "files_failed": sum(1 for f in self.files if f.error),
        }


def scan_text(text: str, page: int | None = None, offset: int = 0) -> list[Finding]:
    """Findings in one piece of text; offsets are shifted by `offset`."""
    matches = detect(text)
    return [Finding(m.type, page, offset + m.start, offset + m.end, preview(text, matches, m)) for m in matches]


def preview(text: str, matches: list[PIIMatch], m: PIIMatch) -> str:
    """The text around `m` with every value in it masked.

    The window is masked with what was detected in the whole text, not re-detected on its own: a window
    can cut off the context that identifies a neighbouring value (the 계좌 before an account number, the
    honorific after a name) or cut a value in half, and either would then be printed as it is.
    """
    lo, hi = max(0, m.start - PREVIEW_CHARS), min(len(text), m.end + PREVIEW_CHARS)
    parts: list[str] = []
    pos = lo
    for n in matches:  # sorted by position, without overlaps
        if n.end <= lo or n.start >= hi:
            continue
        parts.append(text[pos : max(pos, n.start)])
        parts.append(f"[{n.type}]")  # a value cut by the window edge is masked whole
        pos = n.end
    parts.append(text[pos:hi] if pos < hi else "")
    return mask("".join(parts)).replace("\n", " ")


def scan_file(file: Path, doc_path: str) -> FileScan:
    """Findings in one file; an unreadable file is reported with its error, never raised."""
    try:
        loaded = load_file(file, doc_path)
    except InHouseError as e:
        return FileScan(doc_path, error=str(e))
    except OSError as e:
        return FileScan(doc_path, error=f"{doc_path}: cannot read the file ({e.strerror}).")
    result = FileScan(doc_path, loaded.kind)
    for b in loaded.blocks:
        result.findings.extend(scan_text(b.text, b.page, b.start))
    return result


def scan_path(path: Path, progress: Callable[[str, int, int], None] | None = None) -> ScanReport:
    """Scan a file or a folder (recursively; files of unsupported types are skipped silently)."""
    _, files, skipped = collect(path)
    plan = [(f, doc) for f, doc in files if f.suffix.lower() in LOADERS or len(files) == 1]
    report = ScanReport([FileScan(doc, error=why) for doc, why in skipped])
    for i, (file, doc) in enumerate(plan):
        if progress:
            progress("scan", i, len(plan))
        report.files.append(scan_file(file, doc))
    if progress:
        progress("scan", len(plan), len(plan))
    return report
