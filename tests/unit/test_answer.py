"""The answer pipeline with a scripted model: exact outputs, verification and abstention decisions."""

import math
import sys
from pathlib import Path

import pytest

from inhouse.answer import (
    ABSTAIN,
    EXAMPLES,
    FOLLOW_UP,
    JUDGE_MIN,
    JUDGE_SYSTEM,
    JUDGED,
    SYSTEM_PROMPT,
    AnswerPolicy,
    Question,
    answer_question,
    build_messages,
    judge,
    judge_for,
    select_context,
)
from inhouse.config import Settings
from inhouse.ingest import ingest
from inhouse.models.chat import ScriptedChat
from inhouse.protocols import ChatModel
from inhouse.store import SQLiteStore
from inhouse.text import detect_language, estimate_tokens
from inhouse.types import Hit, Principal
from inhouse.verify import verify

STAFF = Principal("acme", "kim", ("staff",))


@pytest.fixture
def kb(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = tmp_path / "kb"
    d.mkdir()
    (d / "반품.md").write_text(
        "# 반품 정책\n\n## 반품 기간\n\n상품 수령 후 14일 이내에 반품할 수 있습니다. 단순 변심의 경우 왕복 배송비 6,000원은 "
        "고객이 부담합니다.\n\n## 환불\n\n카드 결제는 3영업일 이내 취소됩니다.\n", "utf-8")
    (d / "remote.md").write_text("# Remote work\n\nThe equipment stipend is 500,000 won per year.\n", "utf-8")
    (d / "hr.md").write_text("# 인사\n\n경조휴가는 5일입니다.\n", "utf-8")
    ingest(store, settings, [d / "반품.md", d / "remote.md"], "acme", ["staff"])
    ingest(store, settings, [d / "hr.md"], "acme", ["hr"])
    return store, settings


def test_scripted_chat_is_a_chat_model():
    assert isinstance(ScriptedChat(), ChatModel)


def test_supported_claims_kept_unsupported_removed(kb):
    store, settings = kb
    model = ScriptedChat().enqueue(
        "반품은 상품 수령 후 14일 이내에 가능합니다 [1]. 왕복 배송비 6,000원은 고객이 부담합니다 [1]. 반품은 무료입니다 [1].")
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, model)
    assert a.answer == "반품은 상품 수령 후 14일 이내에 가능합니다[1]. 왕복 배송비 6,000원은 고객이 부담합니다[1]."
    assert not a.abstained and a.mode == "generated" and a.relevance >= 0.34
    js = a.to_json()
    assert [c["verdict"] for c in js["claims"]] == ["supported", "supported", "unsupported"]
    assert [c["kept"] for c in js["claims"]] == [True, True, False]
    assert js["citations"] == [{"n": 1, "chunk_id": js["claims"][0]["chunk_ids"][0], "doc_path": "반품.md", "page": None}]
    assert set(js) >= {"answer", "abstained", "citations", "claims", "model", "timings"}
    assert js["model"] == "scripted" and set(js["timings"]) == {"retrieval_s", "first_token_s", "generation_s", "total_s"}
    prompt = model.calls[0][-1]["content"]
    assert "[1] (반품 정책 › 반품 기간) 상품 수령 후 14일" in prompt and prompt.endswith("Question: 반품 기간은 며칠인가요?")


def test_worked_examples_come_first_and_their_answers_pass_the_verifier():
    assert build_messages("반품 기간은?", []) == [{"role": "system", "content": SYSTEM_PROMPT},
                                              {"role": "user", "content": "Sources:\n\n\nQuestion: 반품 기간은?"}]
    messages = build_messages("반품 기간은?", [], examples=True)
    assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * len(EXAMPLES) + ["user"]
    assert messages[-1]["content"].endswith("Question: 반품 기간은?")
    # The fixed prefix (system prompt and examples) is the same for every question: llama.cpp keeps its KV state.
    assert build_messages("Other?", [], examples=True)[:-1] == messages[:-1]
    assert {"ko", "en"} <= {"ko" if any("가" <= ch <= "힣" for ch in q) else "en" for q, _, _ in EXAMPLES}
    for question, listing, reply in EXAMPLES:
        sources = {n: text for n, (_, text) in enumerate(listing, start=1)}
        headings = {n: heading for n, (heading, _) in enumerate(listing, start=1)}
        claims = verify(reply, sources, question=question, headings=headings)
        assert claims and all(c.verdict == "supported" and c.sources == c.cited for c in claims), claims


def test_abstains_before_generating_when_nothing_relevant(kb):
    store, settings = kb
    model = ScriptedChat()  # no reply queued: generating would raise
    a = answer_question(store, STAFF, "회사 주가는 얼마인가요?", settings, model)
    assert a.abstained and a.answer == ABSTAIN["ko"] and model.calls == []
    assert a.relevance < 0.34 and a.to_json()["relevance"] == round(a.relevance, 3)
    a = answer_question(store, STAFF, "Who won the 1998 World Cup?", settings, model)
    assert a.abstained and a.answer == ABSTAIN["en"]


def test_a_korean_draft_the_model_was_unsure_of_keeps_no_claim(kb):
    store, settings = kb
    draft = "반품은 상품 수령 후 14일 이내에 가능합니다 [1]."
    ko = {"policy": AnswerPolicy(unsure_langs=("ko",))}
    sure = ScriptedChat(replies=[draft], logprobs=[[-0.1, -0.3, -0.05, -2.5]])  # the last is the stop token
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, sure, **ko)
    assert a.mode == "generated" and a.draft_logprobs == [-0.1, -0.3, -0.05, -2.5]
    unsure = ScriptedChat(replies=[draft], logprobs=[[-0.1, -1.9, -0.05, -0.2]])
    assert answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings,
                           ScriptedChat(replies=[draft], logprobs=[[-1.9, -0.1]])).mode == "generated"  # off by default
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, unsure, **ko)
    assert a.mode != "generated" and a.claims[0].verdict == "unsupported" and not a.claims[0].kept
    assert a.claims[0].reason.startswith("the model was unsure of its draft") and "(-1.90)" in a.claims[0].reason
    # The quote that replaces it is the source's own sentence.
    assert a.mode == "extractive" and "14일 이내에 반품할 수 있습니다" in a.answer
    # Only the languages named are judged by it (bench/answers.py showed no split in English).
    english = ScriptedChat(replies=["The equipment stipend is 500,000 won per year [1]."], logprobs=[[-1.9, -0.1]])
    assert answer_question(store, STAFF, "What is the equipment stipend?", settings, english, **ko).mode == "generated"


def test_a_judge_that_says_no_drops_the_claim(kb):
    store, settings = kb
    question, draft = "What is the equipment stipend?", "The equipment stipend is 500,000 won per year [1]."
    yes = ScriptedChat(replies=["Yes"], logprobs=[[-0.05]])
    a = answer_question(store, STAFF, question, settings, ScriptedChat(replies=[draft]), judge_model=yes,
                        policy=AnswerPolicy(judge_min={"en": 0.5}))
    assert a.mode == "generated" and a.claims[0].kept and "judged 2.97" in a.claims[0].reason
    # The judge saw the question, the claim and the source sentence that supports it.
    (system, user), = yes.calls
    assert system["content"] == JUDGE_SYSTEM and question in user["content"]
    assert "Source: The equipment stipend is 500,000 won per year." in user["content"]
    no = ScriptedChat(replies=["No"], logprobs=[[-0.2]])
    a = answer_question(store, STAFF, question, settings, ScriptedChat(replies=[draft]), judge_model=no,
                        policy=AnswerPolicy(judge_min={"en": 0.5}))
    assert not a.claims[0].kept and a.claims[0].reason.startswith(JUDGED)
    assert a.mode == "extractive"  # the quote that replaces it is the source's sentence, not judged
    # A language without a minimum is not judged; a reply without log-probabilities counts as sure.
    a = answer_question(store, STAFF, question, settings, ScriptedChat(replies=[draft]),
                        judge_model=ScriptedChat(), policy=AnswerPolicy(judge_min={"ko": 0.5}))
    assert a.mode == "generated"
    assert judge(ScriptedChat(replies=["No"]), question, "x", "y") == pytest.approx(-4.0, abs=0.01)
    assert judge(ScriptedChat(replies=["Maybe"]), question, "x", "y") == 0.0
    # By default the policy's judge_min is JUDGE_MIN: log-odds 0 in both languages.
    unsure = ScriptedChat(replies=["Yes"], logprobs=[[math.log(0.4)]])
    a = answer_question(store, STAFF, question, settings, ScriptedChat(replies=[draft]), judge_model=unsure)
    assert JUDGE_MIN == {"ko": 0.0, "en": 0.0} and not a.claims[0].kept and "-0.41" in a.claims[0].reason


class _Twinned(ScriptedChat):
    def twin(self) -> ScriptedChat:
        return ScriptedChat("twin")


def test_the_judge_is_the_models_twin_unless_switched_off():
    assert judge_for(_Twinned(), Settings()).name == "twin"
    assert judge_for(_Twinned(), Settings(judge=False)) is None
    assert judge_for(ScriptedChat(), Settings()) is None  # a scripted model has no twin: its replies are the test's


def _detections(ask) -> list[str]:
    """The texts `detect_language` ran on during `ask()`, counted by a profiler hook on its code object (no
    patching: every module keeps the function it imported)."""
    seen: list[str] = []

    def profile(frame, event, _arg):
        if event == "call" and frame.f_code is detect_language.__code__:
            seen.append(frame.f_locals["text"])

    sys.setprofile(profile)
    try:
        ask()
    finally:
        sys.setprofile(None)
    return seen


@pytest.mark.parametrize(("question", "draft", "mode"), [
    # A yes/no question whose draft fails verification: the gate, the verifier's question rules (closed,
    # names) and the quote each read the question.
    ("Is the equipment stipend 900,000 won a year?", "The stipend is 900,000 won and includes a laptop [1].",
     "extractive"),
    ("반품은 수령 후 14일 이내에 할 수 있나요?", "NOT_FOUND", "extractive"),
    ("반품 기간은 며칠인가요?", "반품은 상품 수령 후 14일 이내에 가능합니다 [1]. 반품은 무료입니다 [1].", "generated"),
])
def test_an_ask_detects_its_questions_language_once(kb, question, draft, mode):
    store, settings = kb
    asked = []
    seen = _detections(lambda: asked.append(answer_question(store, STAFF, question, settings,
                                                            ScriptedChat().enqueue(draft))))
    assert asked[0].mode == mode, asked[0].claims
    assert seen.count(question) == 1, seen


def test_model_not_found_reply_abstains(kb):
    store, settings = kb
    a = answer_question(store, STAFF, "What is the equipment stipend?", settings, ScriptedChat().enqueue("NOT_FOUND"))
    assert a.abstained and a.answer == ABSTAIN["en"]


def test_hallucinated_draft_falls_back_to_a_quote(kb):
    store, settings = kb
    model = ScriptedChat().enqueue("The stipend is 900,000 won and includes a laptop [1].")
    a = answer_question(store, STAFF, "What is the equipment stipend?", settings, model)
    assert a.mode == "extractive" and not a.abstained
    assert a.answer == "According to the documents: \u201cThe equipment stipend is 500,000 won per year.\u201d [1]"
    assert [c.verdict for c in a.claims] == ["unsupported", "supported"]


def test_other_groups_documents_never_reach_the_prompt(kb):
    store, settings = kb
    model = ScriptedChat().enqueue("NOT_FOUND")
    a = answer_question(store, STAFF, "경조휴가는 며칠인가요?", settings, model)
    assert a.abstained
    assert all("경조휴가는 5일" not in m["content"] for call in model.calls for m in call)
    hr = Principal("acme", "lee", ("hr",))
    a = answer_question(store, hr, "경조휴가는 며칠인가요?", settings, ScriptedChat().enqueue("경조휴가는 5일입니다 [1]."))
    assert a.answer == "경조휴가는 5일입니다[1]."


def test_select_context_keeps_relevant_sentences_within_budget():
    text = "관계없는 문장입니다. " * 20 + "반품은 14일 이내에 가능합니다. 배송비는 고객 부담입니다."
    hits = [Hit(chunk_id=7, doc_path="a.md", page=None, score=1.0, text=text)]
    sources, relevance = select_context(Question("반품 기간"), hits, budget_chars=80)
    assert relevance > 0.3 and sources[0].text.startswith("반품은 14일 이내에 가능합니다.")
    assert len(sources[0].text) <= 80


def test_select_context_budgets_tokens_so_korean_gets_fewer_characters():
    ko = "반품은 14일 이내에 가능합니다. 반품 배송비는 6,000원입니다. 반품 신청은 앱에서 합니다. 반품 검수는 3일 걸립니다."
    en = "Returns are possible within 14 days. The return fee is 6,000 won. Returns are requested in the app."
    hit = lambda text: [Hit(chunk_id=7, doc_path="a.md", page=None, score=1.0, text=text)]  # noqa: E731
    sources, _ = select_context(Question("반품"), hit(ko), budget_chars=600, budget_tokens=40)
    assert sources[0].text.startswith("반품은 14일") and estimate_tokens(sources[0].text) <= 40
    assert len(sources[0].text) < len(ko)
    sources, _ = select_context(Question("returns"), hit(en), budget_chars=600, budget_tokens=40)
    assert sources[0].text == en  # ~22 tokens: all of it


def test_a_sentence_cut_off_by_max_tokens_is_dropped(kb):
    store, settings = kb
    draft = "반품은 상품 수령 후 14일 이내에 가능합니다 [1]. 왕복 배송비 6,000원은 고객이 부담합니다 [1]."
    model = ScriptedChat().enqueue(draft)  # a word is a token: 14 words, cut after "고객이"
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, model, policy=AnswerPolicy(max_tokens=12))
    assert a.draft == "반품은 상품 수령 후 14일 이내에 가능합니다 [1]. 왕복 배송비 6,000원은 고객이"
    assert a.answer == "반품은 상품 수령 후 14일 이내에 가능합니다[1]."
    assert a.claims[-1].verdict == "unsupported" and "incomplete" in a.claims[-1].reason


def test_a_short_answer_without_a_full_stop_is_complete(kb):
    store, settings = kb
    model = ScriptedChat().enqueue("[1] 14일 이내")
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, model)
    assert a.mode == "generated" and a.answer == "14일 이내[1]" and a.claims[0].verdict == "supported"


@pytest.fixture
def policies(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "leave.md").write_text("# 휴가\n\n경조휴가는 팀장의 승인을 받아 사용한다. 경조휴가는 연 5일이다.\n", "utf-8")
    (d / "awards.md").write_text("# Awards\n\nThe committee met in Paris in 2017. The prize for best song went to "
                                 "a newcomer.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    return store, settings


def test_quote_needs_one_sentence_covering_the_question(policies):
    store, settings = policies
    # The two sentences together hold every term of the question, so it passes the relevance gate; but
    # neither says who won, and quoting either would answer a question the documents cannot.
    model = ScriptedChat().enqueue("[1]", "NOT_FOUND")  # nothing to quote: the English draft is asked again
    a = answer_question(store, STAFF, "Which song won the 2017 Paris prize?", settings, model)
    assert a.relevance >= 0.7 and a.abstained and a.mode == "abstained"


def test_quote_says_what_an_open_korean_question_asks_of_its_subject(tmp_path: Path, store: SQLiteStore,
                                                                       settings: Settings):
    d = tmp_path / "un"
    d.mkdir()
    (d / "ban.md").write_text("# 유엔\n\n2016년 포브스는 반기문 유엔 사무총장이 강한 지도자라고 보도했다.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    q = "반기문 유엔 사무총장이 당선된 해는?"
    # The sentence covers 90% of the question's terms, but says nothing of 당선.
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("[1]"))
    assert a.abstained
    (d / "ban.md").write_text("# 유엔\n\n2016년 포브스는 반기문 유엔 사무총장이 강한 지도자라고 보도했다. "
                              "반기문 유엔 사무총장은 2006년에 당선되었다.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("[1]"))
    assert a.mode == "extractive" and "2006년에 당선되었다" in a.answer


def test_count_question_quotes_a_sentence_with_a_number(policies):
    store, settings = policies
    a = answer_question(store, STAFF, "경조휴가는 며칠인가요?", settings, ScriptedChat().enqueue("[1]"))
    assert a.mode == "extractive" and a.answer == "문서에 따르면: \u201c경조휴가는 연 5일이다.\u201d [1]"
    a = answer_question(store, STAFF, "경조휴가는 며칠인가요?", settings,
                        ScriptedChat().enqueue("경조휴가는 팀장의 승인을 받아 사용합니다 [1]."))
    assert a.claims[0].verdict == "unsupported" and "number" in a.claims[0].reason and a.mode == "extractive"


def test_draft_that_only_cites_is_asked_once_more(policies):
    store, settings = policies
    q = "Who was given the best song prize in Paris?"  # no sentence covers 0.7 of it: nothing to quote
    model = ScriptedChat().enqueue("[1]", "The prize for best song went to a newcomer [1].")
    a = answer_question(store, STAFF, q, settings, model)
    assert a.mode == "generated" and a.answer == "The prize for best song went to a newcomer[1]."
    assert (a.draft, a.follow_up) == ("[1]", "The prize for best song went to a newcomer [1].")
    assert a.model == "scripted" and {"retrieval_s", "first_token_s", "generation_s", "total_s"} <= set(a.timings)
    follow = model.calls[1]
    assert follow[:-2] == model.calls[0] and follow[-2] == {"role": "assistant", "content": "[1]"}
    assert follow[-1] == {"role": "user", "content": FOLLOW_UP["en"]}
    # A follow-up that fails verification leaves the abstention.
    model = ScriptedChat().enqueue("The prize was given in Paris [1].", "The prize went to a newcomer in 2019 [1].")
    a = answer_question(store, STAFF, q, settings, model)
    assert len(model.calls) == 2 and a.abstained
    assert [c.reason for c in a.claims][0] == "restates the question without an answer"
    assert [c.verdict for c in a.claims] == ["unsupported", "unsupported"]
    # A draft with a (rejected) claim of its own is not asked again; nor, by default, a Korean one.
    model = ScriptedChat().enqueue("The prize went to a newcomer in 2019 [1].")
    assert answer_question(store, STAFF, q, settings, model).abstained and len(model.calls) == 1
    model = ScriptedChat().enqueue("[1]")
    a = answer_question(store, STAFF, "경조휴가는 팀장 승인 후 며칠 동안 쓸 수 있나요?", settings, model)
    assert a.abstained and len(model.calls) == 1


def test_quote_counts_the_heading_it_sits_under(kb):
    store, settings = kb
    # "기간" is only in the heading "반품 기간": the sentence below it still answers the question.
    a = answer_question(store, STAFF, "반품 기간은 며칠인가요?", settings, ScriptedChat().enqueue("[1]"))
    assert a.mode == "extractive" and "14일 이내에 반품할 수 있습니다" in a.answer


def test_yes_no_question_answered_by_a_quote_when_the_model_finds_nothing(tmp_path: Path, store: SQLiteStore,
                                                                         settings: Settings):
    d = tmp_path / "returns"
    d.mkdir()
    (d / "custom.md").write_text("# 반품\n\n## 주문제작 가구\n\n주문제작 가구라도 하자가 있으면 무상으로 수리해 드립니다. "
                                 "고객이 원단과 색상을 골라 주문 제작한 가구는 단순 변심으로 반품할 수 없습니다.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    q = "주문제작 가구도 반품할 수 있나요?"
    # The small models reply NOT_FOUND to yes/no questions that a source answers in other words. Both
    # sentences cover the question with their heading; the one that says 반품 itself is quoted.
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("NOT_FOUND"))
    assert a.mode == "extractive" and "단순 변심으로 반품할 수 없습니다" in a.answer and a.answer.endswith("[1]")
    # An open question's NOT_FOUND stands.
    a = answer_question(store, STAFF, "주문제작 가구는 언제 반품할 수 있나요?", settings, ScriptedChat().enqueue("NOT_FOUND"))
    assert a.abstained
    # With the policy out of reach, nothing covers the question: the yes/no question is refused too.
    store.set_groups("acme", "custom.md", ["hr"])
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("NOT_FOUND"))
    assert a.abstained and a.answer == ABSTAIN["ko"]


@pytest.fixture
def shipping(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = tmp_path / "shipping"
    d.mkdir()
    (d / "배송.md").write_text(
        "# 배송 안내\n\n## 제주 및 도서산간\n\n- 제주: 일반 택배 상품은 3,000원, 대형 가구는 30,000원의 추가 배송비가 붙습니다.\n"
        "- 도서산간: 일반 택배 상품은 5,000원의 추가 배송비가 붙습니다.\n", "utf-8")
    (d / "반품.md").write_text(
        "# 반품 배송비\n\n- 대형 가구(소파, 침대, 매트리스): 왕복 배송비 50,000원\n- 일반 택배 상품: 왕복 배송비 6,000원\n", "utf-8")
    (d / "delivery.md").write_text(
        "# Delivery\n\nLarge furniture (sofas, beds, wardrobes) is delivered by two fitters.\n\n"
        "## Islands\n\nOn Jeju, large furniture costs 30,000 won extra to deliver.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    return store, settings


def test_quote_reaches_an_item_through_the_category_that_lists_it(shipping):
    store, settings = shipping
    q = "제주도로 소파를 배송받으면 추가 배송비는 얼마인가요?"
    # No sentence names 소파 and the 제주 surcharge together; a source lists 소파 among the 대형 가구.
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("[1][2]"))
    assert a.mode == "extractive", a.claims
    assert a.answer.startswith("문서에 따르면: \u201c제주: 일반 택배 상품은 3,000원, 대형 가구는 30,000원의 추가 배송비가 붙습니다.\u201d")
    assert "(대형 가구: 소파 [" in a.answer
    (quote,) = [c for c in a.claims if c.reason.startswith("quoted")]
    assert "소파 is listed under 대형 가구" in quote.reason and len(quote.sources) == 2
    assert {s.doc_path for s in a.cited_sources()} == {"배송.md", "반품.md"}
    a = answer_question(store, STAFF, "How much extra is it to deliver sofas to Jeju?", settings,
                        ScriptedChat().enqueue("[1]"))
    assert a.mode == "extractive" and "30,000 won extra" in a.answer and "(Large furniture: sofas [" in a.answer
    # Without the list that puts 소파 among the 대형 가구, the 제주 sentence does not answer the question.
    store.set_groups("acme", "반품.md", ["hr"])
    a = answer_question(store, STAFF, q, settings, ScriptedChat().enqueue("[1]"))
    assert a.abstained


def test_quote_of_a_numbered_item_drops_its_number(tmp_path: Path, store: SQLiteStore, settings: Settings):
    d = tmp_path / "steps"
    d.mkdir()
    (d / "반품.md").write_text("# 반품 절차\n\n1. 고객센터에 반품을 신청합니다.\n2. 반품 상품은 택배 기사가 3일 안에 회수합니다.\n",
                              "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    a = answer_question(store, STAFF, "반품 상품은 며칠 안에 회수하나요?", settings, ScriptedChat().enqueue("[1]"))
    assert a.mode == "extractive" and a.answer == "문서에 따르면: \u201c반품 상품은 택배 기사가 3일 안에 회수합니다.\u201d [1]"
