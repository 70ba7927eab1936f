"""The output filter: any text that reproduces `min_chars` or more characters of contributed text is caught.

Texts are compared after NFKC and case folding, letters and digits only, so re-spacing a copied passage, joining
its words with hyphens or slipping zero-width characters in does not hide it; lengths count letters and digits.
The index keeps one hash per window of `window` characters starting at every `stride`-th character of each
contributed text, with window + stride − 1 = min_chars: any copy
of `min_chars` characters then holds a whole indexed window. An output is looked up at every position, and each
hit is extended both ways against the contributed text itself, so a catch is an exact copy of at least
`min_chars` characters, never a hash collision.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inhouse.config import home
from inhouse.consortium.db import open_consortium
from inhouse.errors import NotFoundError

_NOT_ALNUM = re.compile(r"[\W_]+")


def squeeze(text: str) -> str:
    """NFKC, case folded, letters and digits only (no whitespace, punctuation or invisible characters): the form
    copies are compared in, so re-spacing, hyphens or zero-width characters do not hide one."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).casefold())


def _key(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Catch:
    """A copied passage: which contributed text, where, and how long (characters, whitespace aside)."""

    text_id: int
    length: int
    passage: str
    end: int = 0  # where the copy ends in the squeezed output


class CopyFilter:
    """An index of contributed texts (`add`), and `check(output)` for the longest copy of `min_chars` or more."""

    def __init__(self, min_chars: int = 50) -> None:
        if min_chars < 8:
            raise ValueError("min_chars must be at least 8")
        self.min_chars = min_chars
        self.stride = min_chars // 2
        self.window = min_chars - self.stride + 1
        self._texts: dict[int, str] = {}
        self._pending: list[tuple[int, int, int]] = []  # (key, text id, offset)
        self._keys = np.empty(0, dtype=np.uint64)
        self._where = np.empty((0, 2), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Index (text id, text) pairs."""
        for text_id, text in items:
            s = squeeze(text)
            self._texts[text_id] = s
            for off in range(0, len(s) - self.window + 1, self.stride):
                self._pending.append((_key(s[off: off + self.window]), text_id, off))
        self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self._keys, np.array([k for k, _, _ in self._pending], dtype=np.uint64)])
        where = np.concatenate([self._where, np.array([(t, o) for _, t, o in self._pending], dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self._keys, self._where = keys[order], where[order]
        self._pending = []

    def check(self, output: str, after: int = 0) -> Catch | None:
        """The longest passage of `output` copied from an indexed text, if it has `min_chars` characters or more
        and ends past the first `after` characters of squeezed `output` (0: anywhere); None otherwise. Only
        windows that can belong to such a copy are looked up, so checking a growing reply piece by piece costs
        what the new piece adds."""
        s = squeeze(output)
        if len(s) < self.min_chars or not len(self._keys) or len(s) <= after:
            return None
        best: Catch | None = None
        seen: set[tuple[int, int]] = set()  # (text id, output pos − text offset): one alignment, checked once
        for pos in range(max(0, after - self.min_chars), len(s) - self.window + 1):
            key = np.uint64(_key(s[pos: pos + self.window]))
            lo = np.searchsorted(self._keys, key, side="left")
            hi = np.searchsorted(self._keys, key, side="right")
            for text_id, off in self._where[lo:hi]:
                text_id, off = int(text_id), int(off)
                if (text_id, pos - off) in seen:
                    continue
                seen.add((text_id, pos - off))
                src = self._texts[text_id]
                if src[off: off + self.window] != s[pos: pos + self.window]:
                    continue  # a hash collision, not a copy
                a, b = pos, off
                while a > 0 and b > 0 and s[a - 1] == src[b - 1]:
                    a, b = a - 1, b - 1
                end = pos + self.window
                src_end = off + self.window
                while end < len(s) and src_end < len(src) and s[end] == src[src_end]:
                    end, src_end = end + 1, src_end + 1
                length = end - a
                if length >= self.min_chars and end > after and (best is None or length > best.length):
                    best = Catch(text_id, length, s[a:end], end)
        return best


class LiveCopyFilter:
    """The copy filter over the consortium under `base`, rebuilt when its database changes (a contribution or a
    canary added while the server runs), checked at most once a second."""

    def __init__(self, base: Path | None = None, min_chars: int = 50) -> None:
        self.base, self.min_chars = base, min_chars
        self._filter: CopyFilter | None = None
        self._stamp: tuple | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def _current(self) -> CopyFilter | None:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= 1.0:
                self._checked = now
                folder = (self.base or home()) / "consortium"
                stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob(
                    "consortium.sqlite*"))) if folder.is_dir() else ()
                if stamp != self._stamp:
                    self._stamp, self._filter = stamp, copy_filter(self.base, self.min_chars) if stamp else None
            return self._filter

    @property
    def active(self) -> bool:
        """Whether there is contributed text to guard (a stream need not be held back otherwise)."""
        return self._current() is not None

    def check(self, output: str, after: int = 0) -> Catch | None:
        f = self._current()
        return f.check(output, after) if f is not None else None


def copy_filter(base: Path | None = None, min_chars: int = 50) -> CopyFilter | None:
    """The filter over every text the consortium under `base` (INHOUSE_HOME) ever kept, or None when it has
    none: what the server and `inhouse ask` install as the process's copy guard (inhouse.guard.copies)."""
    try:
        db = open_consortium(base)
    except NotFoundError:
        return None
    try:
        texts = db.all_texts()
    finally:
        db.close()
    if not texts:
        return None
    f = CopyFilter(min_chars)
    f.add(texts)
    return f
