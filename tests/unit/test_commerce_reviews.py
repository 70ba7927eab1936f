"""Review summaries: reading review files, clauses, aspects, the opinion classifier, the cached analysis."""

from __future__ import annotations

import json

import pytest

from inhouse.apps.commerce.reviews import (
    Aspect,
    Polarity,
    Review,
    ReviewStore,
    clauses,
    mentions,
    mine_aspects,
    read_reviews,
    star_examples,
    views,
)
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.models.embedders import HashEmbedder
from inhouse.text.analyze import analyze

GOOD = ["배터리가 오래 가요", "배터리 최고", "battery is great", "the battery lasts", "소리가 좋아요", "sound is great"]
BAD = ["배터리가 금방 닳아요", "배터리 최악", "battery died fast", "the battery is awful", "소리가 끊겨요",
       "sound is awful"]


def _spans(text: str) -> list[str]:
    return [text[a:b] for a, b in clauses(text, analyze([text])[0].sentences)]


def test_clauses_cut_at_contrast_in_korean_and_english():
    assert _spans("소리는 좋은데 배터리가 빨리 닳아요. 배송은 빨랐지만 포장이 엉망. 그런데 가격은 괜찮아요") == [
        "소리는 좋은데", "배터리가 빨리 닳아요.", "배송은 빨랐지만", "포장이 엉망.", "그런데 가격은 괜찮아요"]
    assert _spans("The screen is great, but the battery dies fast. Keys feel cheap; however the price is right.") == [
        "The screen is great,", "but the battery dies fast.", "Keys feel cheap;", "however the price is right."]
    assert _spans("하지만 가격이 싸요") == ["하지만 가격이 싸요"]  # a conjunction opens its clause
    long = "좋아요, " * 60
    assert all(len(s) <= 240 for s in _spans(long))


def test_aspects_mined_from_korean_nouns_and_english_nouns_after_determiners():
    texts = ["배터리가 오래 가요. 배송 빨라요", "배터리 별로. 배송 느림", "배송 좋아요 배터리 좋아요",
             "The battery is weak and the screen is dim", "I love the screen; the battery is fine",
             "the screens are bright, the battery lasts"]
    names = [a.name for a in mine_aspects(texts, min_reviews=2)]
    assert {"배터리", "배송", "battery", "screen"} <= set(names)
    assert "제품" not in names and "thing" not in names
    analysis = analyze(["The screens are dim but 배터리 is ok"])[0]
    found = mentions(analysis, (0, len(analysis.text)), [Aspect("screen", frozenset({"screen"})),
                                                          Aspect("배터리", frozenset({"배터리"}))])
    assert [(n, analysis.text[a:b]) for n, a, b in found] == [("screen", "screens"), ("배터리", "배터리")]


def test_views_mark_the_aspect_and_its_window():
    text = "one two three four five six battery seven eight nine ten eleven twelve"
    a = text.index("battery")
    marked, window = views(text, (0, len(text)), (a, a + 7), "battery")
    assert marked.startswith("battery: one two") and "[battery]" in marked
    assert window == "two three four five six [battery] seven eight nine ten eleven"


def test_polarity_trains_saves_loads_and_refuses_bad_labels(tmp_path):
    emb = HashEmbedder()
    pairs = [(t, t) for t in GOOD + BAD]
    head = Polarity(emb).fit(pairs, ["positive"] * 6 + ["negative"] * 6, c=10)
    got = [label for label, _ in head.predict([("battery is great", "battery is great"),
                                               ("battery is awful", "battery is awful")])]
    assert got == ["positive", "negative"]
    head.save(tmp_path / "p.json")
    again = Polarity.load(tmp_path / "p.json", emb)
    assert again.predict(pairs) == head.predict(pairs) and again.fingerprint() == head.fingerprint()
    with pytest.raises(InputError, match="unknown opinion label"):
        Polarity(emb).fit(pairs[:2], ["good", "positive"])
    with pytest.raises(InputError, match="positive and negative"):
        Polarity(emb).fit(pairs[:2], ["positive", "positive"])
    (tmp_path / "bad.json").write_text('{"embedder": "hash"}')
    with pytest.raises(InputError, match="not an opinion classifier"):
        Polarity.load(tmp_path / "bad.json", emb)
    other = json.loads((tmp_path / "p.json").read_text())
    (tmp_path / "e5.json").write_text(json.dumps({**other, "embedder": "e5-small"}))
    with pytest.raises(InputError, match="trained over embedder 'e5-small'"):
        Polarity.load(tmp_path / "e5.json", emb)
    with pytest.raises(StoreError, match="not trained"):
        Polarity(emb).predict(pairs)


def test_read_reviews_finds_columns_rescales_stars_and_names_bad_rows(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("리뷰,별점,상품\n배터리 좋아요,100,p1\n소리 별로,20,p1\n", encoding="utf-8")
    got = read_reviews(f, stars_max=100)
    assert [(r.product_id, r.stars, r.review_id) for r in got] == [("p1", 5.0, "p1:2"), ("p1", 1.0, "p1:3")]
    with pytest.raises(InputError, match="row 2: stars 100 is outside 0–5; pass --stars-max"):
        read_reviews(f)
    j = tmp_path / "r.jsonl"
    j.write_text(json.dumps({"body": "great sound", "rating": 5, "id": "a"}) + "\n" +
                 json.dumps({"body": "", "rating": 1, "id": "b"}) + "\n")
    with pytest.raises(InputError, match="row 2: no review text"):
        read_reviews(j, product="buds")
    j.write_text(json.dumps({"body": "great sound", "rating": 5, "id": "a"}) + "\n")
    assert read_reviews(j, product="buds")[0] == Review("a", "buds", "great sound", 5.0)
    with pytest.raises(InputError, match="no product id"):
        read_reviews(j)
    with pytest.raises(InputError, match="csv, .tsv, .jsonl or .xlsx"):
        read_reviews(tmp_path / "r.pdf")
    with pytest.raises(NotFoundError):
        read_reviews(tmp_path / "missing.csv")


def _head() -> Polarity:
    pairs = []
    for t in GOOD + BAD:
        word = next(w for w in ("배터리", "battery", "소리", "sound") if w in t)
        a = t.index(word)
        pairs.append(views(t, (0, len(t)), (a, a + len(word)), word))
    head = Polarity(HashEmbedder(), margin=0.0)
    return head.fit(pairs, ["positive"] * 6 + ["negative"] * 6, c=10)


def test_store_analyses_incrementally_and_quotes_exact_spans(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite")
    reviews = [Review("r1", "buds", "배터리가 오래 가요. 소리가 끊겨요", 4.0),
               Review("r2", "buds", "battery is great. But sound is awful", 2.0),
               Review("r3", "mouse", "the battery lasts", 5.0)]
    assert store.add(reviews) == {"new": 3, "changed": 0, "unchanged": 0}
    with pytest.raises(InputError, match="no aspects"):
        store.analyse(_head())
    store.set_aspects([Aspect("배터리", frozenset({"배터리"})), Aspect("battery", frozenset({"battery"})),
                       Aspect("소리", frozenset({"소리"})), Aspect("sound", frozenset({"sound"}))])
    assert store.pending() == 3
    with pytest.raises(StoreError, match="not analysed yet"):
        store.summary("buds")
    head = _head()
    assert store.analyse(head) == 3 and store.pending() == 0
    summary = store.summary("buds")
    by = {a.aspect: a for a in summary.aspects}
    assert summary.reviews == 2 and summary.stars == 3.0
    texts = {r.review_id: r.text for r in reviews}
    for a in summary.aspects:
        for q in [*a.pros, *a.cons]:
            assert texts[q.review_id][q.start:q.end] == q.text
    assert by["battery"].pros[0].text == "battery is great." and by["sound"].cons[0].text == "But sound is awful"
    # One review edited, one added: only those two are analysed again.
    assert store.add([Review("r2", "buds", "battery died fast", 1.0), Review("r4", "buds", "소리가 좋아요", 5.0),
                      reviews[0]]) == {"new": 1, "changed": 1, "unchanged": 1}
    assert store.pending() == 2 and store.analyse(head) == 2
    assert store.summary("buds").to_dict()["aspects"]
    with pytest.raises(NotFoundError, match="no reviews of product"):
        store.summary("nope")
    store.close()


def test_a_bad_file_adds_nothing_and_a_failed_batch_keeps_the_finished_ones(tmp_path):
    store = ReviewStore(tmp_path / "reviews.sqlite")
    store.add([Review("r1", "p", "배터리 좋아요", 5.0)])
    with pytest.raises(Exception):  # noqa: B017 - a NOT NULL violation mid-transaction
        store.add([Review("r2", "p", "소리 좋아요", 5.0), Review("r3", None, "x", 1.0)])  # type: ignore[arg-type]
    assert store.count() == 1

    class Broken(Polarity):
        calls = 0

        def predict(self, pairs):  # noqa: ANN001, ANN201
            Broken.calls += 1
            if Broken.calls > 1:
                raise RuntimeError("embedder crashed")
            return super().predict(pairs)

    head = _head()
    broken = Broken(head.embedder, head.classes, head.weights, head.bias, margin=head.margin)
    store.add([Review(f"x{i}", "p", f"배터리 좋아요 {i}", 5.0) for i in range(5)])
    store.set_aspects([Aspect("배터리", frozenset({"배터리"}))])
    with pytest.raises(RuntimeError):
        store.analyse(broken, batch=2)
    assert store.pending() == 4  # the first batch of two stays analysed
    assert store.analyse(head) == 4  # the same classifier: the rest only
    assert store.analyse(head) == 0
    assert store.analyse(Polarity(head.embedder, head.classes, head.weights, head.bias, margin=0.3)) == 6  # another
    store.close()


def test_star_examples_label_mentions_by_the_reviewers_stars():
    reviews = [Review("a", "p", "배터리 좋아요", 5.0), Review("b", "p", "배터리 별로", 1.0),
               Review("c", "p", "배터리 그럭저럭", 3.0)]
    x, y = star_examples(reviews, [Aspect("배터리", frozenset({"배터리"}))])
    assert sorted(y) == ["negative", "positive"] and all("[배터리]" in m for m, _ in x)


def test_a_damaged_store_file_says_what_it_is_and_how_to_rebuild_it(tmp_path):
    from inhouse.apps.commerce.orders import OrderDB

    for cls, what, fix in ((ReviewStore, "review database", "inhouse commerce reviews add"),
                           (OrderDB, "order database", "inhouse commerce load")):
        bad = tmp_path / f"{cls.__name__}.sqlite"
        bad.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(StoreError, match=what) as e:
            cls(bad)
        assert fix in str(e.value)
