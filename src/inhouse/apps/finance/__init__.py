"""Retail and finance analytics over a tenant's own tables: numbers computed by DuckDB, never generated.

Modules: `tables` (a tenant's tables in DuckDB, added from files in one transaction, descriptions, read-only
questions with time and row limits), `sql` (what a question's SQL may do, checked with sqlglot), `ask` (a
question in words → the model's checked query → its result), `narrate` (a narrative of the result, every number
checked against it), `chart` (the result as SVG), `analyses` (period over
period, movers, RFM, pairs, change points).
"""
