"""Per-item metrics and their aggregation, as lm-evaluation-harness defines them.

- `acc`: the choice with the highest log-likelihood is the gold one.
- `acc_norm`: the same after dividing each log-likelihood by the length of its choice in characters
  (lm-eval divides by `len(choice)`, the raw choice string without the target delimiter).
- `mc2` (TruthfulQA): probability mass of the true answers (label 1) among all answers,
  sum(exp(ll_true)) / sum(exp(ll_all)) (lm-eval 0.4.13's `process_results_mc2`).
- `f1`: macro F1 over the items' predictions (KoBEST).
- Standard error of a mean: sample standard deviation (ddof=1) / sqrt(n), as lm-eval's `mean_stderr`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def item_scores(lls: Sequence[float], choices: Sequence[str], gold: object, metrics: Sequence[str]) -> dict:
    arr = np.asarray(lls, dtype=np.float64)
    out: dict[str, float] = {}
    pred = int(np.argmax(arr))
    golds = gold if isinstance(gold, list) and "mc2" not in metrics else [gold]
    if "acc" in metrics:
        out["acc"] = 1.0 if pred in golds else 0.0
    if "acc_norm" in metrics:
        lengths = np.array([float(len(c)) for c in choices])
        out["acc_norm"] = 1.0 if int(np.argmax(arr / lengths)) in golds else 0.0
    if "mc2" in metrics:
        labels = np.asarray(gold)
        probs = np.exp(arr - arr.max())  # shifted for range; the ratio is unchanged
        out["mc2"] = float(probs[labels == 1].sum() / probs.sum())
    if "f1" in metrics:
        out["f1"] = float(pred), float(golds[0])  # type: ignore[assignment]  # aggregated as a pair
    return out


def mean_stderr(values: Sequence[float]) -> float | None:
    n = len(values)
    if n < 2:
        return None
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=1) / math.sqrt(n))


def macro_f1(pairs: Sequence[tuple[float, float]]) -> float:
    preds = [p for p, _ in pairs]
    golds = [g for _, g in pairs]
    labels = sorted(set(golds) | set(preds))
    f1s = []
    for label in labels:
        tp = sum(1 for p, g in zip(preds, golds, strict=True) if p == label and g == label)
        fp = sum(1 for p, g in zip(preds, golds, strict=True) if p == label and g != label)
        fn = sum(1 for p, g in zip(preds, golds, strict=True) if p != label and g == label)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else 0.0


def aggregate(per_item: Sequence[dict], metrics: Sequence[str]) -> dict:
    """{metric: value, metric_stderr: se} over the items (f1 has no standard error here)."""
    out: dict[str, float | None] = {}
    for m in metrics:
        vals = [d[m] for d in per_item if m in d]
        if not vals:
            continue
        if m == "f1":
            out[m] = macro_f1(vals)
            out[f"{m}_stderr"] = None
        else:
            out[m] = float(np.mean(vals))
            out[f"{m}_stderr"] = mean_stderr(vals)
    return out
