"""LoRA adapters as llama.cpp GGUF files: names, shapes checked against the base, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from inhouse.errors import InputError
from inhouse.models.lora import gguf_shapes
from inhouse.tune.gguf_lora import base_info, gguf_name, read_adapter, write_adapter
from inhouse.tune.model import LoraSettings, _lr, answer_tokens, data_sha256, mix


def tiny_base(path: Path, arch: str = "qwen2") -> Path:
    """A GGUF 'model' with one layer's q (8 → 8) and k (8 → 4) weights: enough for shapes."""
    w = GGUFWriter(str(path), arch)
    w.add_tensor("blk.0.attn_q.weight", np.zeros((8, 8), dtype=np.float32))
    w.add_tensor("blk.0.attn_k.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_names_map_to_llama_cpp_tensors():
    assert gguf_name("base_model.model.model.layers.3.self_attn.q_proj") == "blk.3.attn_q.weight"
    assert gguf_name("model.layers.11.mlp.down_proj") == "blk.11.ffn_down.weight"
    with pytest.raises(InputError, match="cannot map"):
        gguf_name("model.embed_tokens")


def test_write_and_read_an_adapter(tmp_path: Path):
    base = tiny_base(tmp_path / "base.gguf")
    assert base_info(base)["shapes"]["blk.0.attn_k.weight"] == (4, 8)
    rng = np.random.default_rng(0)
    weights = {"model.layers.0.self_attn.q_proj": (rng.normal(size=(2, 8)), rng.normal(size=(8, 2))),
               "model.layers.0.self_attn.k_proj": (rng.normal(size=(2, 8)), rng.normal(size=(4, 2)))}
    write_adapter(tmp_path / "a.gguf", base, weights, alpha=4)
    info = read_adapter(tmp_path / "a.gguf")
    assert info == {"arch": "qwen2", "alpha": 4.0, "tensors": ["blk.0.attn_k.weight", "blk.0.attn_q.weight"]}


def test_base_shapes_are_read_from_the_header_as_gguf_reads_them(tmp_path: Path):
    """The header scan skips every value (a tokenizer's string arrays, numbers, arrays of numbers) and reads the
    tensor table as the gguf package does, 1-D and 3-D tensors too."""
    from gguf import GGUFReader

    w = GGUFWriter(str(tmp_path / "base.gguf"), "qwen2")
    w.add_array("tokenizer.ggml.tokens", ["가", "b", "", "토큰"] * 50)
    w.add_array("tokenizer.ggml.scores", [0.5] * 200)
    w.add_uint32("qwen2.block_count", 1)
    w.add_string("general.name", "tiny")
    w.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.zeros(8, dtype=np.float32))
    w.add_tensor("blk.0.cube", np.zeros((2, 3, 4), dtype=np.float32))
    w.add_tensor("blk.0.attn_q.weight", np.zeros((8, 8), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expected = {t.name: tuple(int(d) for d in t.shape) for t in GGUFReader(str(tmp_path / "base.gguf")).tensors}
    assert gguf_shapes(tmp_path / "base.gguf") == {"arch": "qwen2", "shapes": expected}
    assert base_info(tmp_path / "base.gguf")["shapes"] == {"token_embd.weight": (16, 8),
                                                          "blk.0.attn_q.weight": (8, 8)}
    (tmp_path / "cut.gguf").write_bytes((tmp_path / "base.gguf").read_bytes()[:200])
    with pytest.raises(InputError, match="cut short"):
        gguf_shapes(tmp_path / "cut.gguf")


def test_a_wrong_shape_or_tensor_writes_nothing(tmp_path: Path):
    base = tiny_base(tmp_path / "base.gguf")
    target = tmp_path / "a.gguf"
    target.write_bytes(b"the previous adapter")
    bad_shape = {"model.layers.0.self_attn.k_proj": (np.zeros((2, 8)), np.zeros((8, 2)))}
    with pytest.raises(InputError, match="do not fit blk.0.attn_k.weight"):
        write_adapter(target, base, bad_shape, alpha=4)
    missing = {"model.layers.1.self_attn.q_proj": (np.zeros((2, 8)), np.zeros((8, 2)))}
    with pytest.raises(InputError, match="has no tensor blk.1.attn_q.weight"):
        write_adapter(target, base, missing, alpha=4)
    assert target.read_bytes() == b"the previous adapter"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_model_file_is_not_an_adapter(tmp_path: Path):
    base = tiny_base(tmp_path / "base.gguf")
    with pytest.raises(InputError, match="not a LoRA adapter"):
        read_adapter(base)
    (tmp_path / "text.gguf").write_text("hello")
    with pytest.raises(InputError, match="not a GGUF file"):
        read_adapter(tmp_path / "text.gguf")


def test_training_settings_schedule_and_data_hash():
    with pytest.raises(InputError, match="--rank"):
        LoraSettings(rank=0).check()
    s = LoraSettings(lr=1e-3, warmup=4)
    lrs = [_lr(i, 100, s) for i in range(100)]
    assert lrs[0] == pytest.approx(2.5e-4) and max(lrs) == pytest.approx(1e-3) and lrs[-1] >= 1e-4 - 1e-12
    assert _lr(0, 6, s) == pytest.approx(1e-3)  # a six-step run does not spend itself warming up
    ex = [{"messages": [{"role": "user", "content": "질문"}], "target": "답 [1].", "split": "train"}]
    assert data_sha256(ex) == data_sha256([{**ex[0], "split": "heldout"}])  # layout and split do not count
    assert data_sha256(ex) != data_sha256([{**ex[0], "target": "다른 답 [1]."}])


def test_refusals_are_capped_at_their_share():
    answerable = [{"kind": "answerable", "target": f"답 {i} [1]."} for i in range(8)]
    refusals = [{"kind": "unanswerable", "target": "NOT_FOUND", "i": i} for i in range(10)]
    mixed = mix(answerable + refusals, LoraSettings(refusal_share=0.2, seed=1))
    assert sum(e["kind"] == "answerable" for e in mixed) == 8 and sum(e["kind"] == "unanswerable" for e in mixed) == 2
    assert mixed == mix(answerable + refusals, LoraSettings(refusal_share=0.2, seed=1))  # seeded
    assert len(mix(answerable + refusals[:1], LoraSettings(refusal_share=0.2))) == 9  # under the cap: all kept
    assert answer_tokens([-100, -100, 5, 6]) == 2 and answer_tokens([5, 6]) == 1  # the first is never predicted
    with pytest.raises(InputError, match="--refusal-share"):
        LoraSettings(refusal_share=1.0).check()
