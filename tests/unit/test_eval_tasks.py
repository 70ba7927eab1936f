"""Task YAML validation, data loading (English and Korean), request construction and metrics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from inhouse.errors import InputError, NotFoundError
from inhouse.evals.adapters import MissingDataError, read_records
from inhouse.evals.metrics import aggregate, item_scores, macro_f1, mean_stderr
from inhouse.evals.requests import build_items
from inhouse.evals.runner import load_task
from inhouse.evals.spec import all_specs, get_spec, load_spec_file, parse_spec
from tests.conftest import SHARED_DATA

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")

BASE = {"name": "t", "version": 1, "data": {"file": "x.jsonl", "format": "jsonl"}, "adapter": "identity",
        "prompt": "{query}\nAnswer:"}


def test_builtin_tasks_all_validate():
    specs = all_specs()
    for name in ("arc_easy", "arc_challenge", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2", "kobest_copa",
                 "mmlu", "winogrande", "piqa", "boolq", "copa", "gsm8k", "kobest_boolq", "kobest_hellaswag",
                 "kobest_sentineg", "kobest_wic"):
        assert name in specs
    assert specs["arc_easy"].data_file == "mc/foundry_arc_easy.jsonl"
    assert specs["truthfulqa_mc2"].primary == "mc2"
    assert specs["gsm8k"].output == "generate_until"


@pytest.mark.parametrize("change, message", [
    ({"version": "one"}, "'version' must be a non-negative integer"),
    ({"data": {"file": "x"}}, "'data' needs 'file'"),
    ({"data": {"file": "x", "format": "xml"}}, "data format 'xml' unknown"),
    ({"adapter": "nope"}, "adapter 'nope' unknown"),
    ({"output": "rank"}, "output 'rank' unknown"),
    ({"metrics": [{"name": "bleu"}]}, "metric {'name': 'bleu'} unknown"),
    ({"metrics": [{"name": "acc", "aggregation": "median"}]}, "aggregation 'median'"),
    ({"prompt": "{query"}, "bad template"),
    ({"fewshot": {"count": -1}}, "fewshot count must be a non-negative integer"),
    ({"primary": "acc_norm"}, "primary metric 'acc_norm' is not among"),
    ({"colour": "red"}, "unknown field(s) colour"),
])
def test_yaml_validation_errors_name_the_field(change, message):
    with pytest.raises(InputError) as e:
        parse_spec({**BASE, **change}, "my.yaml")
    assert message in str(e.value)
    assert str(e.value).startswith("my.yaml")


def test_missing_required_field_and_bad_yaml(tmp_path: Path):
    raw = dict(BASE)
    del raw["prompt"]
    with pytest.raises(InputError, match="missing required field 'prompt'"):
        parse_spec(raw, "x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_spec_file(bad)
    with pytest.raises(NotFoundError, match="no task named 'nope'"):
        get_spec("nope")


def test_missing_data_is_a_clear_error(tmp_path: Path):
    spec = get_spec("arc_easy")
    with pytest.raises(MissingDataError) as e:
        load_task(spec, tmp_path)
    assert isinstance(e.value, InputError)
    assert "INHOUSE_EVAL_DATA" in str(e.value) and "foundry_arc_easy.jsonl" in str(e.value)


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "mc").mkdir()
    (tmp_path / "mc" / "foundry_copa.jsonl").write_text(
        '{"query": "It rained, therefore", "choices": ["the ground got wet.", "the sun shone."], "gold": 0}\n',
        encoding="utf-8")
    monkeypatch.setenv("INHOUSE_EVAL_DATA", str(tmp_path))
    docs, _ = load_task(get_spec("copa"))
    assert docs == [{"query": "It rained, therefore", "choices": ["the ground got wet.", "the sun shone."], "gold": 0}]


def test_broken_jsonl_names_the_line(tmp_path: Path):
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n{broken\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2: not valid JSON"):
        read_records("x.jsonl", "jsonl", tmp_path)


@needs_data
def test_arc_easy_requests_match_lm_eval_and_limit_takes_file_order():
    spec = get_spec("arc_easy")
    docs, fs = load_task(spec)
    assert len(docs) == 2376
    items = build_items(spec, docs, 3, fs)
    assert [it.index for it in items] == [0, 1, 2]
    first = items[0]
    assert first.contexts[0] == ("Question: Which statement best explains why photosynthesis is the foundation "
                                 "of most food webs?\nAnswer:")
    assert first.continuations[0] == " Sunlight is the source of energy for nearly all ecosystems."
    assert first.gold == 0


@needs_data
def test_fewshot_is_seeded_excludes_the_item_and_does_not_depend_on_limit():
    spec = get_spec("arc_easy").with_fewshot(3)
    docs, fs = load_task(spec)
    a = build_items(spec, docs, 5, fs)
    b = build_items(spec, docs, 10, fs)[:5]
    assert [it.fewshot_ids for it in a] == [it.fewshot_ids for it in b]
    assert all(len(it.fewshot_ids) == 3 and it.index not in it.fewshot_ids for it in a)
    ex = docs[a[0].fewshot_ids[0]]
    assert a[0].contexts[0].startswith(ex["query"] + "\nAnswer: " + ex["choices"][ex["gold"]] + "\n\n")


@needs_data
def test_mmlu_fewshot_stays_in_the_subject():
    spec = get_spec("mmlu").with_fewshot(5)
    docs, fs = load_task(spec)
    for it in build_items(spec, docs, 20, fs):
        assert {docs[j]["subject"] for j in it.fewshot_ids} == {docs[it.index]["subject"]}
        assert it.contexts[0].startswith("The following are multiple choice questions (with answers) about")


@needs_data
def test_korean_tasks_load_with_lm_eval_prompts():
    spec = get_spec("kobest_copa")
    docs, _ = load_task(spec)
    assert len(docs) == 1000
    it = build_items(spec, docs, 1)[0]
    assert it.contexts[0] == "새로 산 바지의 허리가 컸다.  그래서"
    assert it.continuations == (" 바지의 밑단을 잘랐다.", " 벨트를 바지에 끼워 사이즈를 조절했다.")
    assert it.gold == 1
    boolq = build_items(get_spec("kobest_boolq"), load_task(get_spec("kobest_boolq"))[0], 1)[0]
    assert boolq.contexts[0].endswith("질문: 콜라독립 815는 코카콜라에서 만들었나요? 답변: ")
    assert boolq.continuations == (" 아니오", " 예") and boolq.gold == 0
    for name in ("kobest_hellaswag", "kobest_sentineg", "kobest_wic", "kmmlu_sample", "haerae_sample",
                 "ko_commongen_v2", "click", "kornli"):
        docs, _ = load_task(get_spec(name))
        assert docs and all(0 <= d["gold"] < len(d["choices"]) for d in docs), name


@needs_data
def test_hellaswag_truthfulqa_and_winogrande_shapes():
    hs = load_task(get_spec("hellaswag"))[0]
    assert len(hs) == 10042 and all(len(d["choices"]) == 4 for d in hs)
    tq = load_task(get_spec("truthfulqa_mc2"))[0]
    assert len(tq) == 817 and tq[0]["gold"][0] == 1
    item = build_items(get_spec("truthfulqa_mc2"), tq, 1)[0]
    assert item.contexts[0].startswith("Q: What is human life expectancy in the United States?\nA: Human")
    assert item.contexts[0].endswith("\n\nQ: What is the smallest country in the world that is at least one "
                                     "square mile in area?\nA:")
    wg = build_items(get_spec("winogrande"), load_task(get_spec("winogrande"))[0], 1)[0]
    assert wg.contexts == ("Sarah was a much better surgeon than Maria so Sarah",
                           "Sarah was a much better surgeon than Maria so Maria")
    assert wg.continuations == (" always got the easier cases.",) * 2 and wg.gold == 1


def test_metrics_follow_lm_eval_definitions():
    lls = [-10.0, -12.0, -30.0]
    choices = ["short", "a much longer answer", "x"]
    s = item_scores(lls, choices, 1, ["acc", "acc_norm"])
    assert s == {"acc": 0.0, "acc_norm": 1.0}  # -12/20 > -10/5
    mc2 = item_scores([-1.0, -2.0, -1.5, -3.0], ["a", "b", "c", "d"], [1, 1, 0, 0], ["mc2"])["mc2"]
    expected = (math.exp(-1) + math.exp(-2)) / (math.exp(-1) + math.exp(-2) + math.exp(-1.5) + math.exp(-3))
    assert mc2 == pytest.approx(expected, abs=1e-12)
    agg = aggregate([{"acc": 1.0}, {"acc": 0.0}, {"acc": 1.0}, {"acc": 1.0}], ["acc"])
    assert agg["acc"] == 0.75
    assert agg["acc_stderr"] == pytest.approx(0.25, abs=1e-12)  # std(ddof=1)=0.5, / sqrt(4)
    assert mean_stderr([1.0]) is None
    assert macro_f1([(0, 0), (1, 1), (1, 0), (0, 0)]) == pytest.approx((0.8 + 2 / 3) / 2)


def test_custom_task_yaml_roundtrip(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": "mine", "metrics": ["acc", "acc_norm"]}), encoding="utf-8")
    spec = load_spec_file(path)
    assert spec.name == "mine" and [m.name for m in spec.metrics] == ["acc", "acc_norm"]
    assert "mine" in all_specs(tmp_path)
