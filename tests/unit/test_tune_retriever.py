"""The retriever's query adapter: it learns a distortion between questions and passages, keeps the rest,
and its file round-trips with a clear error for anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inhouse.errors import InputError, NotFoundError
from inhouse.files import sha256_file
from inhouse.models.embedders import HashEmbedder
from inhouse.protocols import Embedder
from inhouse.tune import retriever


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _task(n: int = 400, d: int = 32, seed: int = 0):
    """Passages, and questions that are their passage under a fixed linear distortion, plus noise."""
    rng = np.random.default_rng(seed)
    passages = _unit(rng.normal(size=(n, d))).astype(np.float32)
    distort = np.eye(d) + 2.0 * rng.normal(size=(d, d)) / np.sqrt(d)
    questions = _unit(passages @ distort.T + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    return passages, questions


def _r1(q: np.ndarray, p: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(np.argmax(q @ p.T, axis=1) == gold))


def test_the_adapter_learns_the_distortion_and_helps_on_unseen_pairs():
    passages, questions = _task()
    train, test = np.arange(300), np.arange(300, 400)
    w, report = retriever.train(questions[train], passages[train], epochs=40, lr=5e-3, reg=1e-3)
    assert report.loss_last < 0.5 * report.loss_first
    base = _r1(questions[test], passages, test)
    adapted = _r1(_unit(questions[test] @ w.T), passages, test)
    assert adapted > base + 0.2, (base, adapted)


def test_hard_negatives_are_used():
    passages, questions = _task(n=64)
    neg = np.stack([passages[(np.arange(64) + k) % 64] for k in (1, 2)], axis=1)
    w, report = retriever.train(questions, passages, neg, epochs=5, batch=16)
    assert w.shape == (32, 32) and np.isfinite(report.history).all()


def test_with_nothing_to_learn_the_adapter_stays_near_identity():
    passages, _ = _task(n=200)
    w, _ = retriever.train(passages, passages, epochs=10, reg=1e-1)
    assert np.abs(w - np.eye(32)).max() < 0.2


def test_adapted_embedder_maps_queries_only(tmp_path: Path):
    base = HashEmbedder()
    rng = np.random.default_rng(1)
    w = (np.eye(base.dim) + 0.1 * rng.normal(size=(base.dim, base.dim))).astype(np.float32)
    path = tmp_path / "acme.npz"
    digest = retriever.save(path, w, base.name, {"pairs": 3, "data_sha256": "x"})
    assert digest == sha256_file(path)
    w2, meta = retriever.load(path)
    assert np.array_equal(w, w2) and meta["base"] == "hash" and meta["pairs"] == 3
    adapted = retriever.AdaptedEmbedder(base, w2)
    assert isinstance(adapted, Embedder) and adapted.name == base.name
    texts = ["반품 기간은 14일입니다.", "Returns are accepted within 14 days."]
    assert np.array_equal(adapted.embed(texts), base.embed(texts))
    q = adapted.embed_query("반품 기간은?")
    assert q.shape == (base.dim,) and abs(float(np.linalg.norm(q)) - 1) < 1e-5
    assert not np.allclose(q, base.embed_query("반품 기간은?"))


def test_bad_adapters_are_refused_clearly(tmp_path: Path):
    with pytest.raises(NotFoundError, match="tune retriever"):
        retriever.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a retriever adapter"):
        retriever.load(tmp_path / "junk.npz")
    with pytest.raises(InputError, match="384-d"):
        retriever.AdaptedEmbedder(HashEmbedder(), np.eye(8, dtype=np.float32))
    with pytest.raises(InputError, match="at least 2"):
        retriever.train(np.ones((1, 4), np.float32), np.ones((1, 4), np.float32))


def test_fit_trains_on_tune_data_examples_and_writes_a_tenant_adapter(store, settings, tmp_path: Path):
    from inhouse.ingest import embed_pending, ingest
    from inhouse.tune import data as tune_data
    from tests.unit.test_tune_data import HANDBOOK, ClozeWriter

    ingest(store, settings, [HANDBOOK], tenant="acme", groups=("staff",))
    embedder = HashEmbedder()
    embed_pending(store, embedder)
    tune_data.build(store, "acme", settings, ClozeWriter(), tmp_path / "data", limit=8, holdout=0.0)
    examples = tune_data.load_examples(tmp_path / "data" / "examples.jsonl")
    out = retriever.adapter_path(tmp_path / "home", "acme")
    report = retriever.fit(store, tune_data.reader(store, "acme"), embedder, examples, out, epochs=3)
    assert report["pairs"] == 8 and report["sha256"] == sha256_file(out) and report["base"] == "hash"
    adapted = retriever.for_tenant(embedder, tmp_path / "home", "acme")
    assert isinstance(adapted, retriever.AdaptedEmbedder) and adapted.adapter == str(out)
    assert retriever.for_tenant(embedder, tmp_path / "home", "other") is embedder
    with pytest.raises(InputError, match="tune data"):
        retriever.fit(store, tune_data.reader(store, "acme"), embedder, examples[:1], out)
