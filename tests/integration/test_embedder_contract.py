"""The contract every `Embedder` must pass (inhouse.protocols): each one `load_embedder` knows."""

from __future__ import annotations

import numpy as np
import pytest

from inhouse.models.embedders import EMBEDDERS, load_embedder
from inhouse.protocols import Embedder

TEXTS = ["반품은 상품 수령 후 14일 이내에 할 수 있습니다.", "The equipment stipend is 500,000 won per year.",
         "사무실은 평일 오전 9시에 문을 엽니다.", "Express delivery costs 5,000 won."]


@pytest.fixture(params=sorted(EMBEDDERS))
def embedder(request) -> Embedder:
    return load_embedder(request.param)


def _unit(vectors: np.ndarray) -> bool:
    return bool(np.allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-4))


def test_is_an_embedder(embedder: Embedder):
    assert isinstance(embedder, Embedder) and embedder.name in EMBEDDERS and embedder.dim > 0


def test_passages_are_unit_float32_rows_in_both_languages(embedder: Embedder):
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and _unit(vectors)
    assert len({v.tobytes() for v in vectors}) == len(TEXTS)  # different texts, different vectors


def test_a_query_is_one_unit_float32_vector(embedder: Embedder):
    for query in ("반품 기간은 며칠인가요?", "What is the equipment stipend?"):
        q = embedder.embed_query(query)
        assert q.shape == (embedder.dim,) and q.dtype == np.float32 and _unit(q)


def test_vectors_are_deterministic_and_independent_of_the_batch(embedder: Embedder):
    batch = embedder.embed(TEXTS)
    assert np.allclose(embedder.embed(TEXTS), batch, atol=1e-6)
    assert np.allclose(embedder.embed(TEXTS[1:2])[0], batch[1], atol=1e-4)
    assert np.allclose(embedder.embed_query(TEXTS[0]), embedder.embed_query(TEXTS[0]), atol=1e-6)
    queries = embedder.embed_queries(TEXTS)
    assert queries.shape == (len(TEXTS), embedder.dim) and queries.dtype == np.float32
    assert np.allclose(queries[1], embedder.embed_query(TEXTS[1]), atol=1e-4)
    assert embedder.embed_queries([]).shape == (0, embedder.dim)


def test_a_query_is_nearest_its_passage(embedder: Embedder):
    passages = embedder.embed(TEXTS)
    for query, expected in (("반품 기간 14일", 0), ("equipment stipend per year", 1)):
        assert int(np.argmax(passages @ embedder.embed_query(query))) == expected


def test_no_texts_give_no_rows_and_a_text_without_words_is_harmless(embedder: Embedder):
    empty = embedder.embed([])
    assert empty.shape == (0, embedder.dim) and empty.dtype == np.float32
    # Nothing to embed: a unit vector, or zeros (which match nothing), never NaN.
    for v in embedder.embed(["", "!!!"]):
        assert np.isfinite(v).all() and (np.linalg.norm(v) == pytest.approx(1.0, abs=1e-4) or not v.any())
