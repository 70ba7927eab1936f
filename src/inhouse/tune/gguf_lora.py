"""LoRA adapters as GGUF files that llama.cpp applies over a quantised base (`Llama(lora_path=...)`).

The layout is llama.cpp's (`llama-adapter.cpp`): `general.type = adapter`, `adapter.type = lora`,
`adapter.lora.alpha`, and per adapted weight `W` of the base two tensors `W.lora_a` (rank × in) and `W.lora_b`
(out × rank), so that W' = W + alpha / rank · B·A. Weights are named as in the base GGUF (`blk.N.attn_q.weight`);
`HF_TO_GGUF` maps the names a transformers Qwen2/Llama model gives its projections. Only numpy and the `gguf`
package are needed: writing an adapter does not need torch. Reading one back (`read_adapter`) lives in
`inhouse.models.lora`, beside the registry that checks adapters, and is re-exported here.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from inhouse.errors import InputError
from inhouse.models.lora import (
    gguf_shapes,
    read_adapter,  # noqa: F401 - reading adapters is the registry's; re-exported
)

# transformers module name (inside `model.layers.N.`) → GGUF tensor name (inside `blk.N.`).
HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.(.+)$")


def gguf_name(hf_module: str) -> str:
    """`model.layers.3.self_attn.q_proj` → `blk.3.attn_q.weight`."""
    m = _LAYER.search(hf_module)
    if not m or m.group(2) not in HF_TO_GGUF:
        raise InputError(f"cannot map '{hf_module}' to a llama.cpp tensor; LoRA targets must be among "
                         f"{', '.join(sorted(HF_TO_GGUF))}.")
    return f"blk.{m.group(1)}.{HF_TO_GGUF[m.group(2)]}.weight"


def base_info(path: Path) -> dict:
    """Architecture and the shape (out, in) of every 2-D weight of a base GGUF."""
    header = gguf_shapes(path)
    # GGUF lists dimensions innermost first: (in, out) for a weight.
    return {"arch": header["arch"],
            "shapes": {name: (d[1], d[0]) for name, d in header["shapes"].items() if len(d) == 2}}


def write_adapter(path: Path, base: Path, weights: dict[str, tuple[np.ndarray, np.ndarray]], alpha: float,
                  name: str = "inhouse-lora") -> None:
    """Write `weights` ({transformers module name: (A, B)}) as a GGUF LoRA adapter for `base`, atomically;
    every shape is checked against the base first, so llama.cpp never meets an adapter it would reject."""
    from gguf import GGUFWriter

    if not weights:
        raise InputError("no LoRA weights to write.")
    info = base_info(base)
    tensors = []
    for module, (a, b) in sorted(weights.items()):
        target = gguf_name(module)
        if target not in info["shapes"]:
            raise InputError(f"the base {base.name} has no tensor {target}: is the adapter for another model?")
        out_dim, in_dim = info["shapes"][target]
        rank = a.shape[0]
        if a.shape != (rank, in_dim) or b.shape != (out_dim, rank):
            raise InputError(f"{module}: LoRA shapes A {a.shape}, B {b.shape} do not fit {target} "
                             f"(out {out_dim}, in {in_dim}).")
        tensors.append((target, np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32)))

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer = GGUFWriter(tmp, info["arch"])
        writer.add_type("adapter")
        writer.add_name(name)
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(alpha))
        for target, a, b in tensors:
            writer.add_tensor(f"{target}.lora_a", a)
            writer.add_tensor(f"{target}.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
