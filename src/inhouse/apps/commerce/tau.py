"""τ-bench retail (sierra-research/tau-bench, MIT) as data: the shop (`users.json`, `orders.json`,
`products.json`) and its task lists (`tasks_train.py`, `tasks_dev.py`).

The task lists are Python source; they are read with `ast` (each `Task(...)` / `Action(...)` call's
keyword literals), never executed.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inhouse.errors import InputError, NotFoundError

SPLITS = {"train": "tasks_train.py", "dev": "tasks_dev.py"}


@dataclass(frozen=True)
class Action:
    name: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Task:
    index: int
    user_id: str
    instruction: str
    actions: tuple[Action, ...]
    outputs: tuple[str, ...] = field(default=())


def load_shop(folder: Path) -> tuple[dict, dict, dict]:
    """(users, orders, products) from a τ-bench retail folder."""
    out = []
    for name in ("users", "orders", "products"):
        path = folder / f"{name}.json"
        if not path.is_file():
            raise NotFoundError(f"{path} is missing: a shop folder holds users.json, orders.json and products.json.")
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as e:
            raise InputError(f"{path} is not valid JSON ({e}).") from e
    return out[0], out[1], out[2]


def _call(node: ast.expr, name: str) -> dict[str, Any]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name):
        raise InputError(f"expected a {name}(...) call at line {getattr(node, 'lineno', '?')}.")
    return {k.arg: k.value for k in node.keywords if k.arg}


def load_tasks(folder: Path, split: str) -> list[Task]:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; one of {', '.join(SPLITS)}.")
    path = folder / SPLITS[split]
    if not path.is_file():
        raise NotFoundError(f"{path} is missing.")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lists = [n.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.List)]
    if len(lists) != 1:
        raise InputError(f"{path}: expected one list of Task(...) calls.")
    tasks = []
    for i, node in enumerate(lists[0].elts):
        kw = _call(node, "Task")
        actions = []
        for a in getattr(kw.get("actions"), "elts", []):
            akw = _call(a, "Action")
            actions.append(Action(ast.literal_eval(akw["name"]), ast.literal_eval(akw["kwargs"])))
        tasks.append(Task(i, ast.literal_eval(kw["user_id"]), ast.literal_eval(kw["instruction"]), tuple(actions),
                          tuple(ast.literal_eval(kw["outputs"])) if "outputs" in kw else ()))
    return tasks
