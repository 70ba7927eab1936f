from inhouse.text import (
    detect_language,
    estimate_tokens,
    has_quantity,
    lexical_terms,
    normalize,
    split_sentences,
    statements,
)


def test_korean_terms_match_across_particles_and_segmentation():
    # "반품" must match "반품은"/"반품할"; compounds match however Kiwi segments them.
    assert "반품" in lexical_terms("반품은 14일 이내에 가능합니다")
    assert "반품" in lexical_terms("반품할 수 있나요?")
    a, b = set(lexical_terms("연회비 환불")), set(lexical_terms("카드 해지 시 연회비 환불은 어떻게 되나요?"))
    assert {"연회비", "환불"} <= a
    assert "연회비" in b or {"연회", "회비"} <= b


def test_english_terms_lowercase_without_stopwords():
    terms = lexical_terms("What is the Equipment stipend for remote workers?")
    assert terms == ["equipment", "stipend", "remote", "workers"]


def test_numbers_are_terms_without_thousands_separators():
    assert "500000" in lexical_terms("500,000 won")
    assert "15000" in lexical_terms("연회비는 15,000원입니다")


def test_mixed_language_text():
    terms = lexical_terms("아크미 멤버십 card의 annual fee")
    assert "멤버십" in terms and "card" in terms and "annual" in terms


def test_sentences_korean_and_english():
    text = "첫 문장입니다. 두번째 문장은 여기. Third sentence here. Fourth one!"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "첫 문장입니다.", "두번째 문장은 여기.", "Third sentence here.", "Fourth one!"]
    text = "Prices rose 3.5 percent. Mr. Kim agreed? Yes."
    assert [text[s:e] for s, e in split_sentences(text)][-1] == "Yes."


def test_normalize_removes_zero_width_and_collapses_space():
    assert normalize("a\u200b b\u00a0\u00a0c\r\n\n\n\nd") == "a b c\n\nd"
    assert normalize("ＡＢＣ１２３") == "ABC123"


def test_detect_language():
    assert detect_language("반품 기간은 며칠인가요?") == "ko"
    assert detect_language("How long is the return window?") == "en"
    assert detect_language("카드 annual fee는 얼마?") == "ko"


def test_statements_split_list_items_and_table_rows():
    text = ("반품 배송비는 다음과 같습니다.\n- 일반 택배 상품: 왕복 배송비 6,000원\n"
            "- 대형 가구(소파, 침대): 왕복 배송비 50,000원\n"
            "| 지역 | 추가 배송비 |\nFees:\n1. Standard parcels cost 3,000 won\n2) Furniture costs more")
    assert [text[s:e] for s, e in statements(text)] == [
        "반품 배송비는 다음과 같습니다.", "- 일반 택배 상품: 왕복 배송비 6,000원",
        "- 대형 가구(소파, 침대): 왕복 배송비 50,000원",
        "| 지역 | 추가 배송비 |\nFees:", "1. Standard parcels cost 3,000 won", "2) Furniture costs more"]
    # A line that merely wraps a sentence is not cut.
    wrapped = "상품 수령 후 14일 이내에\n반품할 수 있습니다."
    assert [wrapped[s:e] for s, e in statements(wrapped)] == [wrapped]


def test_estimate_tokens_counts_hangul_syllables_as_tokens():
    assert estimate_tokens("반품 기간") == 4 + 0.22
    assert estimate_tokens("漢字") == 2  # a Hanja is about one token too
    assert estimate_tokens("return period") == 0.22 * 13
    # A Korean sentence costs about three times an English one of the same length.
    assert estimate_tokens("상품 수령 후 14일 이내에 반품할 수 있습니다.") > 3 * estimate_tokens(
        "Returns within 14 days.."
    )


def test_has_quantity_in_words():
    assert has_quantity("Polonia has won the cup twice.") and has_quantity("세 명") and has_quantity("14일")
    assert not has_quantity("Polonia has won the cup.")
    # "once" is a conjunction far more often than a count.
    assert not has_quantity("Once the order ships, it cannot be cancelled.")


def test_spaced_korean_names_are_terms():
    # Kiwi reads "데릭 지터" as one noun with a space in it; its words and the name as one compound are terms.
    terms = lexical_terms("뉴욕 양키스의 데릭 지터는 은퇴했다")
    assert {"데릭", "지터", "데릭지터", "양키스"} <= set(terms)
    assert {"캐시", "크루즈"} <= set(lexical_terms("캐시 크루즈 회사의 경영권을 넘겨 받은 사람은?"))
    assert {"데릭", "지터"} <= set(lexical_terms("데릭지터"))


def test_accented_words_are_one_term_with_or_without_accents():
    assert lexical_terms("Zürich and São Paulo") == ["zurich", "sao", "paulo"]
    assert lexical_terms("Zurich") == ["zurich"]
    assert lexical_terms("Москва и Αθήνα") == ["москва", "и", "αθηνα"]
    assert "zurich" in lexical_terms("취리히(Zürich)에 본사가 있다")


def test_word_terms_count_each_word_once():
    from inhouse.text import word_terms

    assert word_terms("뉴욕 양키스의 데릭 지터는 연회비를 냈다") == ["뉴욕", "양키스", "데릭", "지터", "연회비"]
    assert word_terms("Who won the Zürich prize?") == ["won", "zurich", "prize"]


def test_stem_strips_inflections_not_derivations():
    from inhouse.text import stem

    assert [stem(w) for w in ("satellites", "policies", "stopped", "forming", "giving", "classified")] == [
        "satellit", "policy", "stop", "form", "give", "classify"]
    assert stem("formation") != stem("form") and stem("hated") == stem("hate") != stem("hat")
    assert stem("need") == "need" and stem("falling") == "fall" and stem("서울") == "서울" and stem("ipv6") == "ipv6"
