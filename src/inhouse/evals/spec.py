"""Task definitions: YAML files validated into `TaskSpec`s.

Tasks are data so that adding a benchmark is a YAML file, not code. A spec names the data file (under
the evaluation data directory), how its records become documents (an *adapter*), the prompt
template, the few-shot source and count, the target, and the metrics with their aggregation and
direction. The `version` is part of the result-cache key: bump it whenever the prompt or data change.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inhouse.errors import InputError, NotFoundError

OUTPUT_TYPES = ("multiple_choice", "multiple_context", "generate_until")
KNOWN_METRICS = {"acc", "acc_norm", "mc2", "f1", "exact_match"}
AGGREGATIONS = {"mean", "f1"}


@dataclass(frozen=True)
class Metric:
    name: str
    aggregation: str = "mean"
    higher_is_better: bool = True


@dataclass(frozen=True)
class FewShot:
    count: int = 0
    # "same" draws examples from the evaluated file itself (never the item being asked), as lm-eval does
    # when a task's few-shot split is its test split; otherwise a data file with the same format.
    source: str = "same"
    seed: int = 1234
    # Draw examples only among documents with the same value of this field (MMLU: the subject).
    match: str = ""


@dataclass(frozen=True)
class Generation:
    until: tuple[str, ...] = ("\n\n",)
    max_tokens: int = 256
    answer_regex: str = r"#### (\-?[0-9\.\,]+)"  # answer extraction for exact match


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: int
    data_file: str  # relative to the evaluation data directory
    data_format: str  # jsonl | json | tsv | hellaswag_txt | json_glob
    adapter: str  # how a raw record becomes a document (see inhouse.evals.adapters)
    prompt: str  # str.format template over document fields
    output: str = "multiple_choice"
    split: str = "test"
    choices: str = "choices"  # document field holding the list of choices (or contexts)
    target: str = "gold"  # document field holding the gold index (or answer string)
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    fewshot_target: str = ""  # template of a few-shot example's answer; empty: the gold choice
    description: str = ""  # template placed before the few-shot examples
    fewshot: FewShot = field(default_factory=FewShot)
    metrics: tuple[Metric, ...] = (Metric("acc"),)
    generation: Generation = field(default_factory=Generation)
    language: str = "en"
    group: str = ""  # open_llm | korean | other: which leaderboard average the task counts in
    primary: str = "acc"  # the metric shown on the leaderboard
    description_text: str = ""  # one line for `inhouse eval tasks`

    def with_fewshot(self, count: int) -> TaskSpec:
        from dataclasses import replace

        return replace(self, fewshot=replace(self.fewshot, count=count))


_FIELDS = {
    "name", "version", "data", "adapter", "prompt", "output", "choices", "target", "target_delimiter",
    "fewshot_delimiter", "fewshot_target", "description", "fewshot", "metrics", "generation", "language",
    "group", "primary", "about",
}


def _template_fields(template: str, where: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as e:
        raise InputError(f"{where}: bad template {template!r} ({e}); write document fields as {{field}} "
                         "and literal braces as {{{{ }}}}.") from e


def parse_spec(raw: Any, where: str) -> TaskSpec:
    """Validate one task's YAML mapping; every error names the file and the field to fix."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: a task file must be a YAML mapping of fields, got {type(raw).__name__}.")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_FIELDS))}."
        )
    for key in ("name", "version", "data", "adapter", "prompt"):
        if key not in raw:
            raise InputError(f"{where}: missing required field '{key}'.")
    if not isinstance(raw["version"], int) or raw["version"] < 0:
        raise InputError(f"{where}: 'version' must be a non-negative integer, got {raw['version']!r}.")
    data = raw["data"]
    if not isinstance(data, dict) or "file" not in data or "format" not in data:
        raise InputError(f"{where}: 'data' needs 'file' (relative to the data directory) and 'format'.")
    from inhouse.evals.adapters import ADAPTERS, FORMATS

    if data["format"] not in FORMATS:
        raise InputError(f"{where}: data format {data['format']!r} unknown; use one of {', '.join(FORMATS)}.")
    if raw["adapter"] not in ADAPTERS:
        raise InputError(f"{where}: adapter {raw['adapter']!r} unknown; use one of {', '.join(sorted(ADAPTERS))}.")
    output = raw.get("output", "multiple_choice")
    if output not in OUTPUT_TYPES:
        raise InputError(f"{where}: output {output!r} unknown; use one of {', '.join(OUTPUT_TYPES)}.")
    for key in ("prompt", "description", "fewshot_target"):
        if not isinstance(raw.get(key, ""), str):
            raise InputError(f"{where}: '{key}' must be a string template.")
        _template_fields(raw.get(key, ""), f"{where}: {key}")
    fs_raw = raw.get("fewshot") or {}
    if not isinstance(fs_raw, dict) or set(fs_raw) - {"count", "source", "seed", "match"}:
        raise InputError(f"{where}: 'fewshot' takes count, source, seed and match.")
    count = fs_raw.get("count", 0)
    if not isinstance(count, int) or count < 0:
        raise InputError(f"{where}: fewshot count must be a non-negative integer, got {count!r}.")
    fewshot = FewShot(count=count, source=str(fs_raw.get("source", "same")), seed=int(fs_raw.get("seed", 1234)),
                     match=str(fs_raw.get("match", "")))
    metrics_raw = raw.get("metrics") or [{"name": "acc"}]
    if not isinstance(metrics_raw, list):
        raise InputError(f"{where}: 'metrics' must be a list of {{name, aggregation, higher_is_better}}.")
    metrics = []
    for m in metrics_raw:
        m = {"name": m} if isinstance(m, str) else m
        if not isinstance(m, dict) or m.get("name") not in KNOWN_METRICS:
            raise InputError(f"{where}: metric {m!r} unknown; use one of {', '.join(sorted(KNOWN_METRICS))}.")
        agg = m.get("aggregation", "f1" if m["name"] == "f1" else "mean")
        if agg not in AGGREGATIONS:
            raise InputError(f"{where}: aggregation {agg!r} of {m['name']} unknown; use mean or f1.")
        metrics.append(Metric(m["name"], agg, bool(m.get("higher_is_better", True))))
    if output == "generate_until" and any(m.name != "exact_match" for m in metrics):
        raise InputError(f"{where}: a generate_until task supports only the exact_match metric.")
    if output != "generate_until" and any(m.name == "exact_match" for m in metrics):
        raise InputError(f"{where}: exact_match needs output: generate_until.")
    gen_raw = raw.get("generation") or {}
    generation = Generation(
        until=tuple(gen_raw.get("until", ("\n\n",))),
        max_tokens=int(gen_raw.get("max_tokens", 256)),
        answer_regex=str(gen_raw.get("answer_regex", Generation.answer_regex)),
    )
    primary = raw.get("primary", metrics[0].name)
    if primary not in {m.name for m in metrics}:
        raise InputError(f"{where}: primary metric {primary!r} is not among the task's metrics.")
    return TaskSpec(
        name=str(raw["name"]), version=raw["version"], data_file=str(data["file"]), data_format=data["format"],
        split=str(data.get("split", "test")), adapter=raw["adapter"], prompt=raw["prompt"], output=output,
        choices=str(raw.get("choices", "choices")), target=str(raw.get("target", "gold")),
        target_delimiter=str(raw.get("target_delimiter", " ")),
        fewshot_delimiter=str(raw.get("fewshot_delimiter", "\n\n")),
        fewshot_target=raw.get("fewshot_target", ""), description=raw.get("description", ""),
        fewshot=fewshot, metrics=tuple(metrics), generation=generation,
        language=str(raw.get("language", "en")), group=str(raw.get("group", "")), primary=primary,
        description_text=str(raw.get("about", "")),
    )


def load_spec_file(path: Path) -> TaskSpec:
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e}); fix the file.") from e
    return parse_spec(raw, str(path))


def builtin_specs() -> dict[str, TaskSpec]:
    """The task YAML files shipped inside the package (inhouse/evals/tasks/*.yaml)."""
    specs: dict[str, TaskSpec] = {}
    for entry in sorted(resources.files("inhouse.evals").joinpath("tasks").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            where = f"inhouse/evals/tasks/{entry.name}"
            try:
                raw = yaml.safe_load(entry.read_text("utf-8"))
            except yaml.YAMLError as e:
                raise InputError(f"{where}: not valid YAML ({e}); fix the file.") from e
            spec = parse_spec(raw, where)
            specs[spec.name] = spec
    return specs


def get_spec(name: str, extra_dir: Path | None = None) -> TaskSpec:
    specs = all_specs(extra_dir)
    if name not in specs:
        raise NotFoundError(f"no task named '{name}'; see `inhouse eval tasks` for the available ones.")
    return specs[name]


def all_specs(extra_dir: Path | None = None) -> dict[str, TaskSpec]:
    specs = builtin_specs()
    if extra_dir is not None:
        for path in sorted(Path(extra_dir).glob("*.yaml")):
            spec = load_spec_file(path)
            specs[spec.name] = spec
    return specs
