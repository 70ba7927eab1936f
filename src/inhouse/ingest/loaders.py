"""File loaders: bytes on disk → normalised text blocks with page numbers and heading paths.

One function per format, picked by file extension. Every failure is an `InputError` whose message says
what is wrong with the file and what to do, so the ingest report can show it next to the file name.

A file may be hostile (anyone who can drop a file in a shared folder can write one): zip parts and PDF
streams may unpack to at most `max_unpacked_mb` (inhouse.ingest.unpack), JSON and HTML may nest only so
deep, and no parser error of any kind escapes `load_file` as anything but an InputError for that file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inhouse.config import Settings
from inhouse.errors import InputError
from inhouse.ingest.unpack import UnpackLimit, check_zip, pdf_budget
from inhouse.text import normalize
from inhouse.types import Block

UNPACKED = int(Settings.max_unpacked_mb * 1048576)  # bytes; load_file takes the setting
MAX_JSON_DEPTH = 64  # a record nested deeper is not a catalog row; json.loads would recurse ~1000 deep
MAX_HTML_DEPTH = 256  # deeper than real pages; the walk below costs depth x elements (Blink stops at 512)


@dataclass
class Loaded:
    kind: str
    blocks: list[Block]
    pages: int = 1
    title: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else CP949 (legacy Korean), else a clear error."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name}: looks like a binary file (contains NUL bytes), not text; check the file type.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise InputError(f"{name}: has a UTF-16 byte-order mark but is not valid UTF-16 ({e.reason}); "
                             "re-save it as UTF-8.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        utf8_error = e
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        raise InputError(
            f"{name}: not valid UTF-8 (byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start}) "
            "nor CP949/EUC-KR; convert it to UTF-8 (e.g. iconv -f <encoding> -t UTF-8)."
        ) from None
    controls = sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > 8:
        raise InputError(f"{name}: looks like a binary file, not text; check the file type.")
    return text


def _blocks_from_paragraphs(paras: list[tuple[str, int | None, tuple[str, ...]]]) -> list[Block]:
    blocks, offset = [], 0
    for text, page, heading in paras:
        text = normalize(text)
        if not text:
            continue
        blocks.append(Block(text=text, page=page, heading_path=heading, start=offset))
        offset += len(text) + 2
    return blocks


# Heading lines are matched only when short (a longer line is never a heading), and the Markdown one
# without a regex: `#{1,6}\s+(.+?)\s*#*\s*$` backtracks cubically on a long run of spaces.
HEADING_CHARS = 80
_TXT_HEADING = re.compile(r"^(제\s*\d+\s*[조장절관]\s*(\(.+?\))?.*|\d+(\.\d+)*\.?\s+\S.{0,60}|[IVX]+\.\s+\S.{0,60})$")


def _md_heading(line: str) -> tuple[int, str] | None:
    """(level, title) of a stripped Markdown ATX heading line ("## Title ##"), else None."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or len(line) == level or not line[level].isspace():
        return None
    rest = line[level:].lstrip()
    if not rest:
        return None
    # The title without closing hashes and the spaces around them, but at least one character ("# #").
    end = len(rest.rstrip().rstrip("#").rstrip())
    return level, rest[: max(1, end)]


def _txt_heading(line: str) -> tuple[int, str] | None:
    return (1, line) if _TXT_HEADING.match(line) else None


def _looks_like_title(line: str) -> bool:
    line = line.strip()
    return 0 < len(line) <= 60 and line[-1] not in ".!?:;,。)" and not line.startswith(("-", "*", "•"))


def _paragraphs(text: str, heading: Callable[[str], tuple[int, str] | None],
                md: bool) -> list[tuple[str, int | None, tuple[str, ...]]]:
    """Split text into paragraphs at blank lines; heading lines update the heading path."""
    out: list[tuple[str, int | None, tuple[str, ...]]] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []

    def flush() -> None:
        nonlocal path
        # In plain text, a short unpunctuated first line over a paragraph is its heading ("Eligibility").
        if not md and len(buf) >= 2 and _looks_like_title(buf[0]):
            path = [(1, buf.pop(0).strip())]
        if buf:
            out.append(("\n".join(buf), None, tuple(h for _, h in path)))
            buf.clear()

    in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        if md and stripped.startswith("```"):
            in_fence = not in_fence
        m = None if in_fence or len(stripped) > HEADING_CHARS else heading(stripped)
        if m:
            flush()
            level, title = m
            path = [(lv, h) for lv, h in path if lv < level] + [(level, title.strip("# "))]
            continue
        if not stripped and not in_fence:
            flush()
        else:
            buf.append(line)
    flush()
    return out


def load_markdown(data: bytes, name: str) -> Loaded:
    text = decode_text(data, name)
    title = next((m[1] for ln in text.splitlines() if (m := _md_heading(ln.strip()))), "")
    return Loaded("md", _blocks_from_paragraphs(_paragraphs(text, _md_heading, md=True)), title=title)


def load_text(data: bytes, name: str) -> Loaded:
    text = decode_text(data, name)
    return Loaded("txt", _blocks_from_paragraphs(_paragraphs(text, _txt_heading, md=False)))


def _too_big(name: str, kind: str, problem: str) -> InputError:
    return InputError(f"{name}: {problem}; this is not a normal {kind} (a decompression bomb?): check where it came "
                      "from, or if it is genuine raise INHOUSE_MAX_UNPACKED_MB.")


def load_pdf(data: bytes, name: str, *, limit: int = UNPACKED) -> Loaded:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise InputError(f"{name}: not a PDF file (no %PDF header); check the file or its extension.")
    paras: list[tuple[str, int | None, tuple[str, ...]]] = []
    try:
        with pdf_budget(limit), pdfplumber.open(io.BytesIO(data)) as pdf:
            pages = len(pdf.pages)
            for number, page in enumerate(pdf.pages, start=1):
                text = page.extract_text() or ""
                page.close()  # drop the page's layout objects before the next page's
                for para in re.split(r"\n\s*\n", text):
                    paras.append((para, number, ()))
    except UnpackLimit as e:
        raise _too_big(name, "PDF", e.problem) from None
    except (PDFPasswordIncorrect, PDFEncryptionError) as e:
        raise InputError(f"{name}: the PDF is encrypted; save an unencrypted copy and ingest that.") from e
    except InputError:
        raise
    except Exception as e:
        # pdfplumber wraps pdfminer's errors: look at what is inside.
        limit_hit = next((a for a in getattr(e, "args", ()) if isinstance(a, UnpackLimit)), None)
        if limit_hit is not None:
            raise _too_big(name, "PDF", limit_hit.problem) from None
        inner = [type(a).__name__ for a in getattr(e, "args", ()) if isinstance(a, Exception)]
        if any("Password" in n or "Encrypt" in n for n in inner) or "password" in str(e).lower():
            raise InputError(f"{name}: the PDF is encrypted; save an unencrypted copy and ingest that.") from e
        raise InputError(
            f"{name}: cannot read the PDF ({type(e).__name__}); the file may be corrupt or truncated."
        ) from e
    blocks = _blocks_from_paragraphs(paras)
    if not blocks:
        raise InputError(f"{name}: the PDF has no extractable text (scanned images?); OCR it first.")
    return Loaded("pdf", blocks, pages=pages)


def _check_zip(data: bytes, name: str, kind: str, limit: int) -> None:
    try:
        check_zip(data, limit)
    except UnpackLimit as e:
        raise _too_big(name, kind, e.problem) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error, ValueError) as e:
        raise InputError(f"{name}: cannot read the {kind} ({type(e).__name__}: {e}); the file is corrupt, encrypted "
                         f"or not a .{kind.lower()} file.") from None


def load_docx(data: bytes, name: str, *, limit: int = UNPACKED) -> Loaded:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_zip(data, name, "DOCX", limit)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as e:
        raise InputError(f"{name}: cannot read the DOCX (corrupt, encrypted, or not a .docx file).") from e
    except Exception as e:  # zipfile.BadZipFile and friends
        raise InputError(f"{name}: cannot read the DOCX ({type(e).__name__}); the file may be corrupt.") from e
    paras: list[tuple[str, int | None, tuple[str, ...]]] = []
    path: list[tuple[int, str]] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = docx.text.paragraph.Paragraph(child, document)
            style = (para.style.name if para.style is not None else "") or ""
            text = para.text.strip()
            m = re.match(r"(?:Heading|제목)\s*(\d)", style)
            if (m or style == "Title") and text:
                level = int(m.group(1)) if m else 0
                path = [(lv, h) for lv, h in path if lv < level] + [(level, text)]
            elif text:
                paras.append((text, None, tuple(h for _, h in path)))
        elif tag == "tbl":
            table = docx.table.Table(child, document)
            rows = [[cell.text.strip() for cell in row.cells] for row in table.rows]
            if not rows:
                continue
            header = rows[0]
            for row in rows[1:] or rows:
                fields = [f"{h}: {v}" if h and len(rows) > 1 else v for h, v in zip(header, row, strict=False) if v]
                if fields:
                    paras.append((" | ".join(fields), None, tuple(h for _, h in path)))
    title = next((h for lv, h in path if lv <= 1), "")
    return Loaded("docx", _blocks_from_paragraphs(paras), title=title)


_DROP_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "svg"]


def _html_depth(root) -> int:  # type: ignore[no-untyped-def]
    """How deep tags nest under `root` (a loop, not recursion: the tree may be thousands deep)."""
    from bs4 import Tag

    deepest, stack = 0, [(root, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in node.contents if isinstance(c, Tag))
    return deepest


def load_html(data: bytes, name: str) -> Loaded:
    from bs4 import BeautifulSoup

    # lxml (libxml2, already installed with python-docx), not Python's html.parser: the latter takes
    # quadratic time on malformed markup ("<a\n" repeated: 80 KB in a minute, Python 3.11).
    soup = BeautifulSoup(decode_text(data, name), "lxml")
    depth = _html_depth(soup)
    if depth > MAX_HTML_DEPTH:
        raise InputError(f"{name}: the HTML nests tags {depth:,} levels deep (at most {MAX_HTML_DEPTH} are read); "
                         "this is not a normal page: fix or re-save it.")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    # Hidden text is a classic place for planted instructions; it is not content a reader sees.
    for tag in soup.select('[hidden], [style*="display:none"], [style*="display: none"], [aria-hidden="true"]'):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    paras: list[tuple[str, int | None, tuple[str, ...]]] = []
    path: list[tuple[int, str]] = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "pre", "blockquote", "dd", "dt"]):
        if el.name[0] == "h" and el.name[1:].isdigit():
            level = int(el.name[1])
            path = [(lv, h) for lv, h in path if lv < level] + [(level, el.get_text(" ", strip=True))]
            continue
        if el.find_parent(["li", "p", "blockquote", "pre", "tr"]) is not None:
            continue  # already taken with its parent
        if el.name == "tr":
            text = " | ".join(c.get_text(" ", strip=True) for c in el.find_all(["td", "th"]))
        else:
            text = el.get_text(" ", strip=True)
        paras.append((text, None, tuple(h for _, h in path)))
    if not paras:
        text = root.get_text("\n", strip=True)
        paras = [(p, None, ()) for p in text.split("\n\n")]
    return Loaded("html", _blocks_from_paragraphs(paras), title=title)


def _record_block(fields: dict[str, object], stem: str, row: int) -> tuple[str, int | None, tuple[str, ...]]:
    text = "\n".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))
    return (text, None, (stem, f"row {row}"))


def _records(rows: list[tuple[int, dict[str, object]]], kind: str, name: str) -> Loaded:
    stem = Path(name).stem
    blocks = _blocks_from_paragraphs([_record_block(r, stem, n) for n, r in rows])
    for b in blocks:
        b.record = True
    if not blocks:
        raise InputError(f"{name}: no records found; check that the file has a header row and data rows.")
    return Loaded(kind, blocks, pages=1)


def csv_records(data: bytes, name: str) -> list[tuple[int, dict[str, object]]]:
    """(line number, record) for each data row of a CSV/TSV with a header row (delimiter sniffed)."""
    text = decode_text(data, name)
    if "\n" in text:  # a lone carriage return inside a field (pasted text) is not a line break: a space
        text = re.sub(r"\r(?!\n)", " ", text)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise InputError(f"{name}: the CSV has no header row.")
    rows = []
    try:
        for n, row in enumerate(reader, start=2):
            rows.append((n, {k: v for k, v in row.items() if k is not None}))
    except csv.Error as e:
        raise InputError(f"{name}: malformed CSV at line {reader.line_num}: {e}.") from e
    return rows


def load_csv(data: bytes, name: str) -> Loaded:
    return _records(csv_records(data, name), "csv", name)


_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth(line: str) -> int:
    """How deep arrays and objects nest in one JSON text (brackets inside strings do not count), in one
    linear pass: checked before json.loads, which recurses once per level. 0 when the text has too few
    brackets to nest past MAX_JSON_DEPTH (not counted)."""
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", line)):
        depth += 1 if m[0] in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def jsonl_records(data: bytes, name: str) -> list[tuple[int, dict[str, object]]]:
    """(line number, object) for each non-blank line of a JSONL file; a line that is not an object is
    {"value": it}."""
    text = decode_text(data, name)
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if (depth := _json_depth(line)) > MAX_JSON_DEPTH:
            raise InputError(f"{name}: line {n} nests JSON {depth:,} levels deep (at most {MAX_JSON_DEPTH}); "
                             "flatten that record or remove the line.")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{name}: line {n} is not valid JSON ({e.msg}); fix or remove that line.") from e
        except RecursionError:
            raise InputError(f"{name}: line {n} nests JSON too deeply to read; flatten that record or remove "
                             "the line.") from None
        rows.append((n, obj if isinstance(obj, dict) else {"value": obj}))
    return rows


def load_jsonl(data: bytes, name: str) -> Loaded:
    return _records(jsonl_records(data, name), "jsonl", name)


def xlsx_records(data: bytes, name: str, *, limit: int = UNPACKED) -> list[tuple[int, dict[str, object]]]:
    """(row number, record) for each non-empty row under each sheet's header row (with a "sheet" field when
    the workbook has several)."""
    import openpyxl

    _check_zip(data, name, "XLSX", limit)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:
        raise InputError(f"{name}: cannot read the XLSX ({type(e).__name__}); it may be corrupt or encrypted.") from e
    rows = []
    for sheet in wb.worksheets:
        it = sheet.iter_rows(values_only=True)
        header = next(it, None)
        if not header:
            continue
        cols = [str(h) if h is not None else f"col{i + 1}" for i, h in enumerate(header)]
        for n, values in enumerate(it, start=2):
            rec = {c: v for c, v in zip(cols, values, strict=False) if v is not None}
            if rec:
                rows.append((n, {"sheet": sheet.title, **rec} if len(wb.worksheets) > 1 else rec))
    wb.close()
    return rows


def load_xlsx(data: bytes, name: str, *, limit: int = UNPACKED) -> Loaded:
    return _records(xlsx_records(data, name, limit=limit), "xlsx", name)


def record_fields(record: dict, columns: dict[str, tuple[str, ...]],
                  mapping: dict[str, str] | None = None) -> dict[str, object]:
    """The named fields of one record: each from its mapped column (`mapping`: field → column), else from the
    first column whose name (case and spaces aside) is one of the field's usual names (`columns`)."""
    mapping = mapping or {}
    low = {str(k).strip().casefold(): v for k, v in record.items()}
    return {f: record.get(mapping[f]) if f in mapping else next((low[c] for c in names if c in low), None)
            for f, names in columns.items()}


RECORD_READERS: dict[str, Callable[[bytes, str], list[tuple[int, dict[str, object]]]]] = {
    ".csv": csv_records, ".tsv": csv_records, ".jsonl": jsonl_records, ".xlsx": xlsx_records}


LOADERS: dict[str, Callable[[bytes, str], Loaded]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".text": load_text,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".html": load_html,
    ".htm": load_html,
    ".csv": load_csv,
    ".tsv": load_csv,
    ".jsonl": load_jsonl,
    ".xlsx": load_xlsx,
}


_UNPACKS = {load_pdf, load_docx, load_xlsx}


def load_file(path: Path, name: str | None = None, max_unpacked_mb: float = Settings.max_unpacked_mb) -> Loaded:
    """Load one file by extension; raise InputError with a fix for anything unusable.

    `max_unpacked_mb` bounds what a DOCX/XLSX's parts or a PDF's streams may unpack to."""
    name = name or path.name
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise InputError(
            f"{name}: unsupported file type '{path.suffix or '(none)'}'; supported: {', '.join(sorted(LOADERS))}."
        )
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{name}: the file is empty; nothing to ingest.")
    try:
        if loader in _UNPACKS:
            loaded = loader(data, name, limit=int(max_unpacked_mb * 1048576))
        else:
            loaded = loader(data, name)
    except InputError:
        raise
    except (RecursionError, MemoryError) as e:
        # Whatever a parser does with a hostile file, it fails this file alone, not the ingest run.
        raise InputError(f"{name}: the file is too deeply nested or too large to parse ({type(e).__name__}); "
                         "check the file, or split it.") from None
    except Exception as e:  # a parser's own error on a malformed file: report it with the file
        raise InputError(f"{name}: cannot parse the file ({type(e).__name__}: {str(e)[:200]}); "
                         "the file may be corrupt.") from e
    if not loaded.blocks:
        raise InputError(f"{name}: no text found in the file.")
    return loaded
