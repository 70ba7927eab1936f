"""Every number of a narrative traces to the result: values, totals, differences, changes and shares; a rise
said of a fall is removed; suggestions stay marked and are checked the same way; a suggestion citing the tenant's
documents is kept only when the passage it cites says it."""

from __future__ import annotations

import datetime as dt

from inhouse.apps.finance.narrate import check, narrate, stated_numbers
from inhouse.apps.finance.tables import Result
from inhouse.models.chat import ScriptedChat
from inhouse.types import Hit

MONTHS = Result("select …", ["month", "revenue"],
                [(dt.datetime(2011, 10, 1), 1039318.79), (dt.datetime(2011, 11, 1), 1161817.38)], False, 0.01)


def _verdicts(text: str) -> list[tuple[bool, bool]]:
    return [(s.kept, s.suggestion) for s in check(text, MONTHS, "10월과 11월 매출 비교")]


def test_numbers_stated_in_korean_and_english_forms():
    got = [(n.value, n.step, n.percent) for n in stated_numbers("52만 원, 3억, £8.2M, 12.3%, 1,234원으로")]
    assert got == [(520000.0, 10000.0, False), (3e8, 1e8, False), (8.2e6, 1e5, False), (12.3, 0.1, True),
                   (1234.0, 1.0, False)]


def test_values_and_one_step_derivations_are_supported():
    assert _verdicts("11월 매출은 1,161,817.38로 10월의 1,039,318.79보다 11.8% 증가했습니다.") == [(True, False)]
    assert _verdicts("November revenue was 1.16 million, up 122,498.59 from October.") == [(True, False)]
    assert _verdicts("Together the two months made 2.2 million; November was 52.8% of it.") == [(True, False)]


def test_unsupported_numbers_and_wrong_directions_are_removed():
    assert _verdicts("11월 매출은 150만을 넘었습니다.") == [(False, False)]
    fell = check("11월 매출은 10월보다 11.8% 감소했습니다.", MONTHS)
    assert not fell[0].kept and "is a rise in the result" in fell[0].reasons[0]
    assert _verdicts("Suggestion: raise prices by 10%.") == [(False, True)]  # a percentage is never a date part
    assert _verdicts("제안: 11월의 흐름을 12월 프로모션으로 이어가세요.") == [(True, True)]
    # A list's numbers are not claims; a suggestion may come as a list item.
    listed = "1. 11월 매출은 1,161,817.38입니다.\n2. **제안:** 재고를 늘리세요."
    assert _verdicts(listed) == [(True, False), (True, True)]


def test_the_model_writes_and_the_checks_decide():
    chat = ScriptedChat(replies=["11월 매출은 1,161,817.38입니다. 12월에는 200만이 예상됩니다. 제안: 재고를 늘리세요."])
    n = narrate(chat, "지난달 매출은?", MONTHS)
    assert n.text == "11월 매출은 1,161,817.38입니다." and n.suggestions == ["제안: 재고를 늘리세요."]
    removed = [s for s in n.sentences if not s.kept]
    assert len(removed) == 1 and "200만 is not in the result" in removed[0].reasons
    assert "한국어" not in chat.calls[0][0]["content"] and "제안:" in chat.calls[0][0]["content"]  # Korean prompt


RETURNS = Hit(7, "policies/returns.md", None, 1.0, "Customers may return any item within 30 days of delivery "
              "for a full refund. Orders over 50,000 won ship free.", heading_path=("Returns",))
BONUS = Hit(9, "policies/promotions.md", None, 0.5, "지난달 매출이 줄어든 매장은 다음 달에 10% 할인 쿠폰을 보낼 수 "
            "있습니다.", heading_path=("프로모션",))


def test_suggestions_cite_the_documents_they_rest_on():
    chat = ScriptedChat(replies=[
        "November revenue was 1,161,817.38. Suggestion: remind customers they may return any item within 30 days "
        "of delivery for a full refund. [1] Suggestion: give loyal customers a free gift [1]. "
        "Suggestion: orders over 50,000 won ship free, so promote bundles [3]. "
        "제안: 매출이 줄어든 매장은 다음 달에 10% 할인 쿠폰을 보낼 수 있습니다 [2]. "
        "Suggestion: offer 20% off returns [1]."])
    n = narrate(chat, "How did revenue change last month?", MONTHS, documents=[RETURNS, BONUS])
    got = [(s.text, s.cites, s.kept) for s in n.sentences]
    assert got == [
        ("November revenue was 1,161,817.38.", [], True),
        ("Suggestion: remind customers they may return any item within 30 days of delivery for a full refund. [1]",
         [1], True),  # its citation holds: as the model wrote it
        ("Suggestion: give loyal customers a free gift.", [], True),  # the model's own suggestion, not a policy's
        ("Suggestion: orders over 50,000 won ship free, so promote bundles[1].", [1], True),  # the passage saying it
        ("제안: 매출이 줄어든 매장은 다음 달에 10% 할인 쿠폰을 보낼 수 있습니다 [2].", [2], True),
        ("Suggestion: offer 20% off returns.", [], False)]
    notes = [s.notes for s in n.sentences]
    assert notes[2] == ["[1] removed: it does not say this"]
    assert notes[3] == ["[3] removed: not a passage given", "cites [1], the passage that says it"]
    assert n.sentences[5].reasons == ["20% is not in the result"]
    assert [c.to_dict()["doc_path"] for c in n.citations] == ["policies/returns.md", "policies/promotions.md"]
    prompt = chat.calls[0]
    assert "[1] (Returns) Customers may return" in prompt[1]["content"] and "its [n]" in prompt[0]["content"]
    # 30 is the passage's number, not the table's: the passage that says it gives it, cited or not.
    assert check("Suggestion: a 30 day return window. [1]", MONTHS, sources={1: RETURNS.text})[0].kept
    uncited = check("Customers may return any item within 30 days.", MONTHS, sources={1: RETURNS.text})[0]
    assert uncited.kept and uncited.cites == [1] and uncited.text.endswith("30 days[1].")
    assert not check("Suggestion: a 30 day return window.", MONTHS)[0].kept  # no documents: the table alone


def test_a_result_as_an_svg_chart():
    from xml.etree import ElementTree

    from inhouse.apps.finance.chart import chart_svg

    svg = chart_svg(MONTHS, "월별 매출")
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg") and svg.count("<polyline") == 1  # dates on x: a line
    bars = chart_svg(Result("…", ["country", "revenue", "orders"], [("UK", 10.0, 3), ("France", 4.0, 1)], False, 0),
                     "나라별 <매출>")
    assert bars.count("<rect") == 4 and "&lt;매출&gt;" in bars  # two series of labels: bars, text escaped
    assert chart_svg(Result("…", ["country"], [("UK",), ("FR",)], False, 0)) is None  # nothing to plot
