from inhouse.ingest.chunker import chunk_blocks
from inhouse.ingest.loaders import _blocks_from_paragraphs


def _doc(paras):
    blocks = _blocks_from_paragraphs(paras)
    return blocks, "\n\n".join(b.text for b in blocks)


def test_offsets_point_at_the_chunk_text():
    blocks, full = _doc([("가나다라 마바사. " * 40, 1, ("정책",)), ("Short English paragraph. Two sentences.", 2, ())])
    chunks = chunk_blocks(blocks, 200, 60)
    assert len(chunks) > 2
    for c in chunks:
        assert full[c.char_start:c.char_end] == c.text
        assert len(c.text) <= 200 * 1.3
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_headings_and_pages_are_borders():
    blocks, _ = _doc([("one.", 1, ("A",)), ("two.", 1, ("B",)), ("three.", 2, ("B",))])
    chunks = chunk_blocks(blocks, 700, 100)
    assert [(c.text, c.page, c.heading_path) for c in chunks] == [
        ("one.", 1, ("A",)), ("two.", 1, ("B",)), ("three.", 2, ("B",))]


def test_overlap_repeats_whole_sentences():
    sentences = [f"Sentence number {i} is here." for i in range(30)]
    blocks, _ = _doc([(" ".join(sentences), None, ())])
    chunks = chunk_blocks(blocks, 200, 60)
    for prev, cur in zip(chunks, chunks[1:], strict=False):
        assert cur.char_start < prev.char_end  # overlapping
        first_sentence = cur.text.split(". ")[0]
        assert first_sentence.startswith("Sentence number")  # starts at a sentence border


def test_small_paragraphs_are_packed_together():
    blocks, _ = _doc([(f"문단 {i}입니다.", None, ()) for i in range(5)])
    chunks = chunk_blocks(blocks, 700, 100)
    assert len(chunks) == 1 and chunks[0].text.count("문단") == 5


def test_records_are_never_merged():
    blocks, _ = _doc([("sku: A1\nname: 소파", None, ("catalog", "row 2")),
                      ("sku: A2\nname: 의자", None, ("catalog", "row 3"))])
    for b in blocks:
        b.record = True
    assert [c.text for c in chunk_blocks(blocks, 700, 100)] == ["sku: A1\nname: 소파", "sku: A2\nname: 의자"]


def test_long_sentence_without_punctuation_is_cut_at_spaces():
    blocks, _ = _doc([("단어 " * 500, None, ())])
    chunks = chunk_blocks(blocks, 300, 50)
    assert all(len(c.text) <= 300 * 1.3 for c in chunks)
    assert all(not c.text.startswith(" ") and "단어" in c.text for c in chunks)
