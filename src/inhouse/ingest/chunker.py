"""Chunking that respects structure: headings and pages are hard borders, paragraphs are preferred
break points, and long paragraphs are cut between sentences (Kiwi for Korean, rules for English).

Each chunk starts with a little of the previous one (overlap, whole sentences) so a fact that straddles
a break is still retrievable, and keeps character offsets into the document text for citations.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import groupby

from inhouse.text.analyze import Analysis, analyze
from inhouse.types import Block, Chunk


def _units(block: Block, limit: int, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) offsets in the document text: the whole block, or its sentences if it is too long."""
    if len(block.text) <= limit:
        return [(block.start, block.start + len(block.text))]
    out = []
    for s, e in sentences:
        # A sentence longer than the limit (tables, lists without punctuation) is cut at spaces.
        while e - s > limit:
            cut = block.text.rfind(" ", s + limit // 2, s + limit)
            cut = cut if cut > s else s + limit
            out.append((block.start + s, block.start + cut))
            s = cut
            while s < e and block.text[s] == " ":
                s += 1
        if e > s:
            out.append((block.start + s, block.start + e))
    return out


def _overlap_start(units: list[tuple[int, int]], overlap: int, starts: list[int]) -> int | None:
    """Start offset of the trailing whole sentences of `units` that fit in `overlap` characters.

    `starts` are the sorted document offsets where sentences begin.
    """
    if overlap <= 0 or not units:
        return None
    last_s, last_e = units[-1]
    if last_e - last_s > overlap:
        inner = starts[bisect_left(starts, last_s + 1) : bisect_left(starts, last_e)]
        start = None
        for s in reversed(inner):
            if last_e - s > overlap:
                break
            start = s
        return start
    start = last_s
    for s, _e in reversed(units[:-1]):
        if last_e - s > overlap:
            break
        start = s
    return start


def chunk_blocks(blocks: list[Block], chunk_chars: int = 700, overlap: int = 120,
                 analyses: list[Analysis] | None = None) -> list[Chunk]:
    """Pack blocks into chunks of about `chunk_chars` characters with sentence-level overlap.

    `analyses` (one per block, from `inhouse.text.analyze`) supply sentence borders; without them the
    blocks are analysed here.
    """
    if chunk_chars < 50:
        raise ValueError("chunk_chars must be at least 50")
    if analyses is None:
        analyses = analyze([b.text for b in blocks])
    sentences = {id(b): a.sentences for b, a in zip(blocks, analyses, strict=True)}
    starts = sorted(b.start + s for b, a in zip(blocks, analyses, strict=True) for s, _ in a.sentences)
    text = "\n\n".join(b.text for b in blocks)
    chunks: list[Chunk] = []

    def emit(units: list[tuple[int, int]], page: int | None, heading: tuple[str, ...]) -> None:
        start, end = units[0][0], units[-1][1]
        chunks.append(Chunk(text=text[start:end], page=page, heading_path=heading, char_start=start,
                            char_end=end, ordinal=len(chunks)))

    for (page, heading, record), group in groupby(blocks, key=lambda b: (b.page, b.heading_path, b.record)):
        group = list(group)
        if record:  # catalog rows: one chunk each
            for b in group:
                for u in _units(b, chunk_chars, sentences[id(b)]):
                    emit([u], page, heading)
            continue
        current: list[tuple[int, int]] = []
        fresh = 0  # units in `current` that are not overlap from the previous chunk
        for b in group:
            for i, (s, e) in enumerate(_units(b, chunk_chars, sentences[id(b)])):
                size = e - current[0][0] if current else e - s
                paragraph_break = i == 0 and current and (current[-1][1] - current[0][0]) >= chunk_chars * 0.6
                if current and fresh and (size > chunk_chars or paragraph_break):
                    emit(current, page, heading)
                    ov = _overlap_start(current, overlap, starts)
                    current = ([(ov, current[-1][1])]
                               if ov is not None and ov < s and (e - ov) <= chunk_chars * 1.3 else [])
                    fresh = 0
                current.append((s, e))
                fresh += 1
        if current and fresh:
            emit(current, page, heading)
    return chunks
