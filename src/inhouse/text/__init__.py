"""Korean/English text processing: normalisation, lexical terms for BM25, sentence splitting, English stems."""

from inhouse.text.analyze import (
    TERMS_VERSION,
    detect_language,
    estimate_tokens,
    has_quantity,
    lexical_terms,
    lexical_terms_batch,
    normalize,
    split_sentences,
    statements,
    word_terms,
)
from inhouse.text.stem import stem

__all__ = [
    "TERMS_VERSION", "detect_language", "estimate_tokens", "has_quantity", "lexical_terms", "lexical_terms_batch",
    "normalize", "split_sentences", "statements", "stem", "word_terms",
]
