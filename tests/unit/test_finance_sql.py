"""What a question's SQL may do: one SELECT over the tenant's tables and allowed functions, a row limit."""

from __future__ import annotations

import pytest

from inhouse.apps.finance.sql import check_sql
from inhouse.errors import InputError

TABLES = {"retail", "returns"}


@pytest.mark.parametrize("sql", [
    "select Country, sum(Quantity*UnitPrice) as revenue from retail group by 1 order by 2 desc",
    "with m as (select date_trunc('month', InvoiceDate) m, sum(Quantity) q from retail group by 1) select * from m",
    "select Country from retail union all select Country from returns",
    "select strftime(InvoiceDate, '%Y-%m') ym, quantile_cont(UnitPrice, 0.5) from Retail group by 1",
    "select r.Country, count(*) from retail r join returns x on r.InvoiceNo = x.InvoiceNo group by 1",
])
def test_queries_over_the_tenants_tables_run_with_a_row_limit(sql):
    checked = check_sql(sql, TABLES, max_rows=100)
    assert checked.endswith("LIMIT 100")


def test_a_smaller_limit_is_kept_and_a_larger_one_capped():
    assert check_sql("select * from retail limit 5", TABLES, 100).endswith("LIMIT 5")
    assert check_sql("select * from retail limit 5000", TABLES, 100).endswith("LIMIT 100")


@pytest.mark.parametrize("sql,message", [
    ("drop table retail", "only queries"),
    ("insert into retail values (1)", "only queries"),
    ("copy retail to '/tmp/x.csv'", "only queries"),
    ("attach '/tmp/x.db' as x", "only queries"),
    ("pragma database_list", "only queries"),
    ("set threads = 1", "only queries"),
    ("select 1; select 2", "one query at a time"),
    ("select * from read_csv('/etc/passwd')", "not allowed"),
    ("select * from retail where x in (select * from read_parquet('/x.parquet'))", "not allowed"),
    ("select * from glob('/*')", "table functions"),
    ("select * from duckdb_settings()", "table functions"),
    ("select getenv('HOME')", "getenv"),
    ("select current_setting('threads')", "current_setting"),
    ("select my_udf(1) from retail", "my_udf"),
    ("select * from orders", "no table 'orders'"),
    ("select * from main.retail", "without a schema"),
    ("select * frm retail", "does not parse"),
    ("select 'abc", "does not parse"),  # an unterminated string: a tokenizer error, not a traceback
    ("select * from pg_settings, (with pg_settings as (select 1) select 1) x", "no table 'pg_settings'"),
    ("select * from retail limit 50 percent", "PERCENT"),
])
def test_everything_else_is_refused_with_the_reason(sql, message):
    with pytest.raises(InputError, match=message):
        check_sql(sql, TABLES)
