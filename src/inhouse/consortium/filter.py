"""The output filter: any text that reproduces `min_chars` or more characters of contributed text is caught.

Texts are compared after NFKC, case folding and removing whitespace, so re-spacing a copied passage does not
hide it; lengths count the remaining characters. The index keeps one hash per window of `window` characters
starting at every `stride`-th character of each contributed text, with window + stride − 1 = min_chars: any copy
of `min_chars` characters then holds a whole indexed window. An output is looked up at every position, and each
hit is extended both ways against the contributed text itself, so a catch is an exact copy of at least
`min_chars` characters, never a hash collision.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inhouse.consortium.db import open_consortium
from inhouse.errors import NotFoundError


def squeeze(text: str) -> str:
    """NFKC, case folded, without whitespace: the form copies are compared in."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _key(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass(frozen=True)
class Catch:
    """A copied passage: which contributed text, where, and how long (characters, whitespace aside)."""

    text_id: int
    length: int
    passage: str


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

    def check(self, output: str) -> Catch | None:
        """The longest passage of `output` copied from an indexed text, if it has `min_chars` characters or
        more; None otherwise."""
        s = squeeze(output)
        if len(s) < self.min_chars or not len(self._keys):
            return None
        best: Catch | None = None
        seen: set[tuple[int, int]] = set()  # (text id, output pos − text offset): one alignment, checked once
        for pos in range(len(s) - self.window + 1):
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
                if length >= self.min_chars and (best is None or length > best.length):
                    best = Catch(text_id, length, s[a:end])
        return best


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
