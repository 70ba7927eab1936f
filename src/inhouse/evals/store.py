"""The evaluation database (INHOUSE_HOME/evals/evals.db): per-item cache and the leaderboard.

- `item_cache`: the scored result of one item, keyed by a hash of (model file SHA-256, task, task
  version, few-shot settings, item index, the exact request strings). An interrupted run resumes from
  here, and a change of prompt or data gives new keys instead of stale hits.
- `results`: one row per (run, task, metric) with the model's name, file hash and quantisation, the task
  version, the settings (shots, seed, limit, and for a model with a LoRA adapter, named "base+adapter", the
  adapter's SHA-256), the score, its standard error, n and the date. The board shows each model's latest
  score per task, and the "Open LLM v1" and "Korean" averages.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from inhouse.config import home
from inhouse.errors import StoreError
from inhouse.files import private_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS item_cache (
  key TEXT PRIMARY KEY, task TEXT NOT NULL, model_sha TEXT NOT NULL, value TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, model TEXT NOT NULL, file_sha256 TEXT NOT NULL,
  quantisation TEXT NOT NULL, task TEXT NOT NULL, task_version INTEGER NOT NULL, metric TEXT NOT NULL,
  value REAL NOT NULL, stderr REAL, n INTEGER NOT NULL, primary_metric INTEGER NOT NULL, settings TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_model_task ON results(model, task, created);
"""

# The Open LLM Leaderboard (v1) average: these four tasks with these shots and metrics.
OPEN_LLM_V1 = {"arc_challenge": (25, "acc_norm"), "hellaswag": (10, "acc_norm"), "truthfulqa_mc2": (0, "mc2"),
               "mmlu": (5, "acc")}
KOREAN = ("kobest_boolq", "kobest_copa", "kobest_hellaswag", "kobest_sentineg", "kobest_wic")


def primary_score(task: dict) -> tuple[str, dict]:
    """(metric, {"value", "stderr"}) of a `board()` task entry: its primary metric, else its first."""
    metric = task.get("primary") or next(iter(task["metrics"]))
    return metric, task["metrics"][metric]


def item_key(model_sha: str, task: str, version: int, settings: dict, index: int, requests: Iterable) -> str:
    blob = json.dumps([model_sha, task, version, settings, index, list(requests)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class EvalStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or home() / "evals" / "evals.db"
        private_db(self.path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable evaluation database ({e}); move it away to start "
                             "a new one.") from e

    def close(self) -> None:
        self.conn.close()

    # ---- item cache --------------------------------------------------------------------------------

    def cached(self, keys: list[str]) -> dict[str, object]:
        out: dict[str, object] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = self.conn.execute(
                f"SELECT key, value FROM item_cache WHERE key IN ({','.join('?' * len(part))})", part)
            out.update({k: json.loads(v) for k, v in rows})
        return out

    def put_items(self, task: str, model_sha: str, values: dict[str, object]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO item_cache (key, task, model_sha, value, created) VALUES (?,?,?,?,?)",
                [(k, task, model_sha, json.dumps(v), now) for k, v in values.items()])

    def cache_size(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM item_cache").fetchone()[0]

    # ---- leaderboard -------------------------------------------------------------------------------

    def record(self, run_id: str, model: str, file_sha256: str, quantisation: str, task: str, version: int,
               scores: dict, n: int, primary: str, settings: dict) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [(run_id, model, file_sha256, quantisation, task, version, m, float(v), scores.get(f"{m}_stderr"), n,
                 int(m == primary), json.dumps(settings, sort_keys=True), now)
                for m, v in scores.items() if not m.endswith("_stderr") and v is not None]
        with self.conn:
            self.conn.executemany(
                "INSERT INTO results (run_id, model, file_sha256, quantisation, task, task_version, metric, value,"
                " stderr, n, primary_metric, settings, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def latest(self) -> list[dict]:
        """Each (model, task, metric)'s most recent score."""
        rows = self.conn.execute(
            "SELECT model, file_sha256, quantisation, task, task_version, metric, value, stderr, n, primary_metric,"
            " settings, created FROM results r WHERE id = (SELECT MAX(id) FROM results r2 WHERE"
            " r2.model = r.model AND r2.task = r.task AND r2.metric = r.metric) ORDER BY model, task, metric")
        cols = ["model", "file_sha256", "quantisation", "task", "task_version", "metric", "value", "stderr", "n",
                "primary", "settings", "date"]
        return [dict(zip(cols, r, strict=True)) | {"settings": json.loads(r[10]), "primary": bool(r[9])} for r in rows]

    def board(self) -> list[dict]:
        """One row per model: primary score per task, and the Open LLM v1 and Korean averages.

        The Open LLM v1 average needs all four tasks at the leaderboard's shots; otherwise it is None and
        `open_llm_v1_missing` says what is missing. The Korean average is over the KoBEST tasks present.
        """
        latest = self.latest()
        models: dict[str, dict] = {}
        for r in latest:
            m = models.setdefault(r["model"], {"model": r["model"], "file_sha256": r["file_sha256"],
                                               "adapter_sha256": r["settings"].get("adapter_sha256"),
                                               "quantisation": r["quantisation"], "tasks": {}, "date": r["date"]})
            m["date"] = max(m["date"], r["date"])
            t = m["tasks"].setdefault(r["task"], {"version": r["task_version"], "n": r["n"],
                                                  "shots": r["settings"].get("fewshot"), "metrics": {}})
            t["metrics"][r["metric"]] = {"value": r["value"], "stderr": r["stderr"]}
            if r["primary"]:
                t["primary"] = r["metric"]
        out = []
        for m in models.values():
            missing, vals = [], []
            for task, (shots, metric) in OPEN_LLM_V1.items():
                t = m["tasks"].get(task)
                if t is None or metric not in t["metrics"] or t["shots"] != shots:
                    missing.append(f"{task} {shots}-shot {metric}")
                else:
                    vals.append(t["metrics"][metric]["value"])
            m["open_llm_v1"] = sum(vals) / len(vals) if not missing else None
            m["open_llm_v1_missing"] = missing
            ko = [m["tasks"][t]["metrics"][m["tasks"][t].get("primary", "acc")]["value"]
                  for t in KOREAN if t in m["tasks"]]
            m["korean"] = sum(ko) / len(ko) if ko else None
            m["korean_n_tasks"] = len(ko)
            out.append(m)
        out.sort(key=lambda m: (m["open_llm_v1"] is None, -(m["open_llm_v1"] or 0), -(m["korean"] or 0)))
        return out
