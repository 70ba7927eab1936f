"""A shop's catalog: reading products and items, storing them, price filters, search and its reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.apps.commerce.catalog import CatalogStore, Item, Product, open_catalog, read_catalog
from inhouse.apps.commerce.reviews import Aspect, Review, ReviewStore, reviews_if_any
from inhouse.apps.commerce.search import ANY, CatalogSearch, Query, QueryReader
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.models.chat import ScriptedChat
from inhouse.models.embedders import HashEmbedder
from tests.forms import FormModel

CSV = """상품id,상품명,옵션id,가격,재고,색상,옵션
p1,공기청정기,a1,"520,000",있음,화이트,사용 공간: 소형; 기능: 저소음 운전
p1,공기청정기,a2,480000,품절,블랙,사용 공간: 대형; 기능: 스마트 센서
p2,무선 이어폰,e1,250000,3,블랙,방수: IPX7
p2,무선 이어폰,e2,190000,0,화이트,방수: IPX4
"""


def _catalog(tmp_path: Path) -> CatalogStore:
    products = [Product("vac", "Vacuum Cleaner"), Product("buds", "Wireless Earbuds"), Product("lamp", "Desk Lamp")]
    items = [
        Item("v1", "vac", 600.0, True, {"type": "robotic", "features": "cordless"}),
        Item("v2", "vac", 550.0, True, {"type": "upright", "features": "pet hair removal"}),
        Item("v3", "vac", 650.0, False, {"type": "canister", "features": "cordless"}),
        Item("b1", "buds", 250.0, True, {"color": "black", "water resistance": "IPX7"}),
        Item("b2", "buds", 230.0, True, {"color": "white", "water resistance": "IPX4"}),
        Item("l1", "lamp", 150.0, True, {"color": "black", "power source": "battery"}),
        Item("l2", "lamp", 140.0, True, {"color": "white", "power source": "USB"}),
    ]
    store = CatalogStore(tmp_path / "catalog.sqlite")
    store.add(products, items)
    return store


def test_rows_with_korean_headers_become_products_items_and_options(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(CSV, encoding="utf-8")
    products, items = read_catalog(path)
    assert [(p.product_id, p.name) for p in products] == [("p1", "공기청정기"), ("p2", "무선 이어폰")]
    a1 = items[0]
    assert (a1.item_id, a1.price, a1.available) == ("a1", 520000.0, True)
    assert a1.options == {"색상": "화이트", "사용 공간": "소형", "기능": "저소음 운전"}
    assert [it.available for it in items] == [True, False, True, False]
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_text(json.dumps({"name": "Lamp", "sku": "l1", "price": "$12.50", "options": {"color": "black"}})
                     + "\n", encoding="utf-8")
    (p,), (it,) = read_catalog(jsonl)
    assert (p.name, it.item_id, it.price, it.options) == ("Lamp", "l1", 12.5, {"color": "black"})


def test_the_tau_json_shape_reads(tmp_path):
    path = tmp_path / "products.json"
    path.write_text(json.dumps({"9": {"name": "Grill", "product_id": "9", "variants": {
        "1": {"item_id": "1", "options": {"type": "gas"}, "available": True, "price": 924.5},
        "2": {"item_id": "2", "options": {"type": "charcoal"}, "available": False, "price": 990}}}}))
    products, items = read_catalog(path)
    assert products == [Product("9", "Grill")]
    assert [(i.item_id, i.options["type"], i.available, i.price) for i in items] == [
        ("1", "gas", True, 924.5), ("2", "charcoal", False, 990.0)]


@pytest.mark.parametrize("text, message", [
    ("name,price\nLamp,cheap\n", "row 2: price 'cheap' is not a number"),
    ("name,price\n,10\n", "row 2: no product name"),
    ("product_id,name,sku\np,Lamp,x\np,Desk Lamp,y\n", "row 3: product 'p' is named 'Desk Lamp' here"),
    ("name,sku\nLamp,x\nLamp,x\n", "item id 'x' appears twice"),
    ("name,options\nLamp,color black\n", "has no ':'"),
    ("name,stock\nLamp,maybe\n", "stock 'maybe'"),
    ("name,price\n", "no items found"),
    ("name,price\nLamp,NaN\n", "row 2: price 'NaN' is not a number"),
])
def test_a_bad_catalog_is_refused_by_row_and_nothing_is_stored(tmp_path, text, message):
    store = _catalog(tmp_path)
    before = store.count()
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        store.add(*read_catalog(path))
    assert store.count() == before
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(InputError, match="catalogs are read from"):
        read_catalog(tmp_path / "x.pdf")
    with pytest.raises(NotFoundError):
        read_catalog(tmp_path / "missing.csv")


def test_a_json_catalog_keys_products_by_their_ids_and_names_a_bad_variant(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"lamp-1": {"name": "Lamp", "variants": {"x": {"price": 1}}}}))
    (p,), (it,) = read_catalog(path)
    assert (p.product_id, it.product_id, it.item_id) == ("lamp-1", "lamp-1", "x")
    path.write_text(json.dumps([{"name": "Lamp", "variants": {"x": {"price": 1}}}]))
    with pytest.raises(InputError, match="no product_id"):
        read_catalog(path)
    path.write_text(json.dumps({"p": {"name": "Lamp", "variants": {"x": "cheap"}}}))
    with pytest.raises(InputError, match="product 1 item x: a variant is an object"):
        read_catalog(path)


def test_add_updates_items_and_replace_starts_over(tmp_path):
    store = _catalog(tmp_path)
    counts = store.add([Product("vac", "Vacuum Cleaner")], [Item("v1", "vac", 599.0, True, {"type": "robotic"})])
    assert counts == {"products": 1, "items": 1, "new_items": 0}
    assert next(i for i in store.items() if i.item_id == "v1").price == 599.0
    store.add([Product("x", "Kettle")], [Item("k1", "x", 10.0)], replace=True)
    assert store.count() == (1, 1)


def test_a_damaged_catalog_names_the_command_that_rebuilds_it(tmp_path):
    path = tmp_path / "catalog.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="inhouse commerce catalog add"):
        CatalogStore(path)


@pytest.mark.parametrize("query, text, lo, hi", [
    ("waterproof boots under $200", "waterproof boots", None, 200.0),
    ("headphones $100-$250", "headphones", 100.0, 250.0),
    ("a desk lamp over $1.5k", "a desk lamp", 1500.0, None),
    ("무선 이어폰 30만원 이하", "무선 이어폰", None, 300_000.0),
    ("공기청정기 50만원 이상", "공기청정기", 500_000.0, None),
    ("청소기 10만원대", "청소기", 100_000.0, 199_999.0),
    ("텀블러 $30 이하", "텀블러", None, 30.0),
    ("quiet air purifier", "quiet air purifier", None, None),
    ("$50-$100 keyboard", "keyboard", 50.0, 100.0),  # the k of "keyboard" is not "thousand"
    ("under $150 kids boots", "kids boots", None, 150.0),
    ("$100-$50 lamp", "lamp", 50.0, 100.0),  # reversed bounds mean between them
    ("3만5천원 이하 이어폰", "이어폰", None, 35_000.0),
    ("15만원대 청소기", "청소기", 150_000.0, 159_999.0),
    ("1,300,000원 이하 노트북", "노트북", None, 1_300_000.0),
    ("1" + "0" * 400 + "원대", "", None, None),  # no price at all, not an error
])
def test_price_bounds_are_read_in_korean_and_english(query, text, lo, hi):
    q = Query.parse(query)
    assert (q.text, q.min_price, q.max_price) == (text, lo, hi)


def test_search_finds_the_product_the_named_value_and_keeps_the_price_bound(tmp_path):
    engine = CatalogSearch(_catalog(tmp_path), HashEmbedder())
    q, hits = engine.search("cordless vacuum cleaner", k=3)
    assert [h.item.item_id for h in hits][:2] == ["v1", "v3"]  # in stock first among equals
    assert {"source": "spec", "option": "features", "value": "cordless", "by": "word"} in hits[0].why
    q, hits = engine.search("wireless earbuds under $240", k=5)
    assert q.max_price == 240.0 and hits and all(h.item.price <= 240 for h in hits)
    assert hits[0].item.item_id == "b2"
    with pytest.raises(InputError, match="empty query"):
        engine.search("  ")
    with pytest.raises(InputError, match="unknown search method"):
        engine.search("lamp", method="magic")


def test_the_model_reading_picks_the_product_and_values_under_enums(tmp_path):
    model = FormModel({"product": "Wireless Earbuds"}, {"color": ANY, "water resistance": "IPX7"})
    engine = CatalogSearch(_catalog(tmp_path), HashEmbedder(), reader=QueryReader(model))
    _, hits = engine.search("earbuds I can swim with", k=2)
    assert hits[0].item.item_id == "b1"
    assert {"source": "spec", "option": "water resistance", "value": "IPX7", "by": "model"} in hits[0].why
    product_form, option_form = model.schemas
    assert "Wireless Earbuds" in product_form["properties"]["product"]["enum"]
    assert option_form["properties"]["water resistance"]["enum"] == ["IPX7", "IPX4", ANY]
    # The same query again is read from the cache, not by the model.
    engine.search("earbuds I can swim with", k=2)
    assert len(model.schemas) == 2
    with pytest.raises(InputError, match="cannot constrain"):
        QueryReader(ScriptedChat())


def test_reviews_raise_a_product_whose_reviewers_praise_what_the_query_asks(tmp_path):
    reviews = ReviewStore(tmp_path / "reviews.sqlite")
    reviews.add([Review("r1", "lamp", "glow is soft"), Review("r2", "lamp", "lovely glow"),
                 Review("r3", "buds", "the glow hurts")])
    reviews.set_aspects([Aspect("glow", frozenset({"glow"}))])
    with reviews.transaction() as c:  # analysed by hand: the classifier is tested with the reviews
        for rid, pol in (("r1", "positive"), ("r2", "positive"), ("r3", "negative")):
            c.execute("INSERT INTO mentions VALUES (?, 0, 4, 'glow', ?, 0.9)", (rid, pol))
    assert reviews.aspect_counts() == {"lamp": {"glow": (2, 0, ["r1", "r2"])}, "buds": {"glow": (0, 1, ["r3"])}}
    assert sorted(reviews.opinions()) == [("r1", "positive"), ("r2", "positive"), ("r3", "negative")]
    assert reviews.mention_count() == 3
    store = _catalog(tmp_path)
    _, plain = CatalogSearch(store, HashEmbedder()).search("soft glow", k=7)
    _, hits = CatalogSearch(store, HashEmbedder(), reviews=reviews).search("soft glow", k=7)
    lamp = [h for h in hits if h.product.product_id == "lamp"]
    assert {"source": "reviews", "aspect": "glow", "positive": 2, "negative": 0, "reviews": ["r1", "r2"]} in lamp[0].why
    bonus = {h.item.item_id: h.score for h in hits}
    before = {h.item.item_id: h.score for h in plain}
    assert bonus["l1"] - before["l1"] == pytest.approx(0.5)  # (2 − 0) / (2 + 0 + 2)
    assert bonus["b1"] - before["b1"] == pytest.approx(-1 / 3)


def test_a_shops_catalog_folder_and_file_are_private(inhouse_home):
    store = open_catalog("shop", create=True)
    store.close()
    folder = inhouse_home / "commerce" / "shop"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "catalog.sqlite").stat().st_mode & 0o777 == 0o600
    assert reviews_if_any("shop") is None
