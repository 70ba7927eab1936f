"""The evaluation harness on the real packaged Qwen2.5-Coder-0.5B GGUF in llama.cpp.

Log-likelihoods are checked against a direct llama-cpp-python computation (logits_all + eval), scores on
a handmade task against the metric definitions, and the per-item cache against interruption.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inhouse.cli.main import main
from inhouse.evals import EvalStore, run_eval
from inhouse.evals.scorer import LlamaScorer
from inhouse.evals.spec import parse_spec
from inhouse.models.registry import Registry
from tests.conftest import SHARED_DATA
from tests.helpers import random_adapter

PAIRS = [("Question: What is the capital of France?\nAnswer:", " Paris"),
         ("Question: What is the capital of France?\nAnswer:", " Berlin is a city"),
         ("질문: 대한민국의 수도는 어디인가요?\n답: ", " 서울"),
         ("질문: 대한민국의 수도는 어디인가요?\n답: ", " 부산입니다.")]


@pytest.fixture(scope="module")
def model_path(packaged_gguf: Path) -> Path:
    return packaged_gguf


@pytest.fixture(scope="module")
def scorer(model_path: Path) -> LlamaScorer:
    return LlamaScorer(model_path, n_ctx=512, n_threads=2)


def direct_loglik(llm, context: str, continuation: str) -> float:
    """Reference: lm-eval's split of the tokens, every position's logits from llama-cpp-python."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = llm.tokenize((context + continuation).encode(), add_bos=False, special=False)
    n_ctx = len(llm.tokenize(context.encode(), add_bos=False, special=False))
    llm.reset()
    llm.eval(whole)
    logits = np.asarray(llm.scores[: len(whole)], dtype=np.float64)
    logp = logits - (logits.max(1, keepdims=True)
                     + np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)))
    return float(sum(logp[i - 1, whole[i]] for i in range(n_ctx, len(whole))))


def test_loglikelihood_equals_direct_llama_cpp(model_path: Path, scorer: LlamaScorer):
    from llama_cpp import Llama

    ref = Llama(model_path=str(model_path), n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    expected = [direct_loglik(ref, c, x) for c, x in PAIRS]
    cold = []
    for pair in PAIRS:  # nothing reused: the same batch as the reference, so the same floating-point sums
        scorer._cached = []
        cold.append(scorer.loglikelihood([pair])[0][0])
    assert cold == pytest.approx(expected, abs=1e-6)
    # With the KV cache reused, only the choice's tokens are decoded. llama.cpp's quantised kernels sum in
    # a different order for a smaller batch, so numbers move by up to ~0.1 nats, never the ranking here.
    warm = [ll for ll, _ in scorer.loglikelihood(PAIRS)]
    assert warm == pytest.approx(expected, abs=0.15)
    assert warm[0] > warm[1] and warm[2] > warm[3]  # Paris, 서울
    # The same requests in the same order after others give the same numbers: the cache is cut exactly
    # where requests differ, nothing stale leaks in.
    again = [ll for ll, _ in scorer.loglikelihood([PAIRS[3], *PAIRS])][1:]
    assert again == pytest.approx(warm, abs=1e-6)


def test_encode_pair_moves_trailing_space_and_splits_whole_encoding(scorer: LlamaScorer):
    ctx, cont = scorer.encode_pair("답변: ", " 예")
    whole = scorer.encode("답변:  예")
    assert ctx + cont == whole and ctx == scorer.encode("답변:")
    assert not scorer.add_bos  # Qwen's GGUF asks for no BOS, as its HF tokenizer


def _tiny_task(tmp_path: Path) -> tuple[Path, object]:
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"query": "Question: What is the capital of France?", "choices": ["Paris", "Berlin is a city"], "gold": 0},
            {"query": "질문: 대한민국의 수도는 어디인가요?", "choices": ["부산입니다.", "서울"], "gold": 1},
            {"query": "Question: What colour is the sky on a clear day?", "choices": ["green", "blue"], "gold": 1}]
    (data / "tiny.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    spec = parse_spec({"name": "tiny", "version": 1, "data": {"file": "tiny.jsonl", "format": "jsonl"},
                       "adapter": "identity", "prompt": "{query}\nAnswer:", "metrics": ["acc", "acc_norm"]}, "tiny")
    return data, spec


def test_tiny_task_scores_cache_and_resume(tmp_path: Path, model_path: Path, scorer: LlamaScorer):
    data, spec = _tiny_task(tmp_path)
    store = EvalStore(tmp_path / "evals.db")
    calls = []

    def stop_after_two(task, done, total):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_eval(str(model_path), [spec], data=data, n_ctx=512, n_threads=2, store=store, progress=stop_after_two)
    assert store.cache_size() == 2  # what was scored before the interruption is kept
    res = run_eval(str(model_path), [spec], data=data, n_ctx=512, n_threads=2, store=store)
    assert store.cache_size() == 3
    scores = res["results"]["tiny"]
    # Expected from the scorer's own log-likelihoods and the metric definitions.
    lls = [[ll for ll, _ in scorer.loglikelihood([
                ("Question: What is the capital of France?\nAnswer:", " Paris"),
                ("Question: What is the capital of France?\nAnswer:", " Berlin is a city")])],
           [ll for ll, _ in scorer.loglikelihood([
               ("질문: 대한민국의 수도는 어디인가요?\nAnswer:", " 부산입니다."),
               ("질문: 대한민국의 수도는 어디인가요?\nAnswer:", " 서울")])],
           [ll for ll, _ in scorer.loglikelihood([
               ("Question: What colour is the sky on a clear day?\nAnswer:", " green"),
               ("Question: What colour is the sky on a clear day?\nAnswer:", " blue")])]]
    golds = [0, 1, 1]
    acc = np.mean([int(np.argmax(x) == g) for x, g in zip(lls, golds, strict=True)])
    assert scores["acc"] == pytest.approx(acc) and scores["n"] == 3
    # A second run is served from the cache alone: same numbers, no model needed.
    again = run_eval(str(model_path), [spec], data=data, store=store)
    assert again["results"] == res["results"]
    limited = run_eval(str(model_path), [spec], data=data, store=store, limit=2)
    assert limited["results"]["tiny"]["n"] == 2
    board = store.board()
    assert board[0]["tasks"]["tiny"]["n"] == 2 and board[0]["quantisation"] == "Q4_K_M"
    store.close()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")
def test_cli_run_board_tasks(model_path: Path, capsys: pytest.CaptureFixture):
    assert main(["eval", "run", "--model", str(model_path), "--tasks", "copa,kobest_copa", "--limit", "3",
                 "--n-ctx", "512", "--threads", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == {"copa", "kobest_copa"}
    assert out["results"]["copa"]["n"] == 3 and 0 <= out["results"]["kobest_copa"]["acc"] <= 1
    assert main(["eval", "board", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)["models"]
    assert board[0]["korean_n_tasks"] == 1 and board[0]["open_llm_v1"] is None
    assert main(["eval", "board", "--csv"]) == 0
    assert capsys.readouterr().out.startswith("model,file_sha256,quantisation,task")
    assert main(["eval", "tasks", "--json"]) == 0
    tasks = {t["task"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert tasks["arc_easy"]["found"] and tasks["kobest_copa"]["language"] == "ko"
    assert main(["eval", "run", "--model", str(model_path), "--tasks", "nope"]) == 3
    assert "no task named 'nope'" in capsys.readouterr().err


def test_an_adapted_model_is_scored_and_ranked_beside_its_base(tmp_path: Path, model_path: Path, inhouse_home: Path):
    reg = Registry()
    reg.add(model_path, "qwen2.5-coder-0.5b")
    lora = random_adapter(tmp_path / "rand.gguf", model_path, seed=0, scale=0.05)
    sha = reg.add_adapter(lora, "rand", "qwen2.5-coder-0.5b")["sha256"]
    data, spec = _tiny_task(tmp_path)
    store = EvalStore(tmp_path / "evals.db")
    base = run_eval("qwen2.5-coder-0.5b", [spec], data=data, n_ctx=512, n_threads=2, store=store)
    # The base given by its path is the same file: the adapter fits it, and the row is named by the base's name.
    adapted = run_eval(str(model_path), [spec], data=data, n_ctx=512, n_threads=2, store=store, adapter="rand")
    assert adapted["model"] == "qwen2.5-coder-0.5b+rand" and adapted["adapter_sha256"] == sha
    assert adapted["file_sha256"] == base["file_sha256"] and "adapter" not in base
    # The adapted model's items are scored by the adapted model (cached apart), not taken from the base's.
    lls: dict[str, list[float]] = {}
    for model_sha, value in store.conn.execute("SELECT model_sha, value FROM item_cache"):
        lls.setdefault(model_sha, []).extend(json.loads(value)["lls"])
    assert set(lls) == {base["file_sha256"], f"{base['file_sha256']}+{sha}"}
    # Compared as sorted lists (the cache keeps no item order): the same numbers would mean the same model.
    plain, lora_lls = (np.sort(lls[k]) for k in (base["file_sha256"], f"{base['file_sha256']}+{sha}"))
    assert len(plain) == len(lora_lls) == 6 and np.abs(plain - lora_lls).max() > 1e-3
    board = {m["model"]: m for m in store.board()}
    assert board["qwen2.5-coder-0.5b+rand"]["adapter_sha256"] == sha
    assert board["qwen2.5-coder-0.5b"]["adapter_sha256"] is None
    store.close()
