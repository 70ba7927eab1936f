from inhouse.verify import split_claims, support, verify

SOURCES = {
    1: "상품 수령 후 14일 이내에 반품할 수 있습니다. 단순 변심의 경우 왕복 배송비 6,000원은 고객이 부담합니다.",
    2: "카드 결제는 3영업일 이내 취소됩니다. The equipment stipend is 500,000 won per year.",
}


def test_split_claims_keeps_citations_with_their_sentence():
    assert split_claims("반품은 가능합니다. [1][2] 배송비는 6,000원입니다 [2]. [3]") == [
        ("반품은 가능합니다.", [1, 2]), ("배송비는 6,000원입니다.", [2, 3])]
    assert split_claims("NOT cited at all.") == [("NOT cited at all.", [])]


def test_supported_claims_and_reasons():
    (v,) = verify("반품은 수령 후 14일 이내에 가능합니다 [1].", SOURCES)
    assert v.verdict == "supported" and v.sources == [1] and v.reason.startswith("[1]")


def test_changed_number_is_unsupported():
    (v,) = verify("왕복 배송비 8,000원은 고객이 부담합니다 [1].", SOURCES)
    assert v.verdict == "unsupported" and "8000" in v.reason


def test_negation_flip_is_unsupported():
    (v,) = verify("The equipment stipend is not paid per year [2].", SOURCES)
    assert v.verdict == "unsupported" and "negation" in v.reason


def test_wrong_citation_is_repaired():
    (v,) = verify("카드 결제는 3영업일 이내 취소됩니다 [1].", SOURCES)
    assert v.verdict == "supported" and v.sources == [2] and "repaired" in v.reason


def test_invented_fact_is_unsupported():
    (v,) = verify("환불은 현금으로 30일 후에 지급됩니다 [1].", SOURCES)
    assert v.verdict == "unsupported"


def test_support_score_range():
    assert support("반품", "") == (0.0, "no overlap with source")
    score, _ = support("The equipment stipend is 500,000 won.", SOURCES[2])
    assert score == 1.0
