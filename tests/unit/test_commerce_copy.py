"""Product copy: each sentence checked against the item's spec, unsupported ones removed, a spec line for the rest."""

from __future__ import annotations

import pytest

from inhouse.apps.commerce.catalog import Item, Product
from inhouse.apps.commerce.copy import check, checked, features_of, siblings_of, write_copy
from inhouse.errors import InputError
from inhouse.models.chat import ScriptedChat

BUDS = Product("p", "Wireless Earbuds")
ITEMS = [Item("e1", "p", 249.5, True, {"color": "black", "battery life": "8 hours", "water resistance": "IPX7"}),
         Item("e2", "p", 226.0, True, {"color": "white", "battery life": "4 hours", "water resistance": "IPX4"})]
SIB = siblings_of(ITEMS, "p")
KO = Product("k", "무선 이어폰")
KO_ITEM = Item("k1", "k", 324400.0, True, {"색상": "블랙", "배터리 사용시간": "8시간"})
KO_SIB = {"색상": ["블랙", "화이트"], "배터리 사용시간": ["8시간", "4시간"]}


def rules(sentence, product, item, siblings, features=()):  # noqa: ANN001, ANN201
    """The number, sibling and feature rules alone (the support share is tested apart)."""
    return check(sentence, product, item, siblings, features, min_support=0.0)


def test_numbers_and_values_not_in_the_spec_are_named():
    e1 = ITEMS[0]
    assert rules("Up to 8 hours of music, sealed to IPX7.", BUDS, e1, SIB) == []
    assert rules("Only $249.50.", BUDS, e1, SIB) == []
    assert rules("It charges in 2 hours.", BUDS, e1, SIB) == ["the number 2 is not in the spec"]
    assert rules("A crisp white finish.", BUDS, e1, SIB) == ["says 'white', but this item's color is 'black'"]
    assert rules("Splash-proof to IPX4.", BUDS, e1, SIB) == ["says 'IPX4', but this item's water resistance is 'IPX7'"]
    # Korean: substrings, and "만 원" read as a number.
    assert rules("블랙 색상에 8시간 재생, 5분 충전.", KO, KO_ITEM, KO_SIB) == ["the number 5 is not in the spec"]
    assert rules("324,400원에 만나보세요.", KO, KO_ITEM, KO_SIB) == []
    assert rules("32.44만 원이에요.", KO, KO_ITEM, KO_SIB) == []
    assert rules("화이트 색상이 멋져요.", KO, KO_ITEM, KO_SIB) == ["says '화이트', but this item's 색상 is '블랙'"]
    red = {"색상": ["블랙", "레드"], "배터리 사용시간": ["8시간"]}  # two syllables are a claim too
    assert rules("레드 색상이에요.", KO, KO_ITEM, red) == ["says '레드', but this item's 색상 is '블랙'"]
    speaker = Product("s", "블루투스 스피커")
    assert rules("블루투스 스피커는 블랙이에요.", speaker, KO_ITEM, {"색상": ["블랙", "블루"]}) == []


def test_another_products_feature_is_not_claimed_unless_the_spec_states_it():
    items = [*ITEMS, Item("v", "vac", 500.0, True, {"features": "cordless"}), Item("w", "vac", 500.0, True,
                                                                                   {"features": "HEPA filter"})]
    feats = features_of(items, "p")
    assert feats == ["HEPA filter", "cordless"]
    assert rules("Cordless freedom with 8 hours of play.", BUDS, ITEMS[0], SIB, feats) == [
        "names 'cordless', which this item's spec does not state"]
    assert rules("Black, light and ready.", BUDS, ITEMS[0], SIB, ["light", "black"]) == []


def test_a_sibling_value_inside_the_items_own_is_the_items():
    items = [Item("a", "r", 1.0, True, {"connectivity": "Wi-Fi"}), Item("b", "r", 1.0, True,
                                                                       {"connectivity": "Wi-Fi + Cellular"})]
    assert rules("Reads over Wi-Fi + Cellular anywhere.", Product("r", "E-Reader"), items[1],
                 siblings_of(items, "r")) == []


def test_a_sentence_that_says_mostly_what_the_spec_does_not_is_unsupported():
    e1 = ITEMS[0]
    assert check("Black earbuds with 8 hours of battery.", BUDS, e1, SIB) == []
    assert check("A premium option for those seeking high-quality audio.", BUDS, e1, SIB) == [
        "only 0% of its words are in the spec"]
    assert check("블랙 색상의 무선 이어폰입니다.", KO, KO_ITEM, KO_SIB) == []
    assert check("등산할 때도 안전하게 쓸 수 있어요.", KO, KO_ITEM, KO_SIB) == ["only 0% of its words are in the spec"]


def test_unsupported_sentences_go_and_a_spec_line_adds_what_is_left_out():
    draft = "Black earbuds with 8 hours of battery. They charge fully in 30 minutes. Also in white."
    c = checked(draft, BUDS, ITEMS[0], SIB, (), "en")
    assert [s.kept for s in c.sentences] == [True, False, False]
    assert c.mentioned == ["black", "8 hours"] and c.missing == ["IPX7"]
    assert c.text == "Black earbuds with 8 hours of battery. Spec: water resistance: IPX7."


def test_write_copy_asks_the_model_with_the_spec_and_checks_its_draft():
    model = ScriptedChat(replies=["블랙 색상의 무선 이어폰입니다. 배터리는 8시간 갑니다. 무게는 5g입니다."])
    c = write_copy(model, KO, KO_ITEM, KO_SIB, lang="ko", tone="친근하게")
    prompt = model.calls[0][-1]["content"]
    assert "- 색상: 블랙" in prompt and "Korean" in prompt and "친근하게" in prompt
    assert c.text == "블랙 색상의 무선 이어폰입니다. 배터리는 8시간 갑니다." and c.missing == []
    with pytest.raises(InputError, match="choose ko or en"):
        write_copy(model, KO, KO_ITEM, KO_SIB, lang="fr")
