"""Evaluation harness: leaderboard tasks as YAML, log-likelihood scoring on llama.cpp that reproduces
lm-evaluation-harness, a resumable per-item cache and a leaderboard store. See docs/eval.md."""

from inhouse.evals.runner import PRESETS, resolve_model, run_eval
from inhouse.evals.spec import TaskSpec, all_specs, get_spec, load_spec_file, parse_spec
from inhouse.evals.store import EvalStore

__all__ = ["PRESETS", "EvalStore", "TaskSpec", "all_specs", "get_spec", "load_spec_file", "parse_spec",
           "resolve_model", "run_eval"]
