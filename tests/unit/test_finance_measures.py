"""Measures a shop declares: checked when declared, named by a question's words (Korean and English), and a
count of rows corrected to the measure's distinct count only where that is unambiguous."""

from __future__ import annotations

import pytest

from inhouse.apps.finance.measures import Measure, apply_measures, measures_text, parse_measure
from inhouse.errors import InputError

COLUMNS = ["InvoiceNo", "Quantity", "UnitPrice", "CustomerID", "Country"]
ORDERS = parse_measure("retail", "orders", "count(DISTINCT InvoiceNo)", "order, orders,주문", COLUMNS)
REVENUE = parse_measure("retail", "Revenue", "SUM(Quantity * UnitPrice)", "", COLUMNS)


def test_a_measure_is_one_aggregate_over_the_tables_columns():
    assert ORDERS == Measure("retail", "orders", "COUNT(DISTINCT InvoiceNo)", ("order", "orders", "주문"))
    assert REVENUE.name == "revenue" and REVENUE.words == ("revenue",)  # its name when no words are given
    with pytest.raises(InputError, match="no column Price"):
        parse_measure("retail", "avg_price", "avg(Price)", "", COLUMNS)
    with pytest.raises(InputError, match="must be one aggregate"):
        parse_measure("retail", "qty", "Quantity * 2", "", COLUMNS)
    with pytest.raises(InputError, match="must be one aggregate"):
        parse_measure("retail", "q", "SELECT count(*) FROM retail", "", COLUMNS)
    with pytest.raises(InputError, match="does not parse"):
        parse_measure("retail", "q", "count(DISTINCT", "", COLUMNS)
    with pytest.raises(InputError, match="invalid measure name"):
        parse_measure("retail", "2x", "count(*)", "", COLUMNS)
    text = measures_text([ORDERS, REVENUE])
    assert "orders = COUNT(DISTINCT InvoiceNo) (over retail; the question says: order, orders, 주문)" in text
    assert measures_text([]) == ""


def test_words_name_a_measure_in_english_and_korean():
    assert ORDERS.named_in("How many orders came from France?")
    assert ORDERS.named_in("Average ORDER value in 2011?")
    assert not ORDERS.named_in("Which customers ordered most?")  # a whole word, not a verb's stem
    assert not ORDERS.named_in("How many invoice lines are there?")
    assert ORDERS.named_in("취소된 주문은 모두 몇 건인가요?")  # Korean: inside a word with its particle
    assert ORDERS.named_in("주문별 상품 종류 수")
    assert not ORDERS.named_in("거래 라인은 몇 개인가요?")


@pytest.mark.parametrize("sql, fixed", [
    ("SELECT count(*) AS n FROM retail WHERE InvoiceNo LIKE 'C%'",
     "SELECT COUNT(DISTINCT InvoiceNo) AS n FROM retail WHERE InvoiceNo LIKE 'C%'"),
    ("SELECT Country, COUNT(InvoiceNo) AS n FROM retail GROUP BY Country",
     "SELECT Country, COUNT(DISTINCT InvoiceNo) AS n FROM retail GROUP BY Country"),
    ("SELECT sum(Quantity * UnitPrice) / count(*) AS per_order FROM retail",
     "SELECT SUM(Quantity * UnitPrice) / COUNT(DISTINCT InvoiceNo) AS per_order FROM retail"),
    # inside a CTE over the table; the outer query reads the CTE and is left alone
    ("WITH m AS (SELECT Country, count(*) AS n FROM retail GROUP BY 1) SELECT count(*) AS countries FROM m",
     "WITH m AS (SELECT Country, COUNT(DISTINCT InvoiceNo) AS n FROM retail GROUP BY 1) "
     "SELECT COUNT(*) AS countries FROM m"),
])
def test_a_count_of_rows_becomes_the_measures_distinct_count(sql: str, fixed: str):
    got, notes = apply_measures(sql, "How many orders were there?", [ORDERS, REVENUE])
    assert got == fixed
    assert notes == ["counted orders as the shop defines it: COUNT(DISTINCT InvoiceNo) (the query counted rows)"]


@pytest.mark.parametrize("sql, question", [
    ("SELECT count(*) FROM retail", "How many invoice lines are there?"),  # the question does not name it
    ("SELECT count(*) / count(DISTINCT InvoiceNo) AS lines_per_order FROM retail", "Lines per order?"),
    ("SELECT count(*) FROM retail AS a JOIN retail AS b ON a.InvoiceNo = b.InvoiceNo", "How many orders?"),
    ("SELECT count(DISTINCT CustomerID) FROM retail", "How many customers placed an order?"),
    ("SELECT count(*) FROM returns", "How many orders were returned?"),  # another table
    ("SELECT count(* FROM retail", "How many orders?"),  # does not parse: the checks say why
])
def test_left_as_written_where_the_correction_would_be_a_guess(sql: str, question: str):
    assert apply_measures(sql, question, [ORDERS]) == (sql, [])


def test_two_named_measures_correct_only_what_is_unambiguous():
    customers = parse_measure("retail", "customers", "count(DISTINCT CustomerID)", "customers", COLUMNS)
    question = "How many customers and orders per country?"
    sql = "SELECT Country, count(*) AS customers FROM retail GROUP BY Country"
    assert apply_measures(sql, question, [ORDERS, customers]) == (sql, [])  # which one count(*) meant is a guess
    got, notes = apply_measures("SELECT Country, count(CustomerID) AS c, count(InvoiceNo) AS o FROM retail GROUP BY 1",
                                question, [ORDERS, customers])
    assert got == ("SELECT Country, COUNT(DISTINCT CustomerID) AS c, COUNT(DISTINCT InvoiceNo) AS o FROM retail "
                   "GROUP BY 1")
    assert len(notes) == 2
    # grouped by the customer: count(*) there counts the customer's lines (or orders), never customers
    got, _ = apply_measures("SELECT CustomerID, count(*) AS n FROM retail GROUP BY CustomerID", question,
                            [ORDERS, customers])
    assert got == "SELECT CustomerID, COUNT(DISTINCT InvoiceNo) AS n FROM retail GROUP BY CustomerID"


def test_only_distinct_count_measures_correct_a_query():
    sql = "SELECT sum(Quantity) FROM retail"
    assert apply_measures(sql, "What was the revenue?", [REVENUE]) == (sql, [])
