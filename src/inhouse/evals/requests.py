"""Prompt construction: documents -> (context, continuation) requests, exactly as lm-eval builds them.

For a multiple-choice item lm-eval asks for the log-likelihood of `target_delimiter + choice` after the
context `description + few-shot examples + fewshot_delimiter + prompt`. Few-shot examples are drawn
with `random.Random(seed).sample`, one draw per item in file order, dropping the item itself when the
examples come from the evaluated file — the same sequence lm-eval's default sampler produces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from inhouse.errors import InputError
from inhouse.evals.adapters import Doc
from inhouse.evals.spec import TaskSpec


@dataclass(frozen=True)
class Item:
    """One question, ready to score: a context per choice (usually all the same) and continuations."""

    index: int  # position in the data file
    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    choices: tuple[str, ...]  # the raw choice strings (acc_norm divides by their length in characters)
    gold: object  # int index, or list of labels for mc2, or answer string for generation
    fewshot_ids: tuple[int, ...] = ()


def render(template: str, doc: Doc, where: str) -> str:
    try:
        return template.format_map(doc)
    except (KeyError, IndexError, AttributeError) as e:
        raise InputError(f"{where}: template {template!r} uses {e}, which the documents do not have; "
                         f"available fields: {', '.join(sorted(doc))}.") from e


def _target_text(spec: TaskSpec, doc: Doc) -> str:
    if spec.fewshot_target:
        return render(spec.fewshot_target, doc, spec.name)
    if spec.output == "multiple_context":
        return doc["continuation"]
    gold = doc[spec.target]
    if isinstance(gold, list):  # mc2 labels: the first true answer
        gold = gold.index(1)
    return doc[spec.choices][gold]


def _example(spec: TaskSpec, doc: Doc) -> str:
    if spec.output == "multiple_context":
        return doc[spec.choices][doc[spec.target]] + spec.target_delimiter + _target_text(spec, doc)
    return render(spec.prompt, doc, spec.name) + spec.target_delimiter + _target_text(spec, doc)


def build_items(spec: TaskSpec, docs: list[Doc], limit: int | None = None,
                fewshot_docs: list[Doc] | None = None) -> list[Item]:
    """Items for the first `limit` documents; few-shot examples from `fewshot_docs` (None: the same file)."""
    same = fewshot_docs is None
    pool = docs if same else fewshot_docs
    n_shot = spec.fewshot.count
    rnd = random.Random(spec.fewshot.seed)
    items = []
    for i, doc in enumerate(docs[:limit] if limit is not None else docs):
        shots: list[int] = []
        if n_shot:
            key = spec.fewshot.match
            candidates = [j for j, d in enumerate(pool) if d.get(key) == doc.get(key)] if key else range(len(pool))
            if len(candidates) < n_shot + (1 if same else 0):
                raise InputError(f"{spec.name}: {n_shot}-shot needs at least {n_shot + 1} documents in the "
                                 f"few-shot source, there are {len(candidates)}.")
            drawn = rnd.sample(candidates, n_shot + 1 if same else n_shot)
            shots = [j for j in drawn if not (same and j == i)][:n_shot]
        description = render(spec.description, doc, spec.name) if spec.description else ""
        prefix = description
        if shots:
            prefix += spec.fewshot_delimiter.join(_example(spec, pool[j]) for j in shots) + spec.fewshot_delimiter
        if spec.output == "multiple_context":
            contexts = tuple(prefix + c for c in doc[spec.choices])
            cont = spec.target_delimiter + doc["continuation"]
            items.append(Item(i, contexts, (cont,) * len(contexts), tuple(doc[spec.choices]), doc[spec.target],
                              tuple(shots)))
            continue
        context = prefix + render(spec.prompt, doc, spec.name)
        if spec.output == "generate_until":
            items.append(Item(i, (context,), (), (), doc[spec.target], tuple(shots)))
            continue
        choices = tuple(str(c) for c in doc[spec.choices])
        if not choices:
            raise InputError(f"{spec.name}: item {i + 1} has no choices.")
        items.append(Item(i, (context,) * len(choices), tuple(spec.target_delimiter + c for c in choices),
                          choices, doc[spec.target], tuple(shots)))
    return items
