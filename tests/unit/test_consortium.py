"""The consortium's parts: cleaning, MinHash near-duplicates, revenue shares, the hash-chained ledger, contributions
and withdrawals, exports, and the copy filter."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from inhouse.consortium import Cleaner, CopyFilter, MinHasher, NearDuplicates, open_consortium, revenue_shares
from inhouse.consortium.clean import language, repeated_share, symbol_share
from inhouse.consortium.contribute import contribute, export, read_texts
from inhouse.consortium.dedup import similarity
from inhouse.consortium.filter import squeeze
from inhouse.errors import InputError, NotFoundError, StoreError

REVIEW = "커스틴 던스트가 정말 밉상으로 나온다. 덕분에 그녀가 나온 다른 영화들마저 보기 싫어질 정도다."


def words(text: str) -> int:  # a stand-in token count for unit tests (the CLI counts with the model's vocabulary)
    return len(text.split())


def test_cleaning_keeps_prose_and_says_why_it_drops_the_rest():
    clean = Cleaner()
    kept = clean("  연락처는 010-1234-5678 입니다. " + REVIEW)
    assert kept.kept and kept.lang == "ko" and kept.pii == 1 and "010-1234-5678" not in kept.text
    assert "[PHONE]" in kept.text
    assert clean("좋아요").reason.startswith("too short")
    assert clean("ㅋ" * 60).reason.startswith("repetitive")
    assert clean("#$%^&*@!~+=|<>" * 2 + "★☆♥♡◆◇■□▲△" + REVIEW[:20]).reason.startswith("symbols")
    assert clean("Это очень хороший фильм, я смотрел его дважды и ещё посмотрю").reason.startswith("language other")
    assert language("A fine English sentence.") == "en" and language("1234") == "other"
    assert repeated_share(REVIEW) == 0.0 and symbol_share(REVIEW) == 0.0


def _jaccard(a: str, b: str, k: int = 5) -> float:
    sa, sb = ("".join(ch for ch in t.casefold() if ch.isalnum()) for t in (a, b))
    ga, gb = ({s[i: i + k] for i in range(len(s) - k + 1)} for s in (sa, sb))
    return len(ga & gb) / len(ga | gb)


def test_signatures_estimate_jaccard_and_survive_small_edits():
    hasher = MinHasher()
    edits = [REVIEW.replace("덕분에 ", ""), REVIEW.replace("정말 ", "아주 "), REVIEW[: len(REVIEW) // 2],
             "어른들이 살아온 시대의 사고방식으로 아이들에게 답지를 줄 수 없다."]
    sigs = hasher.signatures([REVIEW, *edits])
    for text, sig in zip(edits, sigs[1:], strict=True):  # 128 permutations: within ±0.15 of the true value
        assert abs(similarity(sigs[0], sig) - _jaccard(REVIEW, text)) < 0.15
    # A batch gives each text the signature it has alone (no shingle straddles two texts).
    assert all(np.array_equal(hasher.signatures([t])[0], sig) for t, sig in zip([REVIEW, *edits], sigs,
                                                                               strict=True))
    assert np.array_equal(hasher.signatures(["짧다"])[0], hasher.signatures(["짧 다!"])[0])
    spaced = hasher.signatures([REVIEW.replace(" ", "")])[0]
    assert similarity(sigs[0], spaced) == 1.0  # spacing and punctuation do not count
    index = NearDuplicates(hasher, threshold=0.5)
    index.add([7], sigs[:1])
    assert index.match(sigs[1])[0] == 7 and index.match(sigs[4]) is None
    # A batch decides in order: the edit of 7 matches 7; the unrelated text is kept, and its own edit matches it.
    other = hasher.signatures([edits[3], edits[3].replace("아이들에게", "어린이들에게")])
    batch = np.vstack([sigs[1], other])
    assert [m and m[0] for m in index.assign([10, 11, 12], batch)] == [7, None, 11]
    assert index.match(other[0])[0] == 11 and len(index) == 2
    assert MinHasher(unit="word").signatures([REVIEW, "두 단어"]).shape == (2, 128)


def test_revenue_shares_sum_exactly_and_reproduce():
    shares = revenue_shares({"a": 1, "b": 1, "c": 1}, 100)
    assert shares == {"a": 34, "b": 33, "c": 33} and sum(shares.values()) == 100
    assert revenue_shares({"a": 3, "b": 0}, 10) == {"a": 10, "b": 0}
    assert revenue_shares({"a": 0}, 10) == {"a": 0}
    big = {f"p{i}": i * 7919 for i in range(1, 50)}
    assert sum(revenue_shares(big, 1_000_000).values()) == 1_000_000
    assert revenue_shares(big, 1_000_000) == revenue_shares(dict(reversed(big.items())), 1_000_000)


def _file(tmp: Path, name: str, texts: list[str]) -> Path:
    path = tmp / name
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "review"])
        w.writerows([i, t] for i, t in enumerate(texts))
    return path


def test_contributions_dedup_across_partners_and_credit_the_earliest(tmp_path: Path):
    db = open_consortium(tmp_path, create=True)
    assert oct((tmp_path / "consortium").stat().st_mode & 0o777) == "0o700"
    a = contribute(db, "press", _file(tmp_path, "a.csv", [REVIEW, "좋아요", REVIEW]), words)
    assert (a["kept"], a["duplicate"], a["filtered"]) == (1, 1, 1)
    near = REVIEW.replace("정말 ", "").replace("정도다", "정도였다")
    b = contribute(db, "shop", _file(tmp_path, "b.csv", [REVIEW.replace(" ", ""), near, "전혀 다른 이야기를 하는 "
                                                            "새 리뷰입니다. 배우들의 연기가 훌륭했고 음악도 좋았다."]),
                   words)
    assert (b["kept"], b["duplicate"], b["near-duplicate"]) == (1, 1, 1)
    decisions = [(t["decision"], t["dup_of"]) for t in db.texts(b["id"])]
    first = db.texts(a["id"])[0]["id"]
    assert decisions[:2] == [("duplicate", first), ("near-duplicate", first)]
    assert "estimated Jaccard" in db.texts(b["id"])[1]["reason"]
    with pytest.raises(InputError, match="already contribution"):
        contribute(db, "shop", tmp_path / "b.csv", words)

    report = db.report("2099-12", 1_000_000)
    assert [p["partner"] for p in report["partners"]] == ["press", "shop"]
    assert sum(p["revenue"] for p in report["partners"]) == 1_000_000
    assert db.report("2099-12", 1_000_000) == report  # the same ledger, the same report
    assert json.dumps(db.report("2099-12", 1_000_000)) == json.dumps(report)

    withdrawn = db.withdraw("press")
    assert withdrawn[0]["tokens"] == a["tokens"]
    after = db.report("2099-12", 1_000_000)
    assert {p["partner"]: p["revenue"] for p in after["partners"]} == {"press": 0, "shop": 1_000_000}
    assert [r["partner"] for r in db.training_texts()] == ["shop"]
    with pytest.raises(NotFoundError):
        db.withdraw("press")
    with pytest.raises(InputError, match="YYYY-MM"):
        db.report("December", 10)
    db.close()


def test_the_ledger_is_append_only_and_chained(tmp_path: Path):
    db = open_consortium(tmp_path, create=True)
    contribute(db, "press", _file(tmp_path, "a.csv", [REVIEW]), words)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db._conn.execute("UPDATE ledger SET tokens = 999")
    db._conn.execute("DROP TRIGGER ledger_no_update")  # what a raw SQLite client could do
    db._conn.execute("UPDATE ledger SET tokens = 999")
    with pytest.raises(StoreError, match="broken at row 1"):
        db.report("2099-12", 100)
    db.close()


def test_export_writes_shards_with_provenance(tmp_path: Path):
    db = open_consortium(tmp_path, create=True)
    texts = ["첫 번째 리뷰입니다. 이 영화는 정말 재미있었고 배우들의 연기가 좋았다.",
             "두 번째는 음악 이야기. 영화음악이 장면마다 귀에 남아서 사운드트랙을 샀다.",
             "세 번째: 각본이 엉성해서 후반부로 갈수록 지루했고 결말도 허무했다.",
             "네 번째 관객으로서 말하면, 극장 좌석이 불편해서 집중하기 어려웠어요.",
             "다섯째, 아이와 함께 봤는데 아이가 무서워해서 중간에 나왔습니다."]
    contribute(db, "press", _file(tmp_path, "a.csv", texts), words)
    manifest = export(db, tmp_path / "out", shard_texts=2)
    assert [s["texts"] for s in manifest["shards"]] == [2, 2, 1] and manifest["partners"] == ["press"]
    first = json.loads((tmp_path / "out" / "consortium-00000.jsonl").read_text("utf-8").splitlines()[0])
    assert first["partner"] == "press" and first["source"] == "a.csv" and first["text"].startswith("첫 번째")
    db.close()


def test_a_table_without_a_text_column_names_its_columns(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("id,stars\n1,5\n", "utf-8")
    with pytest.raises(InputError, match="columns: id, stars"):
        read_texts(path)
    path.write_text("id,body_ko\n1,본문입니다\n", "utf-8")
    assert read_texts(path, "body_ko") == ["본문입니다"]


def test_the_copy_filter_catches_copies_of_fifty_characters_and_no_less():
    source = ("어른들이 살아온 시대의 사고방식, 관념, 기준으로 아이들에게 이것이 최고의 인생이다 하는 답지를 "
              "줄 수 없다. 이렇게 살아야 바른 길이라고 지시할 수 있다는 생각은 오만이다.")
    f = CopyFilter(min_chars=50)
    f.add([(1, source), (2, REVIEW)])
    copied = "답변: " + source[10:80].replace(" ", "  ") + " 입니다."  # re-spaced: still a copy
    catch = f.check(copied)
    assert catch is not None and catch.text_id == 1 and catch.length >= 50
    short = source[:45]  # 45 characters with spaces: fewer than 50 without them
    assert f.check("답변: " + short) is None
    assert f.check("전혀 관계없는 답변입니다. " * 5) is None
    squeezed = squeeze(source)  # letters and digits: what a copy's length counts
    for start in range(len(squeezed) - 49):  # any 50-character copy of the source is caught, wherever it starts
        s = squeezed[start: start + 50]
        assert f.check(f"앞 {s} 뒤").length >= 50
    hidden = "\u200b".join(source[20:90]).replace(" ", "-")  # zero-width characters, words joined by hyphens
    assert f.check(hidden) is not None


def test_a_withdrawal_is_debited_once_and_the_ledger_matches_the_contributions(tmp_path: Path):
    db = open_consortium(tmp_path, create=True)
    contribute(db, "press", _file(tmp_path, "a.csv", [REVIEW]), words)
    db.withdraw("press")
    with pytest.raises(NotFoundError):
        db.withdraw("press")  # a second request finds nothing left to withdraw: no second debit
    assert [r["event"] for r in db.ledger()] == ["credit", "withdraw"]
    db._conn.execute("UPDATE contributions SET withdrawn = NULL")  # back into exports, behind the ledger's back
    with pytest.raises(StoreError, match="does not match the ledger"):
        db.report("2099-12", 100)
    db.close()


def test_an_export_leaves_no_file_of_an_earlier_one(tmp_path: Path):
    db = open_consortium(tmp_path, create=True)
    texts = ["첫 번째 리뷰입니다. 이 영화는 정말 재미있었고 배우들의 연기가 좋았다.",
             "두 번째는 음악 이야기. 영화음악이 장면마다 귀에 남아서 사운드트랙을 샀다.",
             "세 번째: 각본이 엉성해서 후반부로 갈수록 지루했고 결말도 허무했다."]
    contribute(db, "press", _file(tmp_path, "a.csv", texts), words)
    export(db, tmp_path / "out", shard_texts=1, for_tune=True)
    assert len(list((tmp_path / "out").glob("consortium-*.jsonl"))) == 3
    db.withdraw("press")
    export(db, tmp_path / "out", shard_texts=1)
    assert list((tmp_path / "out").glob("*.jsonl")) == []  # the withdrawn texts' shards and examples are gone
    db.close()
