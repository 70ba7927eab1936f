"""bench/answers_pooled.py pools replayed samples and says where each answerable abstention comes from."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "answers_pooled", Path(__file__).resolve().parents[2] / "bench" / "answers_pooled.py")
pooled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pooled)


def _row(found=False, abstained=False, raw_found=False, gold_in_sources=True):
    return {"found": found, "abstained": abstained, "raw_found": raw_found, "gold_in_sources": gold_in_sources}


def test_pool_counts_rates_and_sources_of_abstention():
    sample = {
        "ko": {"answerable": [_row(found=True, raw_found=True), _row(abstained=True, raw_found=True),
                              _row(abstained=True), _row(abstained=True, gold_in_sources=False)],
               "gold_removed": [_row(abstained=True, gold_in_sources=False), _row(gold_in_sources=False)]},
        "en": {"answerable": [_row(), _row(found=True)], "gold_removed": [_row(abstained=True)]},
    }
    other = {"ko": {"answerable": [_row(found=True, raw_found=True)], "gold_removed": [_row(abstained=True)]},
             "en": {"answerable": [_row(abstained=True, raw_found=True)], "gold_removed": [_row()]}}
    out = pooled.pool({1: {"items": sample}, 2: {"items": other}})
    ko = out["ko"]["answerable"]
    assert ko["n"] == 5 and ko["answer_recall"] == 0.4 and ko["abstention"] == 0.6
    assert ko["abstentions_by_source"] == {"right_draft_refused": 1, "wrong_draft_gold_shown": 1, "gold_not_shown": 1}
    assert ko["wrong_answers"] == 0
    assert out["ko"]["gold_removed"]["abstention"] == round(2 / 3, 3)
    assert out["en"]["answerable"]["wrong_answers"] == 1 and out["en"]["gold_removed"]["abstention"] == 0.5


def test_pool_leaves_out_rows_whose_sources_changed_since_their_draft():
    sample = {lang: {"answerable": [_row(found=True, raw_found=True), _row(abstained=True) | {"stale": True}],
                     "gold_removed": [_row(abstained=True, gold_in_sources=False) | {"stale": False}]}
              for lang in ("ko", "en")}
    out = pooled.pool({1: {"items": sample}})
    assert out["ko"]["answerable"]["n"] == 1 and out["ko"]["answerable"]["stale"] == 1
    assert out["ko"]["answerable"]["answer_recall"] == 1.0 and out["ko"]["answerable"]["abstention"] == 0.0
    assert out["en"]["gold_removed"] == {"n": 1, "stale": 0, "regenerated": 0, "answer_recall": 0.0,
                                         "raw_answer_recall": 0.0, "abstention": 1.0, "gold_in_sources": 0.0}


def test_pool_counts_redrafted_rows_in_the_rates():
    """--regenerate-stale: a row whose sources changed was drafted again, so it counts (and is reported)."""
    sample = {lang: {"answerable": [_row(found=True, raw_found=True) | {"regenerated": True}, _row(abstained=True)],
                     "gold_removed": [_row(abstained=True, gold_in_sources=False)]}
              for lang in ("ko", "en")}
    out = pooled.pool({1: {"items": sample}})
    ko = out["ko"]["answerable"]
    assert ko["n"] == 2 and ko["stale"] == 0 and ko["regenerated"] == 1 and ko["answer_recall"] == 0.5


def test_pool_holds_the_languages_replayed():
    sample = {"ko": {"answerable": [_row(found=True, raw_found=True)], "gold_removed": [_row(abstained=True)]}}
    assert list(pooled.pool({1: {"items": sample}, 2: {"items": sample}})) == ["ko"]


def test_each_language_is_pooled_over_the_samples_that_asked_it():
    both = {lang: {"answerable": [_row(found=True, raw_found=True)], "gold_removed": [_row(abstained=True)]}
            for lang in ("ko", "en")}
    korean = {"ko": {"answerable": [_row(abstained=True)], "gold_removed": [_row(abstained=True)]}}
    out = pooled.pool({1: {"items": both}, 2: {"items": korean}})
    assert out["ko"]["answerable"]["n"] == 2 and out["ko"]["answerable"]["answer_recall"] == 0.5
    assert out["en"]["answerable"]["n"] == 1 and out["en"]["answerable"]["answer_recall"] == 1.0


def test_langs_cut_each_samples_languages():
    samples, extra = pooled.replayed_samples(["--langs", "en", "--no-judge"])
    assert extra == ["--no-judge"] and 19 not in samples and samples[7][2] == "en"
    samples, _ = pooled.replayed_samples(["--langs", "ko"])
    assert samples[19][2] == "ko" and samples[7][2] == "ko" and len(samples) == len(pooled.RECORDED)
    assert pooled.replayed_samples(["--langs", "fr"])[0] == {}
