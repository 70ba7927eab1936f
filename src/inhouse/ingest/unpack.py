"""Bounds on what a file may unpack to, so that one small hostile file cannot exhaust memory or time.

`max_file_mb` limits the bytes on disk; a zip or a PDF stream can inflate a thousand times that. Here:

- `check_zip`: DOCX and XLSX are zip archives. Before python-docx or openpyxl opens one, the central
  directory must declare at most `limit` bytes in all, no member over 1 MiB may inflate more than
  `MAX_RATIO` times its packed size (a zip bomb), and every member is then inflated in 1 MiB steps to
  confirm its declared size and CRC. zipfile never returns more than a member declares, so the readers
  that open the archive afterwards are bounded by the same numbers.
- `pdf_budget`: pdfminer inflates FlateDecode streams with a bare `zlib.decompress`. While a budget is
  open (one per PDF, in a context variable, so concurrent ingests in threads do not share one), every
  stream pdfminer inflates and every content stream it interprets, each time a page or a form draws it,
  counts against `limit`; going over raises `UnpackLimit` (the loader turns it into an InputError).

Bench: bench/hostile.py (zip bombs, a PDF bomb); tests: tests/unit/test_hostile.py.
"""

from __future__ import annotations

import contextvars
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAX_RATIO = 100  # Apache POI's default for the same check; real DOCX/XLSX XML packs 5-30 times
RATIO_FLOOR = 1 << 20  # members smaller than this may pack as well as they like
DRAW_COST = 16384  # a page or form drawn counts at least this much: its setup costs ~0.1 ms, not its bytes
STEP = 1 << 20


class UnpackLimit(Exception):
    """A file would unpack to more than its limit; `problem` says what, for the loader's message."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _mb(n: int) -> str:
    return f"{n / 1048576:,.1f} MB"


def check_zip(data: bytes, limit: int) -> None:
    """Raise UnpackLimit when the archive in `data` would unpack past `limit` bytes or looks like a bomb;
    zipfile.BadZipFile (and friends) when it is not a readable zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = zf.infolist()
        declared = sum(m.file_size for m in members)
        if declared > limit:
            raise UnpackLimit(f"its parts unpack to {_mb(declared)}, over the {_mb(limit)} limit")
        for m in members:
            if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
                raise UnpackLimit(f"part {m.filename} packs {_mb(m.file_size)} into {_mb(m.compress_size)} "
                                  f"({m.file_size // max(m.compress_size, 1):,}x, a zip bomb?)")
        total = 0
        for m in members:
            size = 0
            with zf.open(m) as f:
                while block := f.read(STEP):
                    size += len(block)
                    total += len(block)
                    if size > m.file_size or total > limit:  # zipfile stops at the declared size; be sure
                        raise UnpackLimit(f"part {m.filename} unpacks past its declared size or the limit")


@dataclass
class _Budget:
    """Bytes inflated and bytes of page content interpreted so far for one PDF, each up to `limit`."""

    limit: int
    inflated: int = 0
    interpreted: int = 0

    def inflate(self, n: int) -> None:
        self.inflated += n
        if self.inflated > self.limit:
            raise UnpackLimit(f"its compressed streams unpack to more than the {_mb(self.limit)} limit")

    def interpret(self, n: int) -> None:
        self.interpreted += n
        if self.interpreted > self.limit:
            raise UnpackLimit(f"its pages draw more than {_mb(self.limit)} of content (forms drawn many times?)")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("inhouse_pdf_budget", default=None)


def _inflate(data: bytes) -> bytes:
    """zlib.decompress for pdfminer: under an open budget, it stops at what is left of the budget (never
    allocating more) and refuses a big stream that inflates like a bomb."""
    budget = _budget.get()
    if budget is None:
        return zlib.decompress(data)
    left = budget.limit - budget.inflated
    out = zlib.decompressobj().decompress(data, left + 1)  # corrupt data raises zlib.error, as before
    if len(out) > left:
        raise UnpackLimit(f"a compressed stream unpacks to more than the {_mb(budget.limit)} limit")
    if len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * max(len(data), 1):
        raise UnpackLimit(f"a stream packs {_mb(len(out))} into {_mb(len(data))} "
                          f"({len(out) // max(len(data), 1):,}x, a decompression bomb?)")
    budget.inflate(len(out))
    # A truncated stream gives what it has: what pdfminer's own recovery (decompress_corrupted) gives.
    return out


class _Decompressor:
    """zlib.decompressobj for pdfminer's recovery path: every piece it inflates counts against the budget."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._d = zlib.decompressobj(*args, **kwargs)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._d.decompress(data, max_length)
        budget = _budget.get()
        if budget is not None:
            budget.inflate(len(out))
        return out

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._d, name)


class _ZlibForPdfminer:
    """The `zlib` that pdfminer.pdftypes sees: inflation bounded, everything else the real module."""

    decompress = staticmethod(_inflate)
    decompressobj = _Decompressor

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(zlib, name)


_installed = False


def _install() -> None:
    """Route pdfminer's inflation and content interpretation through the budget (once per process)."""
    global _installed
    if _installed:
        return
    from pdfminer import pdftypes
    from pdfminer.pdfinterp import PDFPageInterpreter
    from pdfminer.pdftypes import list_value, stream_value

    pdftypes.zlib = _ZlibForPdfminer()  # type: ignore[assignment]
    render = PDFPageInterpreter.render_contents

    def render_contents(self, resources, streams, ctm=(1, 0, 0, 1, 0, 0)):  # type: ignore[no-untyped-def]
        # Each time a page or a form XObject is drawn its content is parsed again: a form drawing a form
        # ten times, six levels deep, is a small file that takes hours. Count every interpretation.
        budget = _budget.get()
        if budget is not None:
            size = sum(len(stream_value(s).get_data()) for s in list_value(streams))
            budget.interpret(max(size, DRAW_COST))
        return render(self, resources, streams, ctm)

    PDFPageInterpreter.render_contents = render_contents  # type: ignore[method-assign]
    _installed = True


@contextmanager
def pdf_budget(limit: int) -> Iterator[None]:
    """While open, pdfminer (in this thread or task) may inflate and interpret at most `limit` bytes."""
    _install()
    token = _budget.set(_Budget(limit))
    try:
        yield
    finally:
        _budget.reset(token)
