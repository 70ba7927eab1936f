"""The web UI in headless Chromium (Debian `chromium` + `chromium-driver`, driven by Selenium): sign in,
ask, see a cited answer, open a citation, see a refusal, and as an admin upload and delete a document.
Screenshots go to the test's tmp dir (and bench/results/screenshots when INHOUSE_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_server import RETURNS_ANSWER, Live, running

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="pip install selenium")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="needs Debian chromium and chromium-driver (.ci/run installs them)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--lang=ko-KR", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def live(inhouse_home: Path, tmp_path: Path) -> Iterator[Live]:
    with running(inhouse_home, tmp_path) as lv:
        yield lv


def _shot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    if os.environ.get("INHOUSE_SCREENSHOTS"):
        keep = ROOT / "bench" / "results" / "screenshots"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    assert path.stat().st_size > 1000
    return path


def _sign_in(driver, live: Live, who: str) -> None:
    driver.get(live.url + "/?lang=ko")
    wait = WebDriverWait(driver, 20)
    wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(live.keys[who])
    driver.find_element(By.ID, "signin").click()
    wait.until(ec.visibility_of_element_located((By.ID, "question")))


def _ask(driver, question: str, n: int):
    driver.find_element(By.ID, "question").send_keys(question)
    driver.find_element(By.ID, "ask").click()
    WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.answered, .msg.refusal")) >= n)
    return driver.find_elements(By.CSS_SELECTOR, ".msg.answered, .msg.refusal")[n - 1]


def test_sign_in_ask_cite_refuse(browser, live: Live, tmp_path: Path):
    driver = browser
    driver.get(live.url + "/?lang=ko")
    WebDriverWait(driver, 20).until(ec.visibility_of_element_located((By.ID, "key"))).send_keys("ih_wrong_key")
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "signin-error").text)
    assert "키가 올바르지 않습니다" in driver.find_element(By.ID, "signin-error").text  # Korean strings
    _shot(driver, tmp_path, "01-signin-error")

    driver.find_element(By.ID, "key").clear()
    _sign_in(driver, live, "kim")
    assert "kim@acme (reader)" in driver.find_element(By.ID, "whoami").text
    assert not driver.find_element(By.ID, "signin-view").is_displayed()
    assert not driver.find_element(By.ID, "admin").is_displayed()

    live.chat.enqueue(RETURNS_ANSWER)
    answer = _ask(driver, "반품 기간은 며칠인가요?", 1)
    assert "answered" in answer.get_attribute("class")
    assert "반품은 상품 수령 후 14일 이내에 가능합니다" in answer.text and "반품.md" in answer.text
    assert "무료" not in answer.text  # the unsupported claim was removed
    _shot(driver, tmp_path, "02-cited-answer")

    answer.find_element(By.CSS_SELECTOR, "button.cite").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "passage").is_displayed())
    WebDriverWait(driver, 10).until(
        lambda d: "14일 이내에 반품할 수 있습니다" in d.find_element(By.ID, "passage-text").text
    )
    assert "반품.md" in driver.find_element(By.ID, "passage-title").text
    _shot(driver, tmp_path, "03-citation-passage")

    driver.find_element(By.ID, "lang").click()  # English strings
    assert driver.find_element(By.ID, "ask").text == "Ask"
    refusal = _ask(driver, "What is the parking fee?", 2)
    assert "refusal" in refusal.get_attribute("class")
    assert "I could not find this in your documents." in refusal.text and "Not answered" in refusal.text
    _shot(driver, tmp_path, "04-refusal")


def test_a_reader_outside_pii_sees_masked_text_in_the_page(browser, live: Live, tmp_path: Path):
    """The answer and the citation passage the page shows: no phone, account or name of the CRM note."""
    from inhouse.config import Settings
    from inhouse.ingest import embed_pending, ingest
    from inhouse.models.embedders import load_embedder
    from tests.e2e.test_server_security import CRM, VALUES

    note = tmp_path / "crm" / "상담.md"
    note.parent.mkdir()
    note.write_text(CRM, "utf-8")
    ingest(live.srv.store, Settings(embedder="hash"), [note], "acme", ["staff"])
    embed_pending(live.srv.store, load_embedder("hash"))
    driver = browser
    _sign_in(driver, live, "kim")
    live.chat.enqueue(f"{VALUES[2]} 고객님의 연락처는 {VALUES[0]} 이며 배송 지연 문의를 접수했습니다 [1].")
    answer = _ask(driver, "배송 지연 문의한 고객의 연락처는?", 1)
    answer.find_element(By.CSS_SELECTOR, "button.cite").click()
    WebDriverWait(driver, 10).until(lambda d: "[PHONE]" in d.find_element(By.ID, "passage-text").text)
    page = driver.find_element(By.TAG_NAME, "body").text
    assert not [v for v in VALUES if v in page] and "[PHONE]" in answer.text
    _shot(driver, tmp_path, "07-masked-citation")


def test_admin_uploads_and_deletes(browser, live: Live, tmp_path: Path):
    driver = browser
    _sign_in(driver, live, "boss")
    assert driver.find_element(By.ID, "admin").is_displayed()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#docs tbody tr"))
    doc = tmp_path / "parking.md"
    doc.write_text("# 주차\n\n주차 요금은 시간당 2,000원입니다.\n", "utf-8")
    driver.find_element(By.ID, "upload-file").send_keys(str(doc))
    driver.find_element(By.ID, "upload-groups").send_keys("staff")
    driver.find_element(By.ID, "upload").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#docs tr[data-path="parking.md"]'))
    WebDriverWait(driver, 30).until(lambda d: "parking.md: done" in d.find_element(By.ID, "jobs").text)
    _shot(driver, tmp_path, "05-admin-upload")
    driver.find_element(By.CSS_SELECTOR, '#docs tr[data-path="parking.md"] button.delete').click()
    WebDriverWait(driver, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, '#docs tr[data-path="parking.md"]'))
    assert "parking.md" not in [d.path for d in live.srv.store.list_documents("acme")]
    _shot(driver, tmp_path, "06-admin-deleted")


def test_leaderboard_page(browser, live: Live, inhouse_home: Path, tmp_path: Path):
    """/leaderboard renders the evaluation database: averages, per-task scores, Korean strings."""
    from inhouse.evals.store import EvalStore

    driver = browser
    driver.get(live.url + "/leaderboard")
    empty = WebDriverWait(driver, 20).until(ec.visibility_of_element_located((By.ID, "empty")))
    assert "아직 점수가 없습니다" in empty.text  # no evals.db yet: nothing created
    assert not (inhouse_home / "evals" / "evals.db").exists()
    board = EvalStore(inhouse_home / "evals" / "evals.db")
    settings = {"fewshot": 0, "seed": 1234, "limit": 100}
    board.record("r1", "qwen-coder-0.5b", "a" * 64, "Q8_0", "arc_easy", 1,
                 {"acc": 0.5, "acc_stderr": 0.05, "acc_norm": 0.43, "acc_norm_stderr": 0.05}, 100, "acc_norm", settings)
    board.record("r1", "qwen-coder-0.5b", "a" * 64, "Q8_0", "kobest_copa", 1, {"acc": 0.6, "acc_stderr": 0.04}, 100,
                 "acc", settings)
    board.record("r2", "gemma3-270m", "b" * 64, "Q8_0", "kobest_copa", 1, {"acc": 0.52, "acc_stderr": 0.05}, 100,
                 "acc", settings)
    board.close()
    driver.get(live.url + "/leaderboard")
    table = WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.ID, "board")))
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td.model").text.splitlines()[0] for r in rows] == [
        "qwen-coder-0.5b", "gemma3-270m"]  # ranked by the Korean average when no Open LLM v1 average exists
    arc = rows[0].find_element(By.CSS_SELECTOR, 'td[data-task="arc_easy"]').text
    assert arc.startswith("43.0 ± 5.0") and "acc_norm, n=100, 0-shot" in arc
    assert rows[1].find_elements(By.CSS_SELECTOR, 'td[data-task="arc_easy"]') == []  # not run: a dash
    assert "한국어" in driver.find_element(By.CSS_SELECTOR, "thead").text
    _shot(driver, tmp_path, "leaderboard")


def test_shop_page_search_chips_reviews_and_copy(browser, inhouse_home: Path, tmp_path: Path):
    """The shop operator's page: a Korean query, its reasons as chips (a value named by a word, one picked by the
    model), a product's review summary with exact quotes, and checked copy in the editor."""
    from inhouse.apps.commerce.catalog import Item, Product, open_catalog
    from inhouse.apps.commerce.reviews import Aspect, Polarity, Review, open_reviews, views
    from inhouse.models.embedders import HashEmbedder
    from tests.forms import FormModel

    catalog = open_catalog("acme", create=True, base=inhouse_home)
    catalog.add([Product("air", "공기청정기"), Product("buds", "무선 이어폰")], [
        Item("a1", "air", 520000.0, True, {"사용 공간": "소형", "기능": "저소음 운전"}),
        Item("a2", "air", 480000.0, True, {"사용 공간": "대형", "기능": "스마트 센서"}),
        Item("e1", "buds", 250000.0, True, {"색상": "블랙", "방수": "IPX7"})])
    catalog.close()
    reviews = open_reviews("acme", create=True, base=inhouse_home)
    texts = ["소음이 거의 없어요. 밤에도 조용해요", "소음이 커서 거슬려요", "소음 없고 좋아요"]
    reviews.add([Review(f"r{i}", "air", t, 5.0 if "좋" in t or "조용" in t else 2.0) for i, t in enumerate(texts)])
    reviews.set_aspects([Aspect("소음", frozenset({"소음"}))])
    pairs = [views(t, (0, len(t)), (t.index("소음"), t.index("소음") + 2), "소음") for t in texts]
    reviews.analyse(Polarity(HashEmbedder(), margin=0.0).fit(pairs, ["positive", "negative", "positive"], c=10))
    reviews.close()

    chat = FormModel({"product": "공기청정기"}, {"사용 공간": "소형", "기능": "저소음 운전"})
    chat.enqueue("소형 공간에 맞는 저소음 운전 공기청정기입니다. 필터는 10년 갑니다.")
    with running(inhouse_home, tmp_path, chat=chat) as live:
        driver = browser
        driver.get(live.url + "/shop?lang=ko")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(live.keys["kim"])
        driver.find_element(By.ID, "signin").click()
        query = wait.until(ec.visibility_of_element_located((By.ID, "query")))
        query.send_keys("원룸에 좋은 조용한 공기청정기 60만원 이하")
        driver.find_element(By.ID, "search").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hits .hit"))
        first = driver.find_elements(By.CSS_SELECTOR, "#hits .hit")[0]
        assert "공기청정기" in first.text and "520,000" in first.text
        chips = [c.text for c in first.find_elements(By.CSS_SELECTOR, ".chip.model")]
        assert "사용 공간: 소형 · 모델" in chips and "기능: 저소음 운전 · 모델" in chips
        assert "가격 상한 600,000" in driver.find_element(By.ID, "search-note").text
        _shot(driver, tmp_path, "07-shop-search")

        first.find_element(By.CSS_SELECTOR, ".reviews-button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#summary .aspect"))
        summary = driver.find_element(By.ID, "summary").text
        assert "소음" in summary and "“소음이 거의 없어요.”" in summary
        _shot(driver, tmp_path, "08-shop-reviews")

        first.find_element(By.CSS_SELECTOR, ".copy-button").click()
        wait.until(lambda d: "공기청정기입니다" in d.find_element(By.ID, "copy-text").get_attribute("value"))
        assert driver.find_element(By.ID, "copy-text").get_attribute("value") == \
            "소형 공간에 맞는 저소음 운전 공기청정기입니다."
        assert "필터는 10년 갑니다" in driver.find_element(By.ID, "copy-removed").text
        _shot(driver, tmp_path, "09-shop-copy")


def test_desk_page_ticket_transcript_and_confirmation(browser, inhouse_home: Path, tmp_path: Path):
    """The inquiry desk: a Korean customer message, the agent's transcript (forms and tool calls), its Korean reply
    citing the shop's Korean policy, and the customer's yes relayed: the change commits only then."""
    import json

    from inhouse.apps.commerce.orders import open_shop
    from inhouse.apps.commerce.tau import load_shop
    from inhouse.ingest.pipeline import embed_pending, ingest
    from inhouse.models.embedders import load_embedder
    from tests.conftest import TAU_RETAIL
    from tests.forms import FormModel
    from tests.integration.test_commerce_agent import KO_TICKET

    data = ROOT / "bench" / "data" / "commerce"
    shop = open_shop("acme", create=True, base=inhouse_home)
    shop.load(*load_shop(TAU_RETAIL))
    shop.load_names(json.loads((data / "tau_catalog_ko.json").read_text("utf-8")), "ko")
    chat = FormModel(
        {"email": "omar.lopez1868@example.com", "first_name": "", "last_name": "", "zip": ""},
        {"wants": "교환", "requests": [{"action": "exchange", "order_id": "#W7273336", "pay_with": "original",
                                       "items": [{"item_id": "8214883393", "wanted": "화이트, 광학"}]}]})
    with running(inhouse_home, tmp_path, chat=chat) as live:
        store = live.app.state.inhouse.store
        ingest(store, live.app.state.inhouse.settings, [data / "tau_policy_ko.md"], "acme")
        embed_pending(store, load_embedder("hash"))
        driver = browser
        driver.get(live.url + "/desk?lang=ko")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(live.keys["kim"])
        driver.find_element(By.ID, "signin").click()
        wait.until(ec.visibility_of_element_located((By.ID, "ticket"))).send_keys(KO_TICKET)
        driver.find_element(By.ID, "run").click()
        wait.until(lambda d: d.find_element(By.ID, "reply").text)
        reply = driver.find_element(By.ID, "reply").text
        assert reply.startswith("확인 필요: 주문 #W7273336의 품목 8214883393, 8018699955")
        assert "배송 완료 주문 교환" in reply  # the Korean policy's section, cited
        steps = [s.find_element(By.TAG_NAME, "strong").text for s in driver.find_elements(By.CSS_SELECTOR, ".step")]
        assert steps[:3] == ["양식 · identity", "도구 · find_user_id_by_email", "도구 · get_user_details"]
        assert "양식 · requests" in steps and "도구 · exchange_delivered_order_items" in steps
        assert len(driver.find_elements(By.CSS_SELECTOR, "#proposals .proposal")) == 1
        assert shop.order("#W7273336")["status"] == "delivered"  # nothing written before the yes
        _shot(driver, tmp_path, "10-desk-ticket")

        driver.find_element(By.ID, "confirm").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".settled.committed"))
        assert shop.order("#W7273336")["status"] == "exchange requested"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".step.staff"))
        assert "staff:kim · exchange_delivered_order_items · ok" in driver.find_element(By.ID, "transcript").text
        _shot(driver, tmp_path, "11-desk-confirmed")
    shop.close()


def test_analytics_page_query_table_chart_and_checked_narrative(browser, inhouse_home: Path, tmp_path: Path):
    """The analytics page: the tenant's tables, a Korean question, the query refused once and written again, the
    result as a table and a chart (an image), the narrative with its suggestion, the policy it cites, and the
    sentence removed."""
    from inhouse.apps.finance.tables import open_tables
    from inhouse.config import Settings
    from inhouse.ingest import ingest
    from inhouse.models.chat import ScriptedChat

    sales = tmp_path / "sales.csv"
    sales.write_text("day,category,amount\n2026-11-01,가전,1200\n2026-11-02,식품,300\n2026-12-01,가전,900\n", "utf-8")
    open_tables("acme", create=True).add(sales, description="일별 매출")
    policy = tmp_path / "stock.md"
    policy.write_text("# 재고 규정\n\n매출 1위 카테고리는 재고를 한 달 치 더 확보합니다.\n", "utf-8")
    chat = ScriptedChat(replies=[
        '{"sql": "select * from read_csv(\'/etc/passwd\')"}',
        '{"sql": "select category, sum(amount) as total from sales group by 1 order by 2 desc"}',
        "가전 매출은 2100으로 식품 300보다 많습니다. 전체는 5000입니다. 제안: 매출 1위 카테고리는 재고를 한 달 치 더 "
        "확보합니다 [1]."])
    with running(inhouse_home, tmp_path, chat=chat) as live:
        ingest(live.srv.store, Settings(embedder="hash"), [policy], "acme")
        driver = browser
        driver.get(live.url + "/analytics?lang=ko")
        wait = WebDriverWait(driver, 20)
        wait.until(ec.visibility_of_element_located((By.ID, "key"))).send_keys(live.keys["kim"])
        driver.find_element(By.ID, "signin").click()
        wait.until(lambda d: "sales · 3 행" in d.find_element(By.ID, "tables").text)
        assert "amount" in driver.find_element(By.ID, "tables").text
        driver.find_element(By.ID, "question").send_keys("카테고리별 매출은?")
        driver.find_element(By.ID, "run-query").click()
        wait.until(ec.visibility_of_element_located((By.ID, "answer-box")))
        assert driver.find_element(By.ID, "sql").text.startswith("SELECT category, SUM(amount)")  # as checked
        assert "거부됨" in driver.find_element(By.ID, "attempts").text  # the refused first query, with why
        cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#result td")]
        assert cells == ["가전", "2100", "식품", "300"]
        chart = driver.find_element(By.ID, "chart")
        assert chart.is_displayed() and chart.get_attribute("src").startswith("data:image/svg+xml")
        assert driver.execute_script("return arguments[0].naturalWidth", chart) > 0  # the SVG decoded and drew
        assert driver.find_element(By.ID, "narrative").text == "가전 매출은 2100으로 식품 300보다 많습니다."
        assert "재고를 한 달 치 더 확보합니다 [1]" in driver.find_element(By.ID, "suggestions").text
        assert driver.find_element(By.ID, "citations").text.startswith("[1] stock.md › 재고 규정: 매출 1위")
        assert "5000" in driver.find_element(By.ID, "removed").get_attribute("textContent")  # folded, with why
        _shot(driver, tmp_path, "12-analytics")
