"""InHouse builds exactly lm-evaluation-harness's requests (`make test` installs the `evalref` extra).

lm-eval's own task code (hellaswag process_docs, kobest copa functions, the TruthfulQA primer) runs
over the same local data converted to the hub layout by bench/eval_agreement.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from inhouse.evals.requests import build_items
from inhouse.evals.runner import load_task
from inhouse.evals.spec import get_spec
from tests.conftest import ROOT, SHARED_DATA

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

TASKS = {"ie_arc_easy": "arc_easy", "ie_hellaswag": "hellaswag", "ie_truthfulqa_mc2": "truthfulqa_mc2",
         "ie_kobest_copa": "kobest_copa"}


def test_requests_identical_to_lm_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import eval_agreement

    eval_agreement.convert_data(tmp_path)
    from lm_eval.tasks import TaskManager

    # our four task files alone (not the 14,000 built-in ones indexed): they import lm-eval's own task code
    tasks = TaskManager(include_path=str(ROOT / "bench" / "lmeval_tasks"), include_defaults=False).load(
        list(TASKS))["tasks"]
    for lm_name, name in TASKS.items():
        task = tasks[lm_name]
        task.build_all_requests(limit=100, rank=0, world_size=1)
        theirs: dict[int, list[tuple[str, str]]] = {}
        for inst in task.instances:
            theirs.setdefault(inst.doc_id, []).append(tuple(inst.arguments))
        spec = get_spec(name)
        ours = build_items(spec, load_task(spec)[0], 100)
        assert len(ours) == len(theirs) == 100
        for it in ours:
            assert list(zip(it.contexts, it.continuations, strict=True)) == theirs[it.index], (name, it.index)
    sys.modules.pop("eval_agreement", None)
