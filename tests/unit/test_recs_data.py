"""Interaction/catalog parsing, id mapping and splits of the recommendation engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inhouse.apps.recommend import data as D
from inhouse.errors import InputError, NotFoundError


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_malformed_rows_reported_with_line_numbers_and_duplicates_counted_once(tmp_path: Path):
    p = write(
        tmp_path / "events.csv",
        "user,item,timestamp,event\n"
        "u1,a,100,view\n"
        "u1,b,200,purchase\n"
        ",c,300,view\n"  # line 4: empty user
        "u2,a,not-a-time,view\n"  # line 5: bad timestamp
        "u2,b\n"  # line 6: wrong field count
        "u1,a,100,view\n"  # line 7: exact duplicate of line 2
        "\n"
        "u2,c,2024-01-02T03:04:05Z,view\n",  # line 9: ISO time
    )
    inter, report = D.load_interactions(p)
    assert report.rows == 7 and report.accepted == 3
    assert report.duplicates == 1 and report.duplicate_lines == [7]
    assert report.malformed == 3
    assert [ln for ln, _ in report.malformed_lines] == [4, 5, 6]
    assert "timestamp" in report.malformed_lines[1][1]
    assert len(inter) == 3 and inter.n_users == 2 and inter.n_items == 3
    # The purchase weighs 3, a view 1.
    u1 = inter.user_ids.index("u1")
    w = {
        inter.item_ids[i]: float(x)
        for u, i, x in zip(inter.users, inter.items, inter.weights, strict=True)
        if u == u1
    }
    assert w == {"a": 1.0, "b": 3.0}


def test_repeats_merge_into_one_pair_at_first_time_with_summed_weight(tmp_path: Path):
    p = write(tmp_path / "e.csv", "user_id;product_id;ts;weight\nu;x;5;1\nu;y;6;2\nu;x;7;2.5\n")
    inter, report = D.load_interactions(p)
    assert report.merged_repeats == 1 and report.duplicates == 0
    assert [inter.item_ids[i] for i in inter.items] == ["x", "y"]  # x first (time 5), then y
    assert inter.weights.tolist() == [3.5, 2.0]


def test_jsonl_and_bad_weights(tmp_path: Path):
    p = write(
        tmp_path / "e.jsonl",
        '{"user": "u1", "item": "a", "timestamp": 1}\n'
        "{not json}\n"
        '{"user": "u1", "item": "b", "timestamp": 2, "weight": -1}\n'
        '["list"]\n'
        '{"user": "u2", "item": "a", "timestamp": 3, "weight": "2"}\n',
    )
    inter, report = D.load_interactions(p)
    assert report.accepted == 2
    assert [ln for ln, _ in report.malformed_lines] == [2, 3, 4]
    assert sorted(inter.weights.tolist()) == [1.0, 2.0]


def test_unusable_files_raise_clear_errors(tmp_path: Path):
    with pytest.raises(NotFoundError):
        D.load_interactions(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="user/item columns"):
        D.load_interactions(write(tmp_path / "a.csv", "who,what\n1,2\n"))
    with pytest.raises(InputError, match="no usable"):
        D.load_interactions(write(tmp_path / "b.csv", "user,item,timestamp\n,x,1\n"))
    with pytest.raises(InputError, match="empty"):
        D.load_interactions(write(tmp_path / "c.csv", ""))


def test_no_time_column_uses_file_order(tmp_path: Path):
    inter, report = D.load_interactions(write(tmp_path / "e.csv", "user,item\nu,b\nu,a\n"))
    assert report.time_from_order
    assert [inter.item_ids[i] for i in inter.items] == ["b", "a"]


def test_items_indexed_by_popularity_and_users_sorted_by_time():
    inter = D.from_arrays(
        np.array(["u1", "u2", "u2", "u3", "u1"]),
        np.array(["rare", "hit", "rare", "hit", "hit"]),
        np.array([5, 1, 2, 3, 1]),
    )
    assert inter.item_ids == ["hit", "rare"]  # 3 users vs 2
    u1 = inter.user_ids.index("u1")
    seq = inter.items[inter.indptr[u1] : inter.indptr[u1 + 1]]
    assert [inter.item_ids[i] for i in seq] == ["hit", "rare"]  # by time: hit@1 then rare@5


def test_leave_last_out_and_temporal_split():
    users = np.array(["a"] * 4 + ["b"] * 1 + ["c"] * 3)
    items = np.array(["1", "2", "3", "4", "1", "2", "3", "5"])
    ts = np.array([1, 2, 3, 10, 1, 2, 9, 11])
    inter = D.from_arrays(users, items, ts)
    s = D.leave_last_out(inter)
    got = {inter.user_ids[u]: inter.item_ids[i] for u, i in zip(s.test_users, s.test_items, strict=True)}
    assert got == {"a": "4", "c": "5"}  # b has a single pair: train only
    assert len(s.train) == len(inter) - 2
    t = D.temporal_split(inter, test_fraction=0.2)
    held = sorted(
        (inter.user_ids[u], inter.item_ids[i]) for u, i in zip(t.test_users, t.test_items, strict=True)
    )
    assert held == [("a", "4"), ("c", "5")]
    assert t.train.ts.max() < 10
    with pytest.raises(InputError):
        D.temporal_split(inter, 1.5)


def test_catalog_text_skips_ids_and_numbers(tmp_path: Path):
    p = write(
        tmp_path / "items.csv",
        "sku,name,price,category\nA1,Oslo sofa,890000,living room\nA1,dup,1,x\n,nameless,1,x\n",
    )
    cat = D.load_catalog(p)
    assert cat.texts == {"A1": "Oslo sofa living room"}
    assert cat.report.duplicates == 1 and cat.report.malformed_lines[0][0] == 4


def test_duplicates_need_the_same_time_and_event_type(tmp_path: Path):
    p = write(
        tmp_path / "e.csv",
        "user,item,timestamp,event\n"
        "u,a,1,view\n"
        "u,a,1,purchase\n"  # same time, other event: kept
        "u,a,2,view\n"  # other time: kept (a repeat, merged into the pair)
        "u,a,1,view\n"  # line 5: duplicate of line 2
        "u,a,1,view\n",  # line 6: duplicate of line 2
    )
    inter, report = D.load_interactions(p)
    assert report.duplicates == 2 and report.duplicate_lines == [5, 6] and report.accepted == 3
    assert report.merged_repeats == 2 and len(inter) == 1 and inter.weights.tolist() == [1.0 + 3.0 + 1.0]
