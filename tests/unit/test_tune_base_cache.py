"""The converted training base kept under the GGUF's SHA-256: written atomically, read back identical, and a cache
that cannot be written or read is skipped, never fatal. A tiny random Qwen2 stands in for the dequantised GGUF
(the real one is converted in tests/integration/test_tune_model_real.py, its second run read from the cache; the
real tokenizer read back encodes as the GGUF's does, checked there by the adapter's exact reply)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the tune extra (make test installs it)")
transformers = pytest.importorskip("transformers", reason="training needs the tune extra (make test installs it)")

from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402

from inhouse.tune.model import _keep, load_base  # noqa: E402


def tiny() -> tuple:
    vocab = {"[UNK]": 0, "반품": 1, "기간": 2, "return": 3, "window": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    config = transformers.Qwen2Config(vocab_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    return transformers.Qwen2ForCausalLM(config), tokenizer


def test_a_kept_base_is_read_back_identical_without_the_gguf(tmp_path: Path):
    model, tokenizer = tiny()
    _keep(model, tokenizer, tmp_path / "cache" / "f00d")
    assert (tmp_path / "cache" / "f00d" / "complete").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["f00d"]  # no temporary folder left
    # The GGUF is not there at all: the cache alone answers.
    again, tok = load_base(tmp_path / "gone.gguf", threads=1, cache=tmp_path / "cache", sha256="f00d")
    assert tok.get_vocab().items() >= tokenizer.get_vocab().items()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.equal(again(ids).logits, model(ids).logits)


def test_the_least_recently_used_bases_beyond_two_are_removed(tmp_path: Path):
    import os

    model, tokenizer = tiny()
    cache = tmp_path / "cache"
    for n, name in enumerate(("aaaa", "bbbb")):
        _keep(model, tokenizer, cache / name)
        os.utime(cache / name / "complete", (1000 + n, 1000 + n))
    (cache / "notes").mkdir()  # not a kept base: left alone
    load_base(tmp_path / "gone.gguf", threads=1, cache=cache, sha256="aaaa")  # aaaa is now the most recent
    _keep(model, tokenizer, cache / "cccc")
    assert sorted(p.name for p in cache.iterdir()) == ["aaaa", "cccc", "notes"]


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path, caplog):
    model, tokenizer = tiny()
    (tmp_path / "cache").write_text("a file where the folder should be", "utf-8")
    with caplog.at_level(logging.WARNING):
        _keep(model, tokenizer, tmp_path / "cache" / "f00d")
    assert "could not keep the converted base" in caplog.text
    assert (tmp_path / "cache").read_text("utf-8").startswith("a file")


def test_an_unreadable_cache_falls_back_to_the_gguf(tmp_path: Path, caplog):
    model, tokenizer = tiny()
    kept = tmp_path / "cache" / "f00d"
    _keep(model, tokenizer, kept)
    (kept / "model.safetensors").write_bytes(b"not safetensors")
    with caplog.at_level(logging.WARNING), pytest.raises(OSError, match="gone.gguf"):
        load_base(tmp_path / "gone.gguf", threads=1, cache=tmp_path / "cache", sha256="f00d")
    assert "could not be read" in caplog.text and "converting gone.gguf again" in caplog.text
