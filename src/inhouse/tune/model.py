"""LoRA fine-tuning of a registered GGUF model on CPU (`inhouse tune model`).

The base GGUF is loaded by transformers dequantised (the weights llama.cpp runs, in float32), LoRA matrices are
added to the attention projections (peft), and a plain torch loop trains them on the tenant's examples
(`inhouse tune data`): each is the exact answer prompt, rendered with the model's own chat template (the one
llama.cpp applies), followed by its target reply and the end-of-turn token; the loss is taken on the reply
alone. The result is written as a llama.cpp GGUF adapter (`gguf_lora`) and registered beside its base with the
SHA-256 of the data it learnt from, so `ask`, `eval` and the server can apply it over the quantised base.

Training checkpoints (LoRA weights, optimiser, step; the example order follows from the seed) are written
atomically every `checkpoint_every` steps and at the end; a run started again with the same base, data and
settings resumes where the last one stopped. Held-out examples (the documents `tune data` set aside) are
scored before and after: the mean loss on their replies, the adapter's first measurement.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from inhouse.errors import InputError
from inhouse.files import atomic_write, atomic_write_json, sha256_file
from inhouse.tune.gguf_lora import write_adapter

log = logging.getLogger(__name__)

FORMAT = "2"  # of the checkpoint; a checkpoint of another format is not resumed


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX, as oneDNN reports it)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: float = 32.0
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 1.0
    lr: float = 2e-4
    warmup: int = 10  # steps of linear warm-up, then cosine decay to 10%
    accumulate: int = 4  # examples per optimiser step
    max_tokens: int = 2048  # longer examples are left out (counted)
    seed: int = 0
    # Most share of refusal (unanswerable) examples trained on; the rest are left out (seeded). At 43% (every
    # refusal the data held) the 0.5B refused 49 of 50 answerable Korean questions: NOT_FOUND was the one
    # likeliest first token, the sentences it should copy begin each differently (bench/adapt_model.py).
    refusal_share: float = 0.2
    # CPU autocast to bfloat16 (LoRA weights kept in float32): ~1.5x faster than float32 where the CPU computes
    # it natively; where it is emulated (AVX2 only) a step is many times slower. None: decided by `train` for
    # this CPU (`native_bf16`), and recorded so.
    bf16: bool | None = None

    def check(self) -> None:
        if self.rank < 1 or self.alpha <= 0:
            raise InputError(f"--rank must be ≥ 1 and alpha > 0 (got rank {self.rank}, alpha {self.alpha}).")
        if self.epochs <= 0 or self.lr <= 0 or self.accumulate < 1:
            raise InputError("--epochs and --lr must be positive, --accumulate at least 1.")
        if not 0 <= self.refusal_share < 1:
            raise InputError(f"--refusal-share must be from 0 to below 1 (got {self.refusal_share}).")


@dataclass
class TrainReport:
    adapter: str = ""
    sha256: str = ""
    base: str = ""
    data_sha256: str = ""
    examples: int = 0
    too_long: int = 0
    refusals_left_out: int = 0
    steps: int = 0
    resumed_at: int = 0
    seconds: float = 0.0  # this run, loading included
    train_seconds: float = 0.0  # the training steps of every run that made this adapter (resumes add up)
    seconds_per_step: float = 0.0  # train_seconds / steps
    heldout: int = 0
    heldout_loss_base: float | None = None
    heldout_loss_adapted: float | None = None
    settings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def mix(examples: Sequence[dict], settings: LoraSettings) -> list[dict]:
    """Every answerable example and at most `refusal_share` of the whole in refusals (a seeded choice)."""
    refusals = [e for e in examples if e.get("kind") == "unanswerable"]
    others = [e for e in examples if e.get("kind") != "unanswerable"]
    room = int(len(others) * settings.refusal_share / (1 - settings.refusal_share))
    if len(refusals) > room:
        keep = set(random.Random(settings.seed).sample(range(len(refusals)), room))
        refusals = [e for i, e in enumerate(refusals) if i in keep]
    return others + refusals


def data_sha256(examples: Sequence[dict]) -> str:
    """SHA-256 of the examples as trained on (prompt and target), independent of file layout."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps([ex["messages"], ex["target"]], ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def load_base(path: Path, threads: int | None = None, cache: Path | None = None,
              sha256: str | None = None):  # noqa: ANN201 - (model, tokenizer)
    """The GGUF's weights in float32 and its tokenizer (transformers' GGUF loader; torch, transformers, gguf).

    Reading a GGUF this way parses its metadata three times (tokenizer, config, weights): about 90 s for the
    0.5B on two cores, most of it the vocabulary. With `cache`, the converted model is saved there once
    (safetensors, float32: 4 bytes a parameter) under the GGUF's SHA-256 and read from there afterwards, so a
    resumed or repeated run starts in seconds; a cache that cannot be written or read is skipped, never fatal."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise InputError("training needs torch, transformers, peft and gguf: pip install 'inhouse[tune]'.") from e
    torch.set_num_threads(threads or os.cpu_count() or 1)
    t0 = time.perf_counter()
    kept = cache / (sha256 or sha256_file(path)) if cache is not None else None
    if kept is not None and (kept / "complete").exists():
        try:
            tokenizer = AutoTokenizer.from_pretrained(kept, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(kept, dtype=torch.float32, local_files_only=True)
            log.info("loaded %s for training from %s in %.1f s", path.name, kept, time.perf_counter() - t0)
            with contextlib.suppress(OSError):  # a read-only cache is still read
                (kept / "complete").touch()  # used now: the last to be evicted
            return model, tokenizer
        except Exception as e:  # noqa: BLE001 - safetensors' own error too: any unreadable cache is converted again
            log.warning("the converted base at %s could not be read (%s); converting %s again", kept, e, path.name)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32,
                                                 local_files_only=True)
    # The GGUF quantiser stays attached after dequantising; peft and saving treat such a model as quantised.
    model.hf_quantizer = None
    model.is_quantized = False
    log.info("loaded %s for training in %.1f s", path.name, time.perf_counter() - t0)
    if kept is not None:
        _keep(model, tokenizer, kept)
    return model, tokenizer


# Converted bases kept at most (4 bytes a parameter: 2 GB for the 0.5B, 6 GB for the 1.5B); the least recently
# used beyond it is removed when another is kept.
KEPT_BASES = 2


def _keep(model, tokenizer, kept: Path) -> None:  # noqa: ANN001
    """Save the converted base to `kept` atomically (a temporary folder renamed; `complete` written last), then
    remove the least recently used kept bases beyond `KEPT_BASES`."""
    tmp = kept.with_name(f"{kept.name}.part-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "complete").write_text("", "utf-8")
        shutil.rmtree(kept, ignore_errors=True)
        os.replace(tmp, kept)
        log.info("kept the converted base at %s for the next run", kept)
        others = sorted((d for d in kept.parent.iterdir() if d != kept and (d / "complete").is_file()),
                        key=lambda d: (d / "complete").stat().st_mtime, reverse=True)
        for old in others[KEPT_BASES - 1:]:
            shutil.rmtree(old, ignore_errors=True)
            log.info("removed the converted base %s (used least recently)", old.name)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("could not keep the converted base at %s (%s); the next run converts the GGUF again", kept, e)


def encode(tokenizer, example: dict) -> tuple[list[int], list[int]]:  # noqa: ANN001
    """(input ids, labels): the chat-templated prompt, then the target and the end-of-turn token; labels are
    -100 (no loss) over the prompt."""
    prompt = tokenizer.apply_chat_template(example["messages"], tokenize=False, add_generation_prompt=True)
    p_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    t_ids = tokenizer(example["target"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return p_ids + t_ids, [-100] * len(p_ids) + t_ids


def _lr(step: int, total: int, s: LoraSettings) -> float:
    warmup = min(s.warmup, max(1, total // 10))  # a short run does not spend itself warming up
    if step < warmup:
        return s.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _loss(model, ids: list[int], labels: list[int], bf16: bool, reduction: str = "mean"):  # noqa: ANN001, ANN202
    import torch

    x = torch.tensor([ids])
    y = torch.tensor([labels])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=x).logits
    logits = logits[0, :-1].float()
    target = y[0, 1:]
    return torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction=reduction)


def answer_tokens(labels: Sequence[int]) -> int:
    """Tokens the loss counts (every label but the first is predicted; -100 is the prompt)."""
    return sum(t != -100 for t in labels[1:])


def heldout_loss(model, encoded: Sequence[tuple[list[int], list[int]]], bf16: bool) -> float | None:  # noqa: ANN001
    import torch

    if not encoded:
        return None
    model.eval()
    with torch.no_grad():
        losses = [float(_loss(model, ids, labels, bf16)) for ids, labels in encoded]
    model.train()
    return round(sum(losses) / len(losses), 4)


def lora_weights(model) -> dict:  # noqa: ANN001
    """{module name: (A, B)} as numpy float32, from a peft model."""
    out = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
            a = module.lora_A["default"].weight.detach().float().numpy()
            b = module.lora_B["default"].weight.detach().float().numpy()
            out[name] = (a, b)
    return out


def train(base_path: Path, base_name: str, examples: Sequence[dict], heldout: Sequence[dict], work: Path,
          adapter_path: Path, settings: LoraSettings | None = None, *, max_steps: int | None = None,
          checkpoint_every: int = 10, threads: int | None = None, heldout_limit: int = 20,
          base_cache: Path | None = None, progress: Callable[[str, int, int], None] | None = None) -> TrainReport:
    """Train a LoRA adapter on `examples` (resuming a checkpoint in `work`) and write it to `adapter_path`.
    `max_steps` stops early (a smoke run); the schedule is still that of the whole run. `base_cache` keeps the
    converted base for the next run (`load_base`)."""
    settings = settings or LoraSettings()
    if settings.bf16 is None:
        settings = replace(settings, bf16=native_bf16())
    settings.check()
    if not examples:
        raise InputError("no training examples; build them with `inhouse tune data --tenant T`.")
    import torch
    from peft import LoraConfig, get_peft_model

    t_start = time.perf_counter()
    report = TrainReport(base=base_name, settings=asdict(settings))
    given = len(examples)
    examples = mix(examples, settings)
    report.refusals_left_out = given - len(examples)
    digest = report.data_sha256 = data_sha256(examples)
    base_sha = sha256_file(base_path)
    identity = {"format": FORMAT, "base_sha256": base_sha, "data_sha256": digest, "settings": asdict(settings)}
    ckpt_path = work / "checkpoint.pt"
    state = None
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        if state.get("identity") != identity:
            raise InputError(f"{ckpt_path} is a checkpoint of another base, data set or settings; delete it (or "
                             "give another --work) to start over.")
    torch.manual_seed(settings.seed)
    model, tokenizer = load_base(base_path, threads, base_cache, base_sha)
    encoded = [encode(tokenizer, ex) for ex in examples]
    kept = [e for e in encoded if len(e[0]) <= settings.max_tokens]
    report.examples, report.too_long = len(kept), len(encoded) - len(kept)
    if not kept:
        raise InputError(f"every example is longer than {settings.max_tokens} tokens; raise --max-tokens.")
    held = [e for e in (encode(tokenizer, ex) for ex in heldout[:heldout_limit]) if len(e[0]) <= settings.max_tokens]
    report.heldout = len(held)
    model = get_peft_model(model, LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0,
                                             target_modules=list(settings.targets), bias="none"))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    total = max(1, math.ceil(len(kept) * settings.epochs / settings.accumulate))
    order = [i for e in range(math.ceil(settings.epochs)) for i in random.Random(settings.seed + e).sample(
        range(len(kept)), len(kept))][: total * settings.accumulate]
    step = 0
    if state is not None:
        model.load_state_dict(state["lora"], strict=False)
        optim.load_state_dict(state["optim"])
        step = report.resumed_at = state["step"]
        report.train_seconds = state.get("train_seconds", 0.0)
        report.heldout_loss_base = state.get("heldout_loss_base")
    elif held:
        with model.disable_adapter():
            report.heldout_loss_base = heldout_loss(model, held, settings.bf16)

    def save() -> None:
        lora = {k: v for k, v in model.state_dict().items() if "lora_" in k}
        blob = {"identity": identity, "step": step, "lora": lora, "optim": optim.state_dict(),
                "heldout_loss_base": report.heldout_loss_base, "train_seconds": round(trained(), 1)}
        atomic_write(ckpt_path, lambda f: torch.save(blob, f))

    work.mkdir(parents=True, exist_ok=True)
    last = min(total, max_steps if max_steps is not None else total)
    model.train()
    t0, before = time.perf_counter(), report.train_seconds

    def trained() -> float:
        return before + time.perf_counter() - t0

    if progress:
        progress("training", step, total)
    while step < last:
        for g in optim.param_groups:
            g["lr"] = _lr(step, total, settings)
        batch = order[step * settings.accumulate:(step + 1) * settings.accumulate]
        # Every reply token of the step weighs the same. Averaged per example instead, a refusal's few tokens
        # each weighed ten times a copied sentence's: the 0.5B learnt to begin every reply with NOT_FOUND.
        tokens = sum(answer_tokens(kept[i][1]) for i in batch)
        for i in batch:
            loss = _loss(model, *kept[i], settings.bf16, reduction="sum") / tokens
            loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        step += 1
        if step % checkpoint_every == 0 or step == last:
            save()
        if progress:
            progress("training", step, total)
    report.steps = step
    report.train_seconds = round(trained(), 1)
    if step:
        report.seconds_per_step = round(report.train_seconds / step, 2)
    if held:
        report.heldout_loss_adapted = heldout_loss(model, held, settings.bf16)
    write_adapter(adapter_path, base_path, lora_weights(model), settings.alpha, name=adapter_path.stem)
    report.adapter, report.sha256 = str(adapter_path), sha256_file(adapter_path)
    report.seconds = round(time.perf_counter() - t_start, 1)
    atomic_write_json(work / "report.json", report.to_json(), indent=2)
    return report
