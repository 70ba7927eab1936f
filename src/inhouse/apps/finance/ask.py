"""A question in words → one checked SQL query → its result, computed by DuckDB.

The local model reads the tenant's schema (tables, column types, row counts, the descriptions the shop wrote, which
carry its conventions: what revenue is, what a cancellation is) and worked examples over a made-up table (so no
example is one of the shop's questions), and writes the query as JSON under a schema (constrained decoding where
the model supports it). Values the question names (a product's description, a country) are looked up in the
tables and given as stored, so the query filters on the real value rather than a guess. The query is checked
(inhouse.apps.finance.sql) and run read-only; when the check or DuckDB refuses it, or it returns no rows (a
filter on a value or date that is not there), the model sees why and writes it once more. A count of rows where
the question names a distinct-count measure the shop declared (inhouse.apps.finance.measures) is corrected before
the query runs. The numbers a reply
shows come from the result, never from the model. A narrative's suggestions may cite the passages of the
tenant's documents that `documents` (a search through the reader's view) finds for the question.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inhouse.apps.finance.measures import apply_measures
from inhouse.apps.finance.narrate import Narrative, narrate
from inhouse.apps.finance.tables import Result, TableStore
from inhouse.errors import InputError
from inhouse.types import Hit

SYSTEM = ("You write one DuckDB SQL query that answers a question about the tables described. Use only those "
          "tables and columns, follow the conventions in their descriptions, and give columns clear aliases. "
          "Reply with JSON only.")

_EXAMPLE_TABLE = """Example tables:
TABLE sales (120000 rows) -- one row per ticket line; amount = qty * price; an order is a distinct ticket_no
  ticket_no VARCHAR -- one ticket has several lines
  sold_at TIMESTAMP
  store VARCHAR -- the store's city
  item VARCHAR
  qty BIGINT -- negative for refunds
  price DOUBLE
"""
_EXAMPLES = [
    ("지난달 매장별 매출 상위 3곳은? (last month = 2024-05)",
     "SELECT store, round(sum(qty * price), 2) AS revenue FROM sales WHERE date_trunc('month', sold_at) = "
     "DATE '2024-05-01' GROUP BY store ORDER BY revenue DESC, store LIMIT 3"),
    ("부산 매장의 2024년 5월 주문 건수는?",
     "SELECT count(DISTINCT ticket_no) AS orders FROM sales WHERE store = 'Busan' AND date_trunc('month', sold_at) = "
     "DATE '2024-05-01'"),
    ("How many items were refunded in 2024?",
     "SELECT count(DISTINCT item) AS refunded_items FROM sales WHERE qty < 0 AND year(sold_at) = 2024"),
    ("월별 매출과 전월 대비 증감률은?",
     "WITH m AS (SELECT date_trunc('month', sold_at) AS month, sum(qty * price) AS revenue FROM sales GROUP BY 1) "
     "SELECT month, round(revenue, 2) AS revenue, round(100 * (revenue / lag(revenue) OVER (ORDER BY month) - 1), "
     "2) AS change_pct FROM m ORDER BY month"),
    ("Which store has the highest average line value?",
     "SELECT store, round(sum(qty * price) / count(*), 2) AS avg_line_value FROM sales GROUP BY store "
     "ORDER BY avg_line_value DESC, store LIMIT 1"),
]
EXAMPLES = _EXAMPLE_TABLE + "".join(f"\nQ: {q}\n{json.dumps({'sql': sql}, ensure_ascii=False)}\n"
                                    for q, sql in _EXAMPLES)

SQL_SCHEMA = {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"],
              "additionalProperties": False}


@dataclass
class Attempt:
    sql: str
    error: str = ""
    empty: bool = False  # it ran, but returned no rows or only NULLs: a filter's value or a date is likely wrong
    notes: list[str] = field(default_factory=list)  # corrections made before it ran (the shop's measures)


# Hints added to DuckDB's own message when the model sees why its query failed.
_HINTS = {"cannot contain aggregates": "filter on an aggregate with HAVING, or compute it in a CTE first",
          "must appear in the GROUP BY": "group by every selected column that is not aggregated",
          "Referenced column": "use only the columns listed for the table"}


@dataclass
class Answer:
    question: str
    result: Result | None
    attempts: list[Attempt] = field(default_factory=list)
    seconds: float = 0.0
    narrative: Narrative | None = None

    @property
    def sql(self) -> str:
        return self.result.sql if self.result else (self.attempts[-1].sql if self.attempts else "")

    def to_dict(self) -> dict:
        return {"question": self.question, "sql": self.sql, "result": self.result.to_dict() if self.result else None,
                "attempts": [{"sql": a.sql, "error": a.error, "empty": a.empty, "notes": a.notes}
                             for a in self.attempts],
                "narrative": self.narrative.to_dict() if self.narrative else None, "seconds": round(self.seconds, 2)}


def _sql_of(text: str) -> str:
    """The query in the model's reply: the JSON's "sql", else a ```sql block, else the reply itself."""
    try:
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get("sql"), str):
            return value["sql"].strip()
    except json.JSONDecodeError:
        pass
    m = re.search(r"```(?:sql)?\s*(.+?)```", text, re.S)
    return (m.group(1) if m else text).strip()


def _is_empty(result: Result) -> bool:
    return not result.rows or all(v is None for row in result.rows for v in row)


class SqlAsker:
    """Answers questions over `store` with `model` (any ChatModel); `documents`: the passages of the tenant's
    documents the reader may see for a question (e.g. `inhouse.retrieve.lookup`), which narratives may cite."""

    def __init__(self, model, store: TableStore, max_rows: int = 1000, timeout_s: float = 10.0,  # noqa: ANN001
                 repairs: int = 1, documents: Callable[[str], list[Hit]] | None = None) -> None:
        self.model, self.store, self.documents = model, store, documents
        self.max_rows, self.timeout_s, self.repairs = max_rows, timeout_s, repairs

    def _write(self, question: str, schema: str, failed: list[Attempt]) -> str:
        named = self.store.named_values(question)
        values = "".join(f"\n  {t}.{c} = '{v.replace(chr(39), chr(39) * 2)}'" for t, c, v in named)
        task = (f"{EXAMPLES}\nThe tables:\n{schema}\n"
                + (f"\nValues the question names, as the tables hold them:{values}\n" if values else "")
                + f"\nQ: {question}")
        for a in failed:
            if a.empty:
                task += (f"\nThis query ran but returned no rows (or only NULL):\n{a.sql}\nCheck each filter's value "
                         "and date against the tables and the values above; write a corrected query.")
                continue
            hint = next((h for k, h in _HINTS.items() if k in a.error), "")
            task += f"\nThis query failed:\n{a.sql}\nError: {a.error}" + (f" ({hint})" if hint else "") \
                + "\nWrite a corrected query."
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task}]
        schema_arg = SQL_SCHEMA if getattr(self.model, "supports_json_schema", False) else None
        reply = self.model.complete(messages, max_tokens=600, temperature=0.0, json_schema=schema_arg)
        return _sql_of(reply.text)

    def ask(self, question: str, narrate_result: bool = False) -> Answer:
        """The question's query and result; with `narrate_result`, a checked narrative of it too."""
        question = question.strip()
        if not question:
            raise InputError("the question is empty.")
        t0 = time.perf_counter()
        schema = self.store.schema_text()
        if not schema:
            raise InputError("this tenant has no tables; add one with `inhouse analytics add`.")
        answer = Answer(question, None)
        measures = self.store.measures()
        empty: Result | None = None  # an empty result is kept in case no repair does better
        for n in range(1 + self.repairs):
            sql, notes = apply_measures(self._write(question, schema, answer.attempts), question, measures)
            try:
                result = self.store.query(sql, self.max_rows, self.timeout_s)
            except InputError as e:
                answer.attempts.append(Attempt(sql, str(e), notes=notes))
                continue
            if _is_empty(result):
                answer.attempts.append(Attempt(sql, empty=True, notes=notes))
                empty = empty or result
                if n < self.repairs:
                    continue
                result = empty
            else:
                answer.attempts.append(Attempt(sql, notes=notes))
            answer.result = result
            break
        if answer.result is None:
            answer.result = empty
        if narrate_result and answer.result is not None and answer.result.rows:
            found = self.documents(question) if self.documents is not None else []
            answer.narrative = narrate(self.model, question, answer.result, documents=found)
        answer.seconds = time.perf_counter() - t0
        return answer
